"""The quota guard: before a new snapshot, the snapshot project's SNAPSHOTS quota is read
once per tick (slot) and process; at or above QUOTA_GUARD_PERCENT of its limit, new
snapshots in that project are refused (QuotaExhausted: dead-lettered with the reason, an
ERROR line, and the snapshot-quota alert), so the project never runs into the hard limit
unseen, with pruning still able to free room. A quota that cannot be read is logged and
does not block: the insert's own QUOTA_EXCEEDED stays the last line of defence."""

from __future__ import annotations

import threading

from snapkeeper import logs
from snapkeeper.compute import ComputeGateway, Quota
from snapkeeper.errors import ComputeError, QuotaExhausted

# Readings kept per process: (project, slot) pairs; the oldest go first.
MAX_READINGS = 1000

_lock = threading.Lock()
_readings: dict[tuple[str, str], Quota | None] = {}
_key_locks: dict[tuple[str, str], threading.Lock] = {}


def reading(gateway: ComputeGateway, project: str, slot: str) -> Quota | None:
    """The project's SNAPSHOTS quota as read once for this slot."""
    key = (project, slot)
    with _lock:
        if key in _readings:
            return _readings[key]
        # Concurrent deliveries of one project wait for the one read, not for each other's.
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        with _lock:
            if key in _readings:
                return _readings[key]
        try:
            found = gateway.quota(project)
        except ComputeError as exc:
            logs.warning(
                f"quota guard: cannot read the SNAPSHOTS quota of {project}; not guarding: {exc}",
                snapshot_project=project,
                slot=slot,
            )
            found = None
        with _lock:
            if len(_readings) >= MAX_READINGS:
                oldest = next(iter(_readings))
                del _readings[oldest]
                _key_locks.pop(oldest, None)
            _readings[key] = found
        return found


def check(gateway: ComputeGateway, project: str, slot: str, percent: int) -> None:
    """Raise QuotaExhausted when the project holds `percent`% of its SNAPSHOTS quota or
    more (as read for this slot)."""
    quota = reading(gateway, project, slot)
    if quota is None or not quota.at_least(percent):
        return
    raise QuotaExhausted(
        f"quota guard: project {project} holds {quota.usage:.0f} snapshots of its SNAPSHOTS "
        f"quota of {quota.limit:.0f} (at or above QUOTA_GUARD_PERCENT={percent}%), so no new "
        "snapshot is taken there; delete snapshots or raise the quota, then replay this dead "
        "letter"
    )


def forget() -> None:
    """Drop every reading (tests)."""
    with _lock:
        _readings.clear()
        _key_locks.clear()

"""The retention policy as a pure function: managed snapshots in, snapshots to delete out.

Safety first: only READY snapshots count toward N; CREATING/UPLOADING/DELETING ones are
never deleted; FAILED ones are deleted; pinned ones (`snapshot-keep: "true"`) are never
deleted and never counted. So a disk whose new snapshots keep failing keeps its N good
ones. The caller passes only this disk's managed snapshots of this schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

READY = "READY"
FAILED = "FAILED"


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    status: str
    slot: str  # yyyymmdd-hhmm, from the snapkeeper-slot label
    created: datetime | None
    pinned: bool = False


@dataclass(frozen=True)
class RetentionPlan:
    keep: tuple[SnapshotInfo, ...]
    delete: tuple[SnapshotInfo, ...]


def plan_retention(snapshots: Iterable[SnapshotInfo], keep: int) -> RetentionPlan:
    """Keep the newest `keep` READY snapshots; delete older READY ones and FAILED ones."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    kept: list[SnapshotInfo] = []
    delete: list[SnapshotInfo] = []
    ready: list[SnapshotInfo] = []
    for snapshot in snapshots:
        if snapshot.pinned:
            kept.append(snapshot)
        elif snapshot.status == FAILED:
            delete.append(snapshot)
        elif snapshot.status == READY:
            ready.append(snapshot)
        else:
            kept.append(snapshot)  # in flight: never deleted, never counted
    ready.sort(key=_newest_first_key, reverse=True)
    kept.extend(ready[:keep])
    delete.extend(ready[keep:])
    return RetentionPlan(keep=tuple(kept), delete=tuple(delete))


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _newest_first_key(snapshot: SnapshotInfo) -> tuple[datetime, datetime, str]:
    # Parsed times, never timestamp text: the API writes "-07:00" in summer and
    # "-08:00" in winter, so the text of an older time can sort after a newer one.
    return (parse_slot(snapshot.slot) or _OLDEST, snapshot.created or _OLDEST, snapshot.name)


def parse_slot(slot: str) -> datetime | None:
    """The UTC time of a `yyyymmdd-hhmm` slot label; None when it is not one."""
    try:
        return datetime.strptime(slot, "%Y%m%d-%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None

"""The retention policy as a pure function: managed snapshots in, snapshots to delete out.

Safety first: only READY snapshots count toward N; CREATING/UPLOADING/DELETING ones are
never deleted; FAILED ones are deleted; pinned ones (`snapshot-keep: "true"`) are never
deleted and never counted. So a disk whose new snapshots keep failing keeps its N good
ones. The caller passes only this disk's managed snapshots of this schedule, of its own
deployment.

Then, in this order (docs/design.md, "Pruning rules"):
1. N: the newest N READY are kept, older READY ones are candidates.
2. max-age: a kept one older than it becomes a candidate too, except the newest
   `age_floor` (a schedule's min-keep, or MIN_KEEP in a vault).
3. An ARCHIVE snapshot younger than 90 days is never deleted (it is billed for 90 days
   anyway), nor is a `protected` one (the slot's own snapshot).
4. The brake: at most `max_deletes` READY candidates, the oldest first, are deleted in
   one run; the rest are held back for later runs. FAILED ones are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from snapkeeper.options import ARCHIVE_MINIMUM_AGE

READY = "READY"
FAILED = "FAILED"
ARCHIVE = "ARCHIVE"
STANDARD = "STANDARD"


@dataclass(frozen=True)
class SnapshotInfo:
    name: str
    status: str
    slot: str  # yyyymmdd-hhmm, from the snapkeeper-slot label
    created: datetime | None
    pinned: bool = False
    snapshot_type: str = STANDARD


@dataclass(frozen=True)
class Rules:
    """How one disk and schedule is pruned beyond its N."""

    max_age: timedelta | None = None
    age_floor: int = 1  # max-age never leaves fewer READY snapshots than this (0: none)
    max_deletes: int | None = None  # the brake on READY deletions per run; None: none
    now: datetime | None = None  # ages count to this; unknown ages are never "old"
    protected: frozenset[str] = frozenset()  # never deleted, still counted


@dataclass(frozen=True)
class RetentionPlan:
    keep: tuple[SnapshotInfo, ...]  # everything not deleted now, held back ones too
    delete: tuple[SnapshotInfo, ...]
    held_back: tuple[SnapshotInfo, ...] = ()  # due for deletion, left for later by the brake


def plan_retention(
    snapshots: Iterable[SnapshotInfo], keep: int, rules: Rules | None = None
) -> RetentionPlan:
    """Keep the newest `keep` READY snapshots within `rules`; delete older READY ones
    and FAILED ones."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    rules = rules or Rules()
    kept: list[SnapshotInfo] = []
    failed: list[SnapshotInfo] = []
    ready: list[SnapshotInfo] = []
    for snapshot in snapshots:
        if snapshot.pinned:
            kept.append(snapshot)
        elif snapshot.status == FAILED:
            failed.append(snapshot)
        elif snapshot.status == READY:
            ready.append(snapshot)
        else:
            kept.append(snapshot)  # in flight: never deleted, never counted
    ready.sort(key=_newest_first_key, reverse=True)
    wanted, due = ready[:keep], ready[keep:]
    if rules.max_age is not None:
        floor = max(rules.age_floor, 0)  # 0 only for orphans: a live disk passes >= 1
        expired = [s for s in wanted[floor:] if _older_than(s, rules.max_age, rules.now)]
        wanted = [s for s in wanted if s not in expired]
        due += expired
    spared = [s for s in due if s.name in rules.protected or _young_archive(s, rules.now)]
    due = [s for s in due if s not in spared]
    due.sort(key=_newest_first_key)  # the brake lets the oldest go first
    limit = len(due) if rules.max_deletes is None else max(rules.max_deletes, 0)
    held_back = due[limit:]
    kept += wanted + spared + held_back
    return RetentionPlan(
        keep=tuple(kept), delete=tuple(failed + due[:limit]), held_back=tuple(held_back)
    )


_OLDEST = datetime.min.replace(tzinfo=UTC)


def _newest_first_key(snapshot: SnapshotInfo) -> tuple[datetime, datetime, str]:
    # Parsed times, never timestamp text: the API writes "-07:00" in summer and
    # "-08:00" in winter, so the text of an older time can sort after a newer one.
    return (parse_slot(snapshot.slot) or _OLDEST, snapshot.created or _OLDEST, snapshot.name)


def age(snapshot: SnapshotInfo, now: datetime | None) -> timedelta | None:
    """How old a snapshot is at `now`: by its creation time, else its slot; None when
    either side is unknown."""
    taken = snapshot.created or parse_slot(snapshot.slot)
    return None if now is None or taken is None else now - taken


def _older_than(snapshot: SnapshotInfo, limit: timedelta, now: datetime | None) -> bool:
    found = age(snapshot, now)
    return found is not None and found > limit


def _young_archive(snapshot: SnapshotInfo, now: datetime | None) -> bool:
    # An unknown age counts as young: deleting early costs the rest of the 90 days.
    found = age(snapshot, now)
    return snapshot.snapshot_type == ARCHIVE and (found is None or found < ARCHIVE_MINIMUM_AGE)


def parse_slot(slot: str) -> datetime | None:
    """The UTC time of a `yyyymmdd-hhmm` slot label; None when it is not one."""
    try:
        return datetime.strptime(slot, "%Y%m%d-%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None

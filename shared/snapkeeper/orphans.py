"""Orphans: this deployment's managed snapshots whose disk no longer exists (its id is
not among its project's disks), and what ORPHAN_POLICY does with them.

The enumerator finds them once per tick and project, from the disk listing it makes
anyway (unfiltered while the policy acts) and one list of the schedule's managed
snapshots; for every deleted disk whose snapshots the policy would prune now, it
publishes an orphan work message. The snapshot function carries it out through the same
path as a snapshot's pruning: the disk read again (a disk that is back is left alone),
its managed snapshots listed and checked label by label, `retention.plan_retention`
with pins, the ARCHIVE 90-day rule, the vault's floor and the brake.

- keep (default): never touched; no extra call at all.
- keep-newest: as while the disk lived: the newest N (the `snapkeeper-keep` label of
  its newest snapshot; without one, all it holds), the schedule's max-age and min-keep.
- max-age:<age>: READY snapshots older than the age are deleted (in a vault the newest
  MIN_KEEP stay).

Ages count to the tick's slot: never later than the tick, so never overstated.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from snapkeeper import labels
from snapkeeper.compute import ComputeGateway, Snapshot, parse_disk_path
from snapkeeper.config import Config
from snapkeeper.hierarchy import Scope
from snapkeeper.messages import DiskRef, OrphanWork
from snapkeeper.options import ORPHAN_KEEP_NEWEST, OrphanPolicy, ScheduleOptions
from snapkeeper.retention import READY, RetentionPlan, Rules, parse_slot, plan_retention
from snapkeeper.snapshotter import Action, SnapshotResult, held_ready, prune_snapshots, to_info


@dataclass(frozen=True)
class Orphans(DiskRef):
    """The managed snapshots of one deleted disk and one schedule."""

    schedule: str
    snapshots: tuple[Snapshot, ...]

    @property
    def storage_bytes(self) -> int:
        return sum(s.storage_bytes for s in self.snapshots)

    @property
    def ready(self) -> int:
        return sum(1 for s in self.snapshots if s.status == READY)

    @property
    def newest(self) -> datetime | None:
        return max(_taken(self.snapshots), default=None)

    @property
    def oldest(self) -> datetime | None:
        return min(_taken(self.snapshots), default=None)

    def summary(self, now: datetime) -> dict[str, Any]:
        """What `status` and `plan` show of it."""
        newest, oldest = self.newest, self.oldest
        return {
            "project": self.project,
            "location": self.location,
            "disk": self.disk,
            "disk_id": self.disk_id,
            "schedule": self.schedule,
            "snapshots": len(self.snapshots),
            "ready": self.ready,
            "storage_bytes": self.storage_bytes,
            "newest": newest,
            "oldest": oldest,
            "newest_age_seconds": (now - newest).total_seconds() if newest else None,
            "oldest_age_seconds": (now - oldest).total_seconds() if oldest else None,
        }

    def message(self, slot: str, options: ScheduleOptions) -> OrphanWork:
        return OrphanWork(
            **self.disk_ref, schedule=self.schedule, slot=slot, options=options.to_mapping()
        )


def _taken(snapshots: Iterable[Snapshot]) -> list[datetime]:
    return [t for s in snapshots if (t := s.created or parse_slot(s.slot)) is not None]


def find(
    snapshots: Iterable[Snapshot], disk_ids: Collection[str], project: str, deployment: str
) -> list[Orphans]:
    """The orphans of `project` among `snapshots` (a project's or a vault's): managed by
    `deployment`, taken of a disk of `project` whose id is not in `disk_ids` (every disk
    of the project, as one complete listing found them)."""
    groups: dict[tuple[str, str], list[Snapshot]] = {}
    where: dict[tuple[str, str], tuple[str, str, bool, str]] = {}
    for snapshot in snapshots:
        tags = snapshot.labels
        if tags.get(labels.MANAGED_BY) != labels.MANAGED_BY_VALUE:
            continue
        if labels.deployment_of(tags) != deployment:
            continue
        disk_id, schedule = tags.get(labels.DISK_ID, ""), tags.get(labels.SCHEDULE, "")
        source = parse_disk_path(snapshot.source_disk)
        if not disk_id or not schedule or disk_id in disk_ids or source is None:
            continue
        if source[0] != project:  # a vault holds every project's: this one's only
            continue
        groups.setdefault((disk_id, schedule), []).append(snapshot)
        where[(disk_id, schedule)] = source
    found = []
    for (disk_id, schedule), members in sorted(groups.items()):
        _, location, regional, name = where[(disk_id, schedule)]
        found.append(Orphans(project, location, regional, name, disk_id, schedule, tuple(members)))
    return found


def plan(
    snapshots: Iterable[Snapshot],
    policy: OrphanPolicy,
    config: Config,
    options: ScheduleOptions,
    now: datetime | None,
) -> RetentionPlan:
    """What `policy` deletes of one deleted disk's snapshots of a schedule (pure)."""
    infos = [to_info(s, config.label_prefix) for s in snapshots]
    if not policy.acts:
        return RetentionPlan(keep=tuple(infos), delete=())
    ready = sum(1 for i in infos if i.status == READY and not i.pinned)
    if policy.mode == ORPHAN_KEEP_NEWEST:
        keep = max(_recorded_keep(snapshots) or ready, config.keep_floor, 1)
        rules = Rules(
            max_age=options.max_age,
            age_floor=max(options.age_floor, config.keep_floor),
            max_deletes=config.max_deletes_per_run,
            now=now,
        )
    else:  # max-age:<age>: the count no longer matters, the age does
        keep = max(ready, 1)
        rules = Rules(
            max_age=policy.max_age,
            age_floor=config.min_keep if config.snapshot_project else 0,
            max_deletes=config.max_deletes_per_run,
            now=now,
        )
    return plan_retention(infos, keep, rules)


def _recorded_keep(snapshots: Iterable[Snapshot]) -> int | None:
    """The N the disk's newest snapshot recorded (`snapkeeper-keep`), if any did."""
    recorded = [s for s in snapshots if labels.recorded_keep(s.labels) is not None]
    if not recorded:
        return None
    newest = max(recorded, key=lambda s: (parse_slot(s.slot) or _OLDEST, s.created or _OLDEST))
    return labels.recorded_keep(newest.labels)


_OLDEST = datetime.min.replace(tzinfo=UTC)


def prune_orphans(work: OrphanWork, config: Config, gateway: ComputeGateway) -> SnapshotResult:
    """Carry out an orphan message: verify that the disk is still gone, then prune its
    managed snapshots of the schedule by ORPHAN_POLICY (as it is set now)."""
    Scope(config).require(work.project)
    target = config.snapshot_project or work.project
    policy = config.orphan_policy
    if not policy.acts:
        why = "ORPHAN_POLICY is keep: orphans are never pruned"
        return SnapshotResult(Action.SKIPPED, "", target, "", (), 0, reason=why)
    disk = gateway.get_disk(work.project, work.location, work.regional, work.disk)
    if disk is not None and disk.id == work.disk_id:
        why = f"disk {work.disk_path} exists (id {work.disk_id}): not an orphan"
        return SnapshotResult(Action.SKIPPED, "", target, "", (), 0, reason=why)
    existing = gateway.managed_snapshots(target, work.disk_id, work.schedule, config.deployment_id)
    retention = plan(existing, policy, config, work.schedule_options, parse_slot(work.slot))
    deleted, deferred = prune_snapshots(gateway, target, retention)
    return SnapshotResult(
        Action.ORPHANS,
        "",
        target,
        "",
        deleted,
        held_ready(retention),
        held_back=tuple(s.name for s in retention.held_back),
        reason=f"disk {work.disk_path} (id {work.disk_id}) is gone; ORPHAN_POLICY={policy}",
        deferred=deferred,
    )

"""The snapshot step for one work item: create this slot's snapshot, prune to N.

Compute calls in steady state: one list, one insert, and one delete per snapshot that
falls out of retention (usually one): three per disk and tick.
"""

from __future__ import annotations

from dataclasses import dataclass

from snapkeeper import labels
from snapkeeper.compute import ComputeGateway, Snapshot
from snapkeeper.config import Config
from snapkeeper.errors import ComputeError, NotAllowed, Outcome
from snapkeeper.messages import WorkItem
from snapkeeper.naming import SnapshotKey, request_id, snapshot_name
from snapkeeper.retention import RetentionPlan, SnapshotInfo, plan_retention

CREATED = "created"
EXISTS = "exists"
GONE = "gone"


@dataclass(frozen=True)
class SnapshotResult:
    action: str  # created | exists | gone
    snapshot: str
    snapshot_project: str
    deleted: tuple[str, ...]
    kept_ready: int


def snapshot_key(work: WorkItem) -> SnapshotKey:
    return SnapshotKey(
        project=work.project,
        location=work.location,
        disk_id=work.disk_id,
        disk_name=work.disk,
        schedule=work.schedule,
        slot=work.slot,
    )


def to_info(snapshot: Snapshot, prefix: str) -> SnapshotInfo:
    return SnapshotInfo(
        name=snapshot.name,
        status=snapshot.status,
        slot=snapshot.slot,
        created=snapshot.created,
        pinned=labels.is_true(snapshot.labels.get(labels.ControlLabels(prefix).keep)),
    )


@dataclass(frozen=True)
class SnapshotPlan:
    """What the snapshot step will do for one work item, given the disk's managed
    snapshots of the schedule as they are before the insert."""

    name: str
    exists: bool
    retention: RetentionPlan


def plan_snapshot(work: WorkItem, existing: list[Snapshot], prefix: str) -> SnapshotPlan:
    """Pure: shared by the snapshot function and `snapkeeper plan`."""
    name = snapshot_name(snapshot_key(work))
    return SnapshotPlan(
        name=name,
        exists=name in {s.name for s in existing},
        retention=plan_retention((to_info(s, prefix) for s in existing), work.keep),
    )


def take_snapshot(work: WorkItem, config: Config, gateway: ComputeGateway) -> SnapshotResult:
    """Create the slot's snapshot unless it exists, then prune. Raises ComputeError
    (with its outcome), or NotAllowed for a project outside the allow-list."""
    if not config.allows(work.project):
        raise NotAllowed(f"project {work.project} is not in TARGET_PROJECTS")
    target = config.snapshot_project or work.project
    existing = gateway.managed_snapshots(target, work.disk_id, work.schedule)
    plan = plan_snapshot(work, existing, config.label_prefix)
    name = plan.name
    action = EXISTS
    if not plan.exists:
        try:
            gateway.insert_snapshot(
                target,
                name=name,
                source_disk=work.disk_path,
                labels=labels.snapshot_labels(
                    work.disk_labels, work.disk_id, work.schedule, work.slot, config.label_prefix
                ),
                request_id=request_id(snapshot_key(work)),
                storage_location=work.storage_location,
                guest_flush=work.guest_flush,
                description=f"snapkeeper {work.schedule} snapshot of {work.disk_path}",
            )
            action = CREATED
        except ComputeError as exc:
            if exc.outcome is Outcome.DONE:
                action = EXISTS  # 409: a duplicate delivery created it already
            elif exc.outcome is Outcome.GONE:
                action = GONE
            else:
                raise
    if action == GONE and not config.prune_orphans:
        # The disk is gone: its snapshots are kept (like KEEP_AUTO_SNAPSHOTS).
        return SnapshotResult(GONE, name, target, (), _ready(existing))
    deleted = []
    for victim in plan.retention.delete:
        gateway.delete_snapshot(target, victim.name)
        deleted.append(victim.name)
    kept = plan.retention.keep
    kept_ready = sum(1 for s in kept if s.status == "READY" and not s.pinned)
    return SnapshotResult(action, name, target, tuple(deleted), kept_ready)


def _ready(snapshots: list[Snapshot]) -> int:
    return sum(1 for s in snapshots if s.status == "READY")

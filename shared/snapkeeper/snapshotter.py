"""The snapshot step for one work item: make this slot's snapshot, follow it until it
is READY, then prune the disk's managed snapshots of the schedule to exactly N.

Done means READY: the step returns only once the slot's snapshot reads back READY (or
the disk is gone). Otherwise it raises, and the error table decides between
redelivery and a dead letter. Nothing is deleted on an attempt whose snapshot is not
READY, so a disk whose new snapshots keep failing still holds its N good ones.

Compute calls in steady state: one list, one insert, one operation wait or more (each
answers within about two minutes), one read back, and one delete per snapshot that
falls out of retention (usually one).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from snapkeeper import labels
from snapkeeper.compute import IN_FLIGHT, ComputeGateway, Snapshot
from snapkeeper.config import Config
from snapkeeper.errors import (
    ComputeError,
    NameCollision,
    NotAllowed,
    Outcome,
    SnapshotFailed,
    SnapshotInProgress,
)
from snapkeeper.messages import WorkItem
from snapkeeper.naming import SnapshotKey, request_id, snapshot_name
from snapkeeper.retention import FAILED, READY, RetentionPlan, SnapshotInfo, plan_retention


class Action(enum.StrEnum):
    """How a work message ended well (the `action` field of its log line)."""

    CREATED = "created"  # inserted now, and READY
    EXISTS = "exists"  # found READY under its name (a redelivery, or our own 409)
    GONE = "gone"  # the disk was deleted since enumeration


@dataclass(frozen=True)
class SnapshotResult:
    action: Action
    snapshot: str
    snapshot_project: str
    status: str  # READY, except for "gone"
    deleted: tuple[str, ...]
    held: int  # READY managed snapshots of this disk and schedule after pruning (pins aside)


def snapshot_key(work: WorkItem) -> SnapshotKey:
    w = work
    return SnapshotKey(w.project, w.location, w.disk_id, w.disk, w.schedule, w.slot)


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
    retention: RetentionPlan  # once the slot's snapshot is READY


def plan_snapshot(work: WorkItem, existing: list[Snapshot], prefix: str) -> SnapshotPlan:
    """Pure: shared by the snapshot function and `snapkeeper plan`. The retention plan
    counts the slot's snapshot as READY (pruning waits until it is) and never deletes
    it; only snapshots whose labels say they are this disk's and schedule's count."""
    name = snapshot_name(snapshot_key(work))
    ours = [s for s in existing if s.is_managed(work.disk_id, work.schedule)]
    infos = [to_info(s, prefix) for s in ours if s.name != name]
    slot = next((s for s in ours if s.name == name), None)
    infos.append(SnapshotInfo(name, READY, work.slot, slot.created if slot else None, pinned=False))
    retention = plan_retention(infos, work.keep)
    protected = tuple(s for s in retention.delete if s.name == name)  # a late catch-up slot
    retention = RetentionPlan(
        keep=retention.keep + protected,
        delete=tuple(s for s in retention.delete if s.name != name),
    )
    return SnapshotPlan(name=name, exists=slot is not None, retention=retention)


def take_snapshot(
    work: WorkItem, config: Config, gateway: ComputeGateway, deadline: float | None = None
) -> SnapshotResult:
    """Make the slot's snapshot READY, then prune. `deadline` (monotonic seconds) bounds
    the wait; by default READY_WAIT_SECONDS from now. Raises ComputeError (with its
    outcome), SnapshotInProgress, SnapshotFailed, NameCollision or NotAllowed."""
    if not config.allows(work.project):
        raise NotAllowed(f"project {work.project} is not in TARGET_PROJECTS")
    if deadline is None:
        deadline = time.monotonic() + config.ready_wait_seconds
    target = config.snapshot_project or work.project
    existing = gateway.managed_snapshots(target, work.disk_id, work.schedule)
    plan = plan_snapshot(work, existing, config.label_prefix)
    name = plan.name
    current = next((s for s in existing if s.name == name), None)
    action = Action.EXISTS
    if current is None or current.status == FAILED:
        try:
            _create(work, config, gateway, target, name, current, deadline)
            action = Action.CREATED
        except ComputeError as exc:
            if exc.outcome is Outcome.GONE:
                if not config.prune_orphans:
                    # The disk is gone: its snapshots are kept (like KEEP_AUTO_SNAPSHOTS).
                    return SnapshotResult(Action.GONE, name, target, "", (), _ready(existing))
                return _prune_orphan(work, config, gateway, target, existing, name)
            if exc.status != 409:
                raise
            _check_ours(work, gateway, target, name)  # a duplicate delivery made it
    snapshot = gateway.wait_for_snapshot(target, name, deadline)
    if snapshot is None:
        raise SnapshotFailed(f"snapshot {name} disappeared before it was READY")
    if snapshot.status in IN_FLIGHT:
        raise SnapshotInProgress(
            f"snapshot {name} in {target} is still {snapshot.status} after the wait bound; "
            "a later delivery follows it (no second insert)"
        )
    if snapshot.status != READY:
        raise SnapshotFailed(
            f"snapshot {name} in {target} ended {snapshot.status}; "
            "the next delivery deletes it and takes it again"
        )
    deleted = _prune(gateway, target, plan.retention)
    held = sum(1 for s in plan.retention.keep if s.status == READY and not s.pinned)
    return SnapshotResult(action, name, target, READY, deleted, held)


def _create(
    work: WorkItem,
    config: Config,
    gateway: ComputeGateway,
    target: str,
    name: str,
    failed: Snapshot | None,
    deadline: float,
) -> None:
    """Insert the slot's snapshot (after deleting a FAILED one under our name, with a
    fresh requestId) and follow its operation until DONE or the deadline."""
    key = snapshot_key(work)
    retake_of = None
    if failed is not None:
        gateway.delete_snapshot(target, name)
        retake_of = failed.id or failed.name
    operation = gateway.insert_snapshot(
        target,
        name=name,
        source_disk=work.disk_path,
        labels=labels.snapshot_labels(
            work.disk_labels, work.disk_id, work.schedule, work.slot, config.label_prefix
        ),
        request_id=request_id(key, retake_of),
        storage_location=work.storage_location,
        guest_flush=work.guest_flush,
        description=f"snapkeeper {work.schedule} snapshot of {work.disk_path}",
    )
    gateway.follow_operation(target, operation, deadline)


def _check_ours(work: WorkItem, gateway: ComputeGateway, target: str, name: str) -> None:
    """A 409 is done only if the snapshot under our name is this disk's, of this slot."""
    found = gateway.get_snapshot(target, name)
    if found is None:
        raise SnapshotFailed(f"snapshot {name} answered 409 but cannot be read back")
    if not (found.is_managed(work.disk_id, work.schedule) and found.slot == work.slot):
        raise NameCollision(
            f"a snapshot named {name} already exists in {target} and is not this disk's "
            f"(disk id {work.disk_id}, slot {work.slot}): its labels are "
            f"{dict(found.labels)}; rename or delete it"
        )


def _prune(gateway: ComputeGateway, target: str, retention: RetentionPlan) -> tuple[str, ...]:
    deleted = []
    for victim in retention.delete:
        if victim.status in IN_FLIGHT or victim.pinned:  # never, whatever the plan says
            continue
        gateway.delete_snapshot(target, victim.name)
        deleted.append(victim.name)
    return tuple(deleted)


def _prune_orphan(
    work: WorkItem,
    config: Config,
    gateway: ComputeGateway,
    target: str,
    existing: list[Snapshot],
    name: str,
) -> SnapshotResult:
    """PRUNE_ORPHANS: the disk is gone; keep its newest N READY snapshots."""
    infos = [to_info(s, config.label_prefix) for s in existing]
    retention = plan_retention(infos, work.keep)
    deleted = _prune(gateway, target, retention)
    held = sum(1 for s in retention.keep if s.status == READY and not s.pinned)
    return SnapshotResult(Action.GONE, name, target, "", deleted, held)


def _ready(snapshots: list[Snapshot]) -> int:
    return sum(1 for s in snapshots if s.status == READY)

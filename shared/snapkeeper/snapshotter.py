"""The snapshot step for one work item: make this slot's snapshot, follow it until it is
READY, then prune the disk's managed snapshots of the schedule (this deployment's) to N,
within the rules of `retention`.

Done means READY: the step returns only once the slot's snapshot reads back READY (or
the disk is gone, or no longer takes part in the schedule). Otherwise it raises, and the
error table decides between redelivery and a dead letter. Nothing is deleted on an
attempt whose snapshot is not READY, so a disk whose new snapshots keep failing still
holds its N good ones.

A fresh first delivery (`labels_fresh`: not a replay, and the enumerator's labels are
still the tick's, i.e. read before the schedule's next fire, or at most
FRESH_LABELS_SECONDS ago) takes N and the other labels from the message: it inserts at
once (a disk deleted since answers the insert with a 404 naming it: "gone"; our own
snapshot already there answers 409, or the repeated requestId its first operation),
follows the operation, then lists the disk's managed snapshots of the schedule once:
that list is both the new snapshot's READY read-back and pruning's input (a snapshot
whose sourceDiskId is not the message's disk was taken of a disk made again under the
same name: deleted, and "gone"). Any other delivery (a redelivery; a replayed dead
letter; a message re-queued or delivered after its labels' time; a message without
`labels_read_at`) lists first, reads the disk's labels as they are now (its
instance's when the disk has none of its own) and takes N from them, never from the
message: an old message cannot prune to an old N.

Compute calls in steady state, fresh: one insert, one operation wait or more (each
answers within about two minutes), one list, and one delete per snapshot that falls out
of retention (usually one): 3 plus the waits. Not fresh: one list and one disk read
(plus one instance read when the schedule's label is on the instance) before the
insert, and the new snapshot read back by name: 5 plus the waits.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from snapkeeper import labels, quotaguard, slots
from snapkeeper.compute import IN_FLIGHT, ComputeGateway, Disk, Snapshot
from snapkeeper.config import Config
from snapkeeper.errors import (
    ComputeError,
    NameCollision,
    Outcome,
    RateLimited,
    SnapshotFailed,
    SnapshotInProgress,
)
from snapkeeper.hierarchy import Scope
from snapkeeper.messages import WorkItem
from snapkeeper.naming import SnapshotKey, request_id, snapshot_name, unused_request_id
from snapkeeper.retention import (
    FAILED,
    READY,
    STANDARD,
    RetentionPlan,
    Rules,
    SnapshotInfo,
    plan_retention,
)

# How long the labels an enumerator read stay the disk's for a first delivery: a tick's
# messages are normally all delivered within it, and a label changed later counts from
# the next tick on, as it would have a few minutes earlier.
FRESH_LABELS_SECONDS = 600.0
# A labels_read_at this far in the future still counts (clocks of two machines).
CLOCK_SKEW_SECONDS = 60.0


class Action(enum.StrEnum):
    """How a work message ended well (the `action` field of its log line)."""

    CREATED = "created"  # inserted now, and READY
    EXISTS = "exists"  # found READY under its name (a redelivery, or our own 409)
    GONE = "gone"  # the disk was deleted since enumeration
    SKIPPED = "skipped"  # the disk no longer takes part in the schedule: nothing done
    ORPHANS = "orphans"  # a deleted disk's snapshots pruned by ORPHAN_POLICY


@dataclass(frozen=True)
class SnapshotResult:
    action: Action
    snapshot: str
    snapshot_project: str
    status: str  # READY, except for "gone" and "skipped"
    deleted: tuple[str, ...]
    held: int  # READY managed snapshots of this disk and schedule after pruning (pins aside)
    wanted: int = 0  # the N pruning kept to (the vault's floor applied); 0: not pruned
    held_back: tuple[str, ...] = ()  # due for deletion, left for later runs by the brake
    reason: str = ""  # why nothing was made or pruned ("gone", "skipped")
    deferred: tuple[str, ...] = ()  # due for deletion, left for later runs by the rate quota


def snapshot_key(work: WorkItem, deployment: str = labels.DEFAULT_DEPLOYMENT) -> SnapshotKey:
    w = work
    return SnapshotKey(w.project, w.location, w.disk_id, w.disk, w.schedule, w.slot, deployment)


def to_info(snapshot: Snapshot, prefix: str) -> SnapshotInfo:
    return SnapshotInfo(
        name=snapshot.name,
        status=snapshot.status,
        slot=snapshot.slot,
        created=snapshot.created,
        pinned=labels.is_pinned(snapshot.labels, prefix),
        snapshot_type=snapshot.snapshot_type,
    )


@dataclass(frozen=True)
class SnapshotPlan:
    """What the snapshot step will do for one work item, given the disk's managed
    snapshots of the schedule as they are before the insert."""

    name: str
    exists: bool
    retention: RetentionPlan  # once the slot's snapshot is READY
    wanted: int  # N, with the vault's floor


def retention_rules(
    work: WorkItem, config: Config, now: datetime | None, protected: frozenset[str]
) -> Rules:
    """The schedule's options and the deployment's floor and brake, as retention rules."""
    options = work.schedule_options
    return Rules(
        max_age=options.max_age,
        age_floor=max(options.age_floor, config.keep_floor),
        max_deletes=config.max_deletes_per_run,
        now=now,
        protected=protected,
    )


def plan_snapshot(
    work: WorkItem,
    existing: list[Snapshot],
    config: Config,
    *,
    keep: int | None = None,
    now: datetime | None = None,
) -> SnapshotPlan:
    """Pure: shared by the snapshot function and `snapkeeper plan`. The retention plan
    counts the slot's snapshot as READY (pruning waits until it is) and never deletes
    it; only snapshots whose labels say they are this disk's, schedule's and
    deployment's count. `keep` is the disk's N (default: the message's); ages are
    measured to `now` (default: the slot's snapshot's creation, else the slot)."""
    deployment = config.deployment_id
    name = snapshot_name(snapshot_key(work, deployment))
    ours = [s for s in existing if s.is_managed(work.disk_id, work.schedule, deployment)]
    infos = [to_info(s, config.label_prefix) for s in ours if s.name != name]
    slot = next((s for s in ours if s.name == name), None)
    own_type = slot.snapshot_type if slot else work.schedule_options.snapshot_type or STANDARD
    created = slot.created if slot else None
    infos.append(SnapshotInfo(name, READY, work.slot, created, snapshot_type=own_type))
    wanted = max(keep or work.keep, config.keep_floor)
    reference = now or created or slots.parse_slot(work.slot)
    rules = retention_rules(work, config, reference, frozenset({name}))
    return SnapshotPlan(name, slot is not None, plan_retention(infos, wanted, rules), wanted)


def current_policy(
    work: WorkItem, config: Config, gateway: ComputeGateway
) -> labels.DiskPolicy | labels.Skip | None:
    """The disk's policy for the schedule as its labels say now (the instance's labels
    when the disk has no label of the schedule itself). Raises a ComputeError with
    outcome GONE when the disk is gone (or its name now belongs to another disk)."""
    disk = gateway.get_disk(work.project, work.location, work.regional, work.disk)
    if disk is None or disk.id != work.disk_id:
        raise ComputeError(
            f"disk {work.disk_path} (id {work.disk_id}) is gone",
            outcome=Outcome.GONE,
            status=404,
            reason="notFound",
        )
    key = labels.ControlLabels(config.label_prefix).schedule(work.schedule)
    attached = {} if key in disk.labels else _instance_labels(disk, gateway)
    return labels.resolve_policy(work.schedule, disk.labels, attached, config.label_prefix)


def _instance_labels(disk: Disk, gateway: ComputeGateway) -> dict[str, dict[str, str]]:
    found = {}
    for url in disk.users:
        instance = gateway.instance_labels(url)
        if instance is not None:
            found[url.rsplit("/", 1)[-1]] = dict(instance)
    return found


def labels_fresh_until(
    read_at: datetime, slot: datetime, cron: str | None, time_zone: str | None
) -> datetime:
    """Until when labels read at `read_at` for `slot` stand for the disk's (the work
    message's `labels_fresh_until`): the schedule's next fire after the slot, never
    sooner than FRESH_LABELS_SECONDS after the read (a caught-up or late slot, a tick
    without a cron) nor later than one period after it (a slot in the future)."""
    soonest = read_at + timedelta(seconds=FRESH_LABELS_SECONDS)
    if not cron:
        return soonest
    following = slots.next_fire(cron, time_zone or "Etc/UTC", slot)
    return max(soonest, min(following, read_at + (following - slot)))


def labels_fresh(
    work: WorkItem, attempt: int | None, *, replayed: bool = False, now: datetime | None = None
) -> bool:
    """Whether the snapshot step may take the message's labels (N among them) as the
    disk's: on its first delivery, not a replayed dead letter, read by the enumerator
    no longer ago than `labels_fresh_until` allows (FRESH_LABELS_SECONDS for a message
    without it). Anything else reads the disk again, so an old message never prunes to
    an old N. So does a delivery that does not say its attempt (a subscription without
    a dead-letter policy, the emulator's push): it may be a redelivery, which should
    find its snapshot by listing, not by inserting again."""
    if work.labels_read_at is None or attempt != 1 or replayed:
        return False
    read = slots.parse_time(work.labels_read_at)
    if work.labels_fresh_until is None:
        until = read + timedelta(seconds=FRESH_LABELS_SECONDS)
    else:
        until = slots.parse_time(work.labels_fresh_until)
    now = now or datetime.now(UTC)
    return read - timedelta(seconds=CLOCK_SKEW_SECONDS) <= now <= until


def take_snapshot(
    work: WorkItem,
    config: Config,
    gateway: ComputeGateway,
    deadline: float | None = None,
    *,
    fresh: bool = False,
) -> SnapshotResult:
    """Make the slot's snapshot READY, then prune. `deadline` (monotonic seconds) bounds
    the wait; by default READY_WAIT_SECONDS from now. `fresh` (labels_fresh): the
    message's labels are the disk's, so the disk is not read and the insert comes first.
    Raises ComputeError (with its outcome), SnapshotInProgress, SnapshotFailed,
    NameCollision or NotAllowed."""
    Scope(config).require(work.project)
    if deadline is None:
        deadline = time.monotonic() + config.ready_wait_seconds
    target = config.snapshot_project or work.project
    name = snapshot_name(snapshot_key(work, config.deployment_id))
    existing: list[Snapshot] | None = None
    current = None
    if not fresh:
        # Whether the slot's snapshot is there already (a redelivery follows or retakes
        # it, and takes no write turn), and N as the disk's labels say now.
        existing = _managed(work, config, gateway, target)
        try:
            policy = current_policy(work, config, gateway)
        except ComputeError as exc:
            if exc.outcome is not Outcome.GONE:
                raise
            return _gone(work, config, gateway, target, existing, name)
        if not isinstance(policy, labels.DiskPolicy):
            key = labels.ControlLabels(config.label_prefix).schedule(work.schedule)
            why = policy.reason if policy else f"the disk no longer carries {key}"
            return SnapshotResult(
                Action.SKIPPED, name, target, "", (), _ready(existing), reason=why
            )
        work = dataclasses.replace(work, keep=policy.keep)  # the N the new snapshot records
        current = next((s for s in existing if s.name == name), None)
    action = Action.EXISTS
    if current is None or current.status == FAILED:
        # The insert's turn under the write quota: only a delivery that writes takes one
        # (a redelivery that finds the snapshot made or in progress reads only).
        gateway.pace(target)
        quotaguard.check(gateway, target, work.slot, config.quota_guard_percent)
        try:
            _create(work, config, gateway, target, name, current, deadline)
            action = Action.CREATED
            if existing is not None:  # listed before: the new one is read back by name
                existing = [s for s in existing if s.name != name]
        except ComputeError as exc:
            if exc.outcome is Outcome.GONE and work.disk_path in str(exc):
                # The insert's 404 names its source disk: deleted since it was read.
                return _gone(work, config, gateway, target, None, name)
            if exc.outcome is Outcome.GONE:
                # Something else is missing (the snapshot project, a key): no retry mends
                # it, and the disk is not gone: a dead letter that says what.
                raise ComputeError(
                    f"{exc} (the insert's 404 does not name disk {work.disk_path})",
                    outcome=Outcome.PERMANENT,
                    status=exc.status,
                    reason=exc.reason,
                ) from exc
            if exc.status != 409:
                raise
            # The name is taken: a duplicate delivery made it (checked below), or not ours.
            existing = None
    if existing is None:
        # Fresh: one list after the insert, the new snapshot's READY read-back and
        # pruning's input at once.
        existing = _managed(work, config, gateway, target)
    snapshot = next((s for s in existing if s.name == name), None)
    if snapshot is None and action is Action.EXISTS:
        snapshot = _check_ours(work, config, gateway, target, name)  # a 409, not listed
    if snapshot is None or snapshot.status in IN_FLIGHT:
        snapshot = gateway.wait_for_snapshot(target, name, deadline)
    snapshot = _require_ready(snapshot, name, target)
    existing = [s for s in existing if s.name != name] + [snapshot]  # as just read
    if action is Action.EXISTS:
        _require_ours(work, config, snapshot, target, name)
    if _replaced(work, snapshot):
        return _gone(work, config, gateway, target, existing, name)
    # Ages count to the server's own clock: this snapshot's creation, never later than now.
    plan = plan_snapshot(work, existing, config, keep=work.keep, now=snapshot.created)
    deleted, deferred = prune_snapshots(gateway, target, plan.retention)
    return SnapshotResult(
        action,
        name,
        target,
        READY,
        deleted,
        held_ready(plan.retention),
        wanted=plan.wanted,
        held_back=tuple(s.name for s in plan.retention.held_back),
        deferred=deferred,
    )


def _managed(
    work: WorkItem, config: Config, gateway: ComputeGateway, target: str
) -> list[Snapshot]:
    return gateway.managed_snapshots(target, work.disk_id, work.schedule, config.deployment_id)


def _require_ready(snapshot: Snapshot | None, name: str, target: str) -> Snapshot:
    """Done means READY: anything else raises (redelivery, or a dead letter at last)."""
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
    return snapshot


def _replaced(work: WorkItem, snapshot: Snapshot) -> bool:
    """The slot's snapshot was taken of another disk under the disk's name (deleted and
    made again since the labels were read): not this disk's."""
    return bool(snapshot.source_disk_id) and snapshot.source_disk_id != work.disk_id


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
    retake_of = None
    if failed is not None:
        gateway.delete_snapshot(target, name)
        retake_of = failed.id or failed.name
    key = snapshot_key(work, config.deployment_id)
    try:
        _insert(work, config, gateway, target, name, request_id(key, retake_of), deadline)
    except ComputeError as exc:
        # Compute answers a repeated requestId with the original operation. If that one
        # failed and left no snapshot under our name (deleted by a retake since, or never
        # made), the failure is old news, and so may be every requestId derived after it
        # (a retake of a retake): insert once more with an id never used. The name, not
        # the id, keeps it to one snapshot: a racing duplicate's insert answers 409.
        if not exc.failed_target or gateway.get_snapshot(target, name) is not None:
            raise
        _insert(work, config, gateway, target, name, unused_request_id(), deadline)


def _insert(
    work: WorkItem,
    config: Config,
    gateway: ComputeGateway,
    target: str,
    name: str,
    insert_request_id: str,
    deadline: float,
) -> None:
    options = work.schedule_options
    operation = gateway.insert_snapshot(
        target,
        name=name,
        source_disk=work.disk_path,
        labels=labels.snapshot_labels(
            work.disk_labels,
            work.disk_id,
            work.schedule,
            work.slot,
            config.label_prefix,
            config.deployment_id,
            keep=work.keep,
        ),
        request_id=insert_request_id,
        storage_location=work.storage_location,
        guest_flush=work.guest_flush,
        description=f"snapkeeper {work.schedule} snapshot of {work.disk_path}",
        snapshot_type=options.snapshot_type,
        kms_key=options.kms_key,
        chain_name=options.chain_name,
    )
    gateway.follow_operation(target, operation, deadline)


def _check_ours(
    work: WorkItem, config: Config, gateway: ComputeGateway, target: str, name: str
) -> Snapshot:
    """The snapshot that answered our insert with 409 but is not among the disk's
    managed ones: read it to say whose it is."""
    found = gateway.get_snapshot(target, name)
    if found is None:
        raise SnapshotFailed(f"snapshot {name} answered 409 but cannot be read back")
    _require_ours(work, config, found, target, name)
    return found


def _require_ours(work: WorkItem, config: Config, found: Snapshot, target: str, name: str) -> None:
    """A snapshot found under our name (not made by this delivery) is done only if it
    is this disk's, of this slot and deployment."""
    ours = found.is_managed(work.disk_id, work.schedule, config.deployment_id)
    if not (ours and found.slot == work.slot):
        raise NameCollision(
            f"a snapshot named {name} already exists in {target} and is not this disk's "
            f"(disk id {work.disk_id}, slot {work.slot}, deployment {config.deployment_id}): "
            f"its labels are {dict(found.labels)}; rename or delete it"
        )


def prune_snapshots(
    gateway: ComputeGateway, target: str, retention: RetentionPlan
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(deleted, deferred): deletes wait behind creates, so once the write quota says no,
    the rest is left to the next run, which plans it again."""
    deleted: list[str] = []
    victims = [v for v in retention.delete if v.status not in IN_FLIGHT and not v.pinned]
    for index, victim in enumerate(victims):  # in flight or pinned: never, whatever the plan
        try:
            if gateway.delete_snapshot(target, victim.name):  # False: a duplicate did it
                deleted.append(victim.name)
        except RateLimited:
            return tuple(deleted), tuple(v.name for v in victims[index:])
    return tuple(deleted), ()


def _gone(
    work: WorkItem,
    config: Config,
    gateway: ComputeGateway,
    target: str,
    existing: list[Snapshot] | None,
    name: str,
) -> SnapshotResult:
    """The disk is gone: its snapshots are left to ORPHAN_POLICY, which the enumerator
    applies once per tick (an orphan work message), never a message that happened to be
    in flight. One exception: a snapshot under the slot's name taken of another disk of
    the same name (made since the labels were read) is not this disk's, and is deleted."""
    if existing is None:
        existing = _managed(work, config, gateway, target)
    deleted = []
    mistaken = [s for s in existing if s.name == name and _replaced(work, s)]
    if mistaken and mistaken[0].status not in IN_FLIGHT and gateway.delete_snapshot(target, name):
        deleted.append(name)
    held = _ready([s for s in existing if s.name not in deleted])
    why = f"disk {work.disk_path} (id {work.disk_id}) is gone; ORPHAN_POLICY decides"
    return SnapshotResult(Action.GONE, name, target, "", tuple(deleted), held, reason=why)


def held_ready(retention: RetentionPlan) -> int:
    return sum(1 for s in retention.keep if s.status == READY and not s.pinned)


def _ready(snapshots: list[Snapshot]) -> int:
    return sum(1 for s in snapshots if s.status == READY)

"""Restore drills: prove that the backups restore.

A drill tick picks K disks, round-robin and stateless: each disk's managed snapshots
(this deployment's) say when it was last drilled (the `snapkeeper-drilled` label a
drill puts on the snapshot it restored), and the disks never drilled come first, then
the longest ago, ties by project, location and name. Each pick becomes a drill message
for the snapshot function, which restores the disk's newest READY managed snapshot to a
scratch disk in SCRATCH_PROJECT/SCRATCH_ZONE, waits (bounded) until it is READY, records
the time to restore and the size, deletes the scratch disk and labels the snapshot
`snapkeeper-drilled: <yyyymmdd>`.

Scratch disks carry `snapkeeper-drill-slot` (and this deployment's managed labels): each
drill first deletes the leftovers of earlier drill slots (a function killed mid-drill, a
drill dead-lettered while its disk was restoring). A drill never deletes a disk without
those labels, nor one of its own slot (a sibling drill may be using it).

Compute calls per disk drilled: 1 scratch list + 1 disk read + 1 insert + k zone
operation waits + 1 disk read + 1 delete + 1 wait + 1 snapshot read + 1 setLabels
(plus a delete and a wait per leftover); per drill tick, one snapshot list per snapshot
project (the vault, or each target project), paged.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from snapkeeper import labels, slots
from snapkeeper.compute import (
    ComputeGateway,
    Disk,
    Snapshot,
    managed_filter,
)
from snapkeeper.config import Config
from snapkeeper.coverage import last_drilled, snapshot_projects, taken
from snapkeeper.enumerator import (
    MAX_PARALLEL_PROJECTS,
    ProjectFailure,
    ProjectsPlan,
    tick_projects,
)
from snapkeeper.errors import (
    ComputeError,
    DrillFailed,
    DrillInProgress,
    Outcome,
)
from snapkeeper.hierarchy import Scope
from snapkeeper.messages import DrillItem, DrillTick, Tick
from snapkeeper.naming import scratch_disk_name
from snapkeeper.restore import RESTORED_FROM
from snapkeeper.retention import READY

DRILLED_DATE = "%Y%m%d"
# A scratch disk's delete is waited for this long (inside the function's 60 s margin past
# READY_WAIT_SECONDS); one still going is left to the next drill's sweep.
DELETE_WAIT_SECONDS = 30.0
DISK_POLL_INTERVAL = 2.0
# Disk statuses of a restore still under way (the API's CREATING and RESTORING).
RESTORING = frozenset({"CREATING", "RESTORING"})


class Status:
    """The `drill_status` field of a drill's log line."""

    OK = "OK"  # restored READY, measured, cleaned up
    GONE = "GONE"  # the snapshot was deleted (pruned) before the drill could restore it


@dataclass(frozen=True)
class Candidate:
    """A disk that has a READY managed snapshot to restore."""

    project: str
    location: str
    regional: bool
    disk: str
    disk_id: str
    snapshot: Snapshot  # the newest READY one
    last_drilled: str  # yyyymmdd, "" if never


@dataclass(kw_only=True)
class DrillPlan(ProjectsPlan):
    sample: int
    items: list[DrillItem] = field(default_factory=list)
    candidates: int = 0


@dataclass(frozen=True)
class DrillResult:
    status: str
    scratch_disk: str
    seconds: float | None = None  # time to restore: insert until the disk reads READY
    size_gb: int = 0
    swept: tuple[str, ...] = ()  # leftover scratch disks of earlier drills removed now
    labelled: bool = False  # the snapshot now carries snapkeeper-drilled
    drilled: str = ""  # the date put on the snapshot


def candidates(snapshots: Iterable[Snapshot], projects: Iterable[str]) -> list[Candidate]:
    """The disks of `projects` that have a READY snapshot among `snapshots` (managed, this
    deployment's), in drill order: never drilled first, then the longest ago."""
    allowed = set(projects)
    by_disk: dict[str, list[Snapshot]] = {}
    for snapshot in snapshots:
        by_disk.setdefault(snapshot.labels.get(labels.DISK_ID, ""), []).append(snapshot)
    found = []
    for disk_id, group in by_disk.items():
        dated = [(t, s.name, s) for s in group if s.status == READY and (t := taken(s))]
        if not disk_id or not dated:
            continue
        newest = max(dated, key=lambda entry: (entry[0], entry[1]))[2]
        parts = newest.source_disk.split("/")  # projects/P/zones|regions/L/disks/D
        if len(parts) != 6 or parts[1] not in allowed:
            continue
        found.append(
            Candidate(
                parts[1],
                parts[3],
                parts[2] == "regions",
                parts[5],
                disk_id,
                newest,
                last_drilled(group),
            )
        )
    found.sort(key=lambda c: (c.last_drilled, c.project, c.location, c.disk, c.disk_id))
    return found


def plan_drill(tick: DrillTick, at: datetime, config: Config, gateway: ComputeGateway) -> DrillPlan:
    """The disks a drill tick restores (nothing written). A snapshot project that cannot
    be listed is in `failures` (transient or not), its disks left out: the caller decides
    (the enumerator retries the whole tick on a transient one)."""
    config.drills.scratch()
    slot = slots.format_slot(slots.slot_for(tick.time or at, tick.cron, tick.time_zone))
    # The allow-list rule of snapshot ticks (only the projects of a Tick are read).
    projects, refused = tick_projects(Tick("drill", projects=tick.projects), config)
    plan = DrillPlan(slot, tuple(projects), refused, sample=tick.sample or config.drills.sample)
    wheres = snapshot_projects(projects, config) if projects else []
    listed: list[Snapshot] = []
    if wheres:
        workers = min(MAX_PARALLEL_PROJECTS, len(wheres))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drill") as pool:
            label_filter = managed_filter(deployment=config.deployment_id)
            jobs = {where: pool.submit(gateway.snapshots, where, label_filter) for where in wheres}
            for where, job in jobs.items():
                try:
                    found = job.result()
                except ComputeError as exc:
                    transient = exc.outcome is Outcome.TRANSIENT
                    failure = ProjectFailure(where, type(exc).__name__, str(exc), transient)
                    plan.failures.append(failure)
                    continue
                listed += [
                    s for s in found if labels.deployment_of(s.labels) == config.deployment_id
                ]
    ranked = candidates(listed, projects)
    plan.candidates = len(ranked)
    plan.items = [_item(c, slot) for c in ranked[: plan.sample]]
    return plan


def _item(candidate: Candidate, slot: str) -> DrillItem:
    c = candidate
    return DrillItem(
        c.project,
        c.location,
        c.regional,
        c.disk,
        c.disk_id,
        c.snapshot.name,
        c.snapshot.project,
        slot,
    )


def scratch_filter(deployment: str) -> str:
    return (
        f'(labels.{labels.MANAGED_BY} = "{labels.MANAGED_BY_VALUE}") '
        f'(labels.{labels.DEPLOYMENT} = "{deployment}")'
    )


def scratch_labels(item: DrillItem, deployment: str) -> dict[str, str]:
    return {
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.DEPLOYMENT: deployment,
        labels.DISK_ID: item.disk_id,
        labels.DRILL_SCRATCH: item.slot,
        RESTORED_FROM: item.snapshot,
    }


def sweep(config: Config, gateway: ComputeGateway, slot: str) -> tuple[str, ...]:
    """Delete the scratch disks earlier drill slots left behind (this deployment's, by
    their labels, checked again here). One still restoring cannot be deleted yet: the
    next drill takes it."""
    project, zone = config.drills.scratch()
    removed = []
    for disk in gateway.zone_disks(project, zone, scratch_filter(config.deployment_id)):
        own = (
            disk.labels.get(labels.MANAGED_BY) == labels.MANAGED_BY_VALUE
            and labels.deployment_of(disk.labels) == config.deployment_id
        )
        left = disk.labels.get(labels.DRILL_SCRATCH)
        leftover = own and left and left != slot and disk.status not in RESTORING
        if leftover and gateway.delete_zone_disk(project, zone, disk.name) is not None:
            removed.append(disk.name)
    return tuple(removed)


def run_drill(
    item: DrillItem,
    config: Config,
    gateway: ComputeGateway,
    deadline: float | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> DrillResult:
    """Restore, measure, clean up and label one disk's snapshot. `deadline` (monotonic)
    bounds the wait for READY (default READY_WAIT_SECONDS from now). Raises
    DrillInProgress (redeliver), DrillFailed, NotAllowed, ConfigError or a ComputeError
    classified by the error table."""
    Scope(config).require(item.project)
    config.drills.scratch()
    if deadline is None:
        deadline = time.monotonic() + config.ready_wait_seconds
    try:
        return _drill(item, config, gateway, deadline, say)
    except ComputeError as exc:
        if exc.outcome is not Outcome.GONE:
            raise
        # Not the snapshot (that is a GONE result): the scratch project or zone is
        # missing, which no redelivery mends.
        raise DrillFailed(str(exc)) from exc


def _drill(
    item: DrillItem,
    config: Config,
    gateway: ComputeGateway,
    deadline: float,
    say: Callable[[str], None],
) -> DrillResult:
    project, zone = config.drills.scratch()
    swept = sweep(config, gateway, item.slot)
    name = scratch_disk_name(item.project, item.disk_id, item.slot, config.deployment_id)
    earlier = gateway.get_disk(project, zone, False, name)
    if earlier is not None:  # an earlier attempt's: measure again from a fresh restore
        if earlier.status in RESTORING:
            raise DrillInProgress(
                f"scratch disk {name} of an earlier attempt is still {earlier.status}"
            )
        say(f"removing scratch disk {name} of an earlier attempt")
        _delete(gateway, project, zone, name)
    link = f"projects/{item.snapshot_project}/global/snapshots/{item.snapshot}"
    say(f"restoring {item.snapshot} to {project}/{zone}/{name}")
    started = time.monotonic()
    try:
        operation = gateway.create_disk_from_snapshot(
            project, zone, name, link, scratch_labels(item, config.deployment_id)
        )
    except ComputeError as exc:
        if exc.status == 404 and gateway.get_snapshot(item.snapshot_project, item.snapshot) is None:
            return DrillResult(Status.GONE, name, swept=swept)
        if exc.status == 409:
            raise DrillInProgress(f"scratch disk {name} is being made by another delivery") from exc
        raise
    _follow(gateway, project, zone, operation, deadline, f"restore of {item.snapshot}")
    disk = _until_ready(gateway, project, zone, name, deadline)
    seconds = round(time.monotonic() - started, 3)
    say(f"{name} READY after {seconds} s ({disk.size_gb} GB); deleting it")
    _delete(gateway, project, zone, name)
    drilled = slots.parse_slot(item.slot).strftime(DRILLED_DATE)
    labelled = gateway.add_snapshot_labels(
        item.snapshot_project, item.snapshot, {labels.DRILLED: drilled}
    )
    return DrillResult(Status.OK, name, seconds, disk.size_gb, swept, labelled, drilled)


def _follow(
    gateway: ComputeGateway, project: str, zone: str, operation: str, deadline: float, what: str
) -> None:
    """Wait for a zonal operation until DONE; DrillInProgress at the deadline."""
    if not gateway.follow_operation(project, operation, deadline, zone):
        raise DrillInProgress(f"{what} not done at the wait bound ({operation})")


def _until_ready(
    gateway: ComputeGateway, project: str, zone: str, name: str, deadline: float
) -> Disk:
    """Read the scratch disk until it is READY (the operation is DONE by now, but the
    disk's status is what proves the restore)."""
    while True:
        disk = gateway.get_disk(project, zone, False, name)
        if disk is None:
            raise DrillFailed(f"scratch disk {name} disappeared before it was READY")
        if disk.status == READY:
            return disk
        if disk.status not in RESTORING:
            raise DrillFailed(f"scratch disk {name} ended {disk.status}, not READY")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DrillInProgress(f"scratch disk {name} still {disk.status} at the wait bound")
        time.sleep(min(DISK_POLL_INTERVAL, remaining))


def _delete(gateway: ComputeGateway, project: str, zone: str, name: str) -> None:
    """Delete a scratch disk and wait a little; one still being deleted is fine."""
    operation = gateway.delete_zone_disk(project, zone, name)
    if operation is not None:
        deadline = time.monotonic() + DELETE_WAIT_SECONDS
        # Still deleting at the bound: the disk goes on its own; the sweep checks.
        with contextlib.suppress(DrillInProgress):
            _follow(gateway, project, zone, operation, deadline, f"delete of {name}")

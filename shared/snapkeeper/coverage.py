"""Coverage: for every labelled disk and schedule, its newest READY snapshot against the
schedule's cadence, and the generations it holds against those it wants.

Cost: per project one instances and one disks aggregatedList (every disk: any schedule
label counts), and one snapshots.list of managed snapshots per snapshot project (the
vault, or each project), never one per disk; projects run in parallel.

A disk is stale when its newest READY snapshot was taken before the latest slot that
should be done by now (the cron's latest fire at or before now - grace). For a regular
cron that is "older than period + grace"; for an irregular one (weekdays only) it does
not cry wolf on the weekend.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from snapkeeper import labels, orphans, slots
from snapkeeper.compute import ComputeGateway, Disk, Instance, Snapshot, managed_filter
from snapkeeper.config import Config
from snapkeeper.enumerator import MAX_PARALLEL_PROJECTS, ProjectFailure
from snapkeeper.errors import ComputeError, InvalidMessage
from snapkeeper.retention import READY
from snapkeeper.snapshotter import to_info

OK = "ok"
STALE = "stale"
NEVER = "never"
NO_JOB = "no-job"  # labelled for a schedule that has no Scheduler job: never runs
INVALID = "invalid"  # a label that is not a valid N
EXCLUDED = "excluded"
PROBLEMS = frozenset({STALE, NEVER, NO_JOB, INVALID})
# Problems first, worst first; then the rest.
STATE_ORDER = {NEVER: 0, STALE: 1, NO_JOB: 2, INVALID: 3, OK: 4, EXCLUDED: 5}

SnapshotIndex = dict[tuple[str, str], list[Snapshot]]  # (disk id, schedule) -> snapshots


@dataclass(frozen=True)
class LabelledDisk:
    disk: Disk
    policies: Mapping[str, labels.DiskPolicy | labels.Skip]  # by schedule


@dataclass(frozen=True)
class Timing:
    cron: str
    time_zone: str


@dataclass(frozen=True)
class Coverage:
    project: str
    location: str
    disk: str
    disk_id: str
    schedule: str
    state: str
    wanted: int | None
    held: int  # READY, not pinned: what retention counts toward N
    pinned: int
    newest: str | None
    newest_taken: datetime | None
    age: timedelta | None
    period: timedelta | None
    due: datetime | None  # the slot that should be covered by now
    reason: str = ""
    last_drilled: str = ""  # yyyymmdd of the disk's last successful restore drill, "" never

    @property
    def problem(self) -> bool:
        return self.state in PROBLEMS


@dataclass
class Survey:
    disks: list[LabelledDisk] = field(default_factory=list)
    snapshots: SnapshotIndex = field(default_factory=dict)
    failures: list[ProjectFailure] = field(default_factory=list)
    disk_ids: dict[str, frozenset[str]] = field(default_factory=dict)  # every disk, by project

    def all_snapshots(self) -> list[Snapshot]:
        return [s for found in self.snapshots.values() for s in found]

    def orphans(self, deployment: str) -> list[orphans.Orphans]:
        """Snapshots of disks gone from projects whose disks were listed completely."""
        every = self.all_snapshots()
        return [
            group
            for project, ids in sorted(self.disk_ids.items())
            for group in orphans.find(every, ids, project, deployment)
        ]


@dataclass(frozen=True)
class ProjectDisks:
    labelled: list[LabelledDisk]
    disk_ids: frozenset[str]  # every disk of the project, labelled or not


def labels_by_disk(instances: Iterable[Instance]) -> dict[str, dict[str, dict[str, str]]]:
    """disk path -> {instance name: instance labels} for every attached disk."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for instance in instances:
        for path in instance.disk_paths:
            found.setdefault(path, {})[instance.name] = dict(instance.labels)
    return found


def labelled_disks(project: str, config: Config, gateway: ComputeGateway) -> ProjectDisks:
    """Every disk of a project that takes part in at least one schedule, and the ids of
    all its disks (what tells an orphan)."""
    attached = labels_by_disk(gateway.instances(project))
    found = []
    ids = set()
    for disk in gateway.disks(project):
        ids.add(disk.id)
        policies = labels.resolve_policies(
            disk.labels,
            attached.get(disk.path, {}),
            config.label_prefix,
            config.default_storage_location,
        )
        if policies:
            found.append(LabelledDisk(disk, policies))
    return ProjectDisks(found, frozenset(ids))


def managed_snapshots(
    project: str, gateway: ComputeGateway, deployment: str = labels.DEFAULT_DEPLOYMENT
) -> SnapshotIndex:
    """Every managed snapshot of a project that this deployment made, in one (paged)
    list call: another deployment's generations are its own to count."""
    index: SnapshotIndex = defaultdict(list)
    for snapshot in gateway.snapshots(project, managed_filter(deployment=deployment)):
        if labels.deployment_of(snapshot.labels) != deployment:
            continue
        key = (snapshot.labels.get(labels.DISK_ID, ""), snapshot.labels.get(labels.SCHEDULE, ""))
        index[key].append(snapshot)
    return dict(index)


def snapshot_projects(projects: Iterable[str], config: Config) -> list[str]:
    """Where the managed snapshots of these projects live."""
    return [config.snapshot_project] if config.snapshot_project else sorted(set(projects))


def survey(
    projects: Iterable[str],
    config: Config,
    gateway: ComputeGateway,
    *,
    with_disks: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Survey:
    """List labelled disks of each project and managed snapshots of each snapshot project,
    all in parallel; a project that fails is reported, not fatal. `progress(done, total)`
    is called after each listing (for a progress bar)."""
    projects = sorted(set(projects))
    result = Survey()
    workers = max(1, min(MAX_PARALLEL_PROJECTS, 2 * len(projects)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="survey") as pool:
        disk_jobs = {
            pool.submit(labelled_disks, project, config, gateway): project
            for project in (projects if with_disks else [])
        }
        snapshot_jobs = {
            pool.submit(managed_snapshots, project, gateway, config.deployment_id): project
            for project in snapshot_projects(projects, config)
        }
        pending: dict[Future[Any], str] = {**disk_jobs, **snapshot_jobs}
        for done, future in enumerate(as_completed(pending), start=1):
            try:
                found = future.result()
            except ComputeError as exc:
                project = pending[future]
                result.failures.append(ProjectFailure(project, type(exc).__name__, str(exc)))
            else:
                if future in disk_jobs:
                    result.disks.extend(found.labelled)
                    result.disk_ids[pending[future]] = found.disk_ids
                else:
                    for key, snapshots in found.items():
                        result.snapshots.setdefault(key, []).extend(snapshots)
            if progress:
                progress(done, len(pending))
    result.disks.sort(key=lambda d: (d.disk.project, d.disk.location, d.disk.name))
    result.failures.sort(key=lambda f: f.project)
    return result


def taken(snapshot: Snapshot) -> datetime | None:
    """When a snapshot's data was taken: its creation time, else its slot."""
    if snapshot.created:
        return snapshot.created
    try:
        return slots.parse_slot(snapshot.slot)
    except InvalidMessage:
        return None


def assess(
    labelled: LabelledDisk,
    schedule: str,
    snapshots: Iterable[Snapshot],
    timing: Timing | None,
    *,
    now: datetime,
    grace: timedelta,
    prefix: str,
    keep_floor: int = 1,
) -> Coverage:
    """The coverage of one disk by one schedule at `now`; `keep_floor`: MIN_KEEP in a
    vault, which raises what a disk wants."""
    disk = labelled.disk
    policy = labelled.policies[schedule]
    ready = [s for s in snapshots if s.status == READY]
    pinned = sum(1 for s in ready if to_info(s, prefix).pinned)
    dated = [(t, s) for s in ready if (t := taken(s)) is not None]
    newest_taken, newest = max(dated, key=lambda pair: pair[0]) if dated else (None, None)
    period = due = None
    if timing:
        period = slots.period(timing.cron, timing.time_zone, now)
        due = slots.latest_fire(timing.cron, timing.time_zone, now - grace)
    reason = ""
    if isinstance(policy, labels.Skip):
        excluded = labels.is_true(disk.labels.get(labels.ControlLabels(prefix).exclude))
        state, reason, wanted = (EXCLUDED if excluded else INVALID), policy.reason, None
    else:
        wanted = max(policy.keep, keep_floor)
        if timing is None:
            state, reason = NO_JOB, f"no Cloud Scheduler job for schedule {schedule}"
        elif newest_taken is None:
            state = NEVER
        elif due is not None and newest_taken < due:
            state = STALE
        else:
            state = OK
    return Coverage(
        project=disk.project,
        location=disk.location,
        disk=disk.name,
        disk_id=disk.id,
        schedule=schedule,
        state=state,
        wanted=wanted,
        held=len(ready) - pinned,
        pinned=pinned,
        newest=newest.name if newest else None,
        newest_taken=newest_taken,
        age=now - newest_taken if newest_taken else None,
        period=period,
        due=due,
        reason=reason,
    )


def coverage(
    result: Survey,
    timings: Mapping[str, Timing | None],
    *,
    now: datetime,
    grace: timedelta,
    prefix: str,
    schedules: Iterable[str] = (),
    keep_floor: int = 1,
) -> list[Coverage]:
    """Every (disk, schedule) of a survey, problems first (never, stale, ...)."""
    only = set(schedules)
    rows = [
        assess(
            labelled,
            schedule,
            result.snapshots.get((labelled.disk.id, schedule), []),
            timings.get(schedule),
            now=now,
            grace=grace,
            prefix=prefix,
            keep_floor=keep_floor,
        )
        for labelled in result.disks
        for schedule in labelled.policies
        if not only or schedule in only
    ]
    drilled = drills_by_disk(result.snapshots)
    rows = [replace(row, last_drilled=drilled.get(row.disk_id, "")) for row in rows]
    rows.sort(key=lambda c: (STATE_ORDER[c.state], c.project, c.location, c.disk, c.schedule))
    return rows


def last_drilled(snapshots: Iterable[Snapshot]) -> str:
    """The latest restore-drill date (yyyymmdd) on any of these snapshots, "" if none."""
    return max((s.labels.get(labels.DRILLED, "") for s in snapshots), default="")


def drills_by_disk(index: SnapshotIndex) -> dict[str, str]:
    """disk id -> its last drill date, over the snapshots of every schedule."""
    found: dict[str, str] = {}
    for (disk_id, _), snapshots in index.items():
        found[disk_id] = max(found.get(disk_id, ""), last_drilled(snapshots))
    return found

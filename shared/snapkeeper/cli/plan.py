"""`plan`: a dry run of a tick; `tick`: publish one by hand."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click

from snapkeeper import clients, coverage, labels, orphans, schedules, slots
from snapkeeper.cli import common
from snapkeeper.cli.common import App, Repeated, json_option, pass_app, projects_option
from snapkeeper.compute import Snapshot
from snapkeeper.enumerator import ProjectFailure, SkippedDisk, plan_tick, tick_projects
from snapkeeper.hierarchy import Scope
from snapkeeper.messages import Tick, WorkItem
from snapkeeper.retention import READY
from snapkeeper.snapshotter import SnapshotPlan, plan_snapshot

PUBLISH_TIMEOUT = 30.0


@dataclass(frozen=True)
class Drift:
    """What a change of N or max-age will delete from one disk, over every tick it takes."""

    beyond_n: int  # READY snapshots beyond the disk's N (a lowered label, the vault floor)
    past_max_age: int  # within N, but older than the schedule's max-age
    storage_bytes: int  # of all of them
    now: int  # deleted by this tick
    held_back: int  # left by MAX_DELETES_PER_RUN for later ticks


@dataclass(frozen=True)
class OrphanAction:
    """A deleted disk's snapshots of the schedule, and what ORPHAN_POLICY does now."""

    orphans: dict[str, Any]  # orphans.Orphans.summary
    policy: str
    delete: tuple[str, ...]
    held_back: tuple[str, ...]
    delete_bytes: int


@dataclass(frozen=True)
class LeftBehind:
    """Snapshots no tick will prune: their disk exists but no longer takes part in the
    schedule (label removed or bad), or the schedule has no job (renamed or removed)."""

    schedule: str
    reason: str
    disks: int
    snapshots: int
    storage_bytes: int


@dataclass(frozen=True)
class DiskAction:
    project: str
    location: str
    disk: str
    keep: int
    source: str
    snapshot: str
    exists: bool  # the slot's snapshot is there already: nothing new would be created
    prune: tuple[str, ...]
    held_back: tuple[str, ...] = ()  # due, but beyond MAX_DELETES_PER_RUN: a later run's
    drift: Drift | None = None  # set when more than the usual one snapshot goes


@dataclass
class SchedulePlan:
    schedule: str
    slot: str
    cron: str | None
    time_zone: str | None
    disks: list[DiskAction] = field(default_factory=list)
    skipped: list[SkippedDisk] = field(default_factory=list)
    failed_projects: list[ProjectFailure] = field(default_factory=list)
    orphans: list[OrphanAction] = field(default_factory=list)
    left_behind: list[LeftBehind] = field(default_factory=list)
    # Every disk of the tick's projects: what the plan of all schedules reads.
    disk_ids: set[str] = field(default_factory=set, metadata={"json": False})


def _tick(app: App, schedule: str, at: datetime | None, projects: Repeated) -> Tick:
    """The tick the schedule's job would send (its cron, time zone and options), or a
    manual one when the schedule has no job."""
    labels.validate_schedule_name(schedule)
    job = schedules.get_job(app.config, schedule)
    sent = job.tick if job else Tick(schedule)
    return dataclasses.replace(sent, time=at, projects=tuple(projects))


def drift(work: WorkItem, existing: list[Snapshot], step: SnapshotPlan, app: App) -> Drift | None:
    """What the plan will delete over its ticks, by cause; None when it is only the
    oldest one a settled disk drops as each new one comes."""
    due = [s for s in step.retention.delete if s.status == READY]
    due += list(step.retention.held_back)
    if len(due) <= 1:
        return None
    by_count = dataclasses.replace(
        work, options={k: v for k, v in work.options.items() if k not in ("max-age", "min-keep")}
    )
    count_only = plan_snapshot(by_count, existing, app.config).retention
    beyond = {s.name for s in (*count_only.delete, *count_only.held_back) if s.status == READY}
    sizes = {s.name: s.storage_bytes for s in existing}
    overflow = sum(1 for s in due if s.name in beyond)
    return Drift(
        beyond_n=overflow,
        past_max_age=len(due) - overflow,
        storage_bytes=sum(sizes.get(s.name, 0) for s in due),
        now=len(due) - len(step.retention.held_back),
        held_back=len(step.retention.held_back),
    )


def orphan_actions(
    app: App, tick: Tick, slot: str, found: list[orphans.Orphans], at: datetime
) -> list[OrphanAction]:
    config = app.config
    actions = []
    for group in found:
        pruned = orphans.plan(
            group.snapshots, config.orphan_policy, config, tick.options, slots.parse_slot(slot)
        )
        sizes = {s.name: s.storage_bytes for s in group.snapshots}
        actions.append(
            OrphanAction(
                orphans=group.summary(at),
                policy=str(config.orphan_policy),
                delete=tuple(s.name for s in pruned.delete),
                held_back=tuple(s.name for s in pruned.held_back),
                delete_bytes=sum(sizes.get(s.name, 0) for s in pruned.delete),
            )
        )
    return actions


def left_behind(
    schedule: str, reason: str, index: coverage.SnapshotIndex, disk_ids: set[str]
) -> LeftBehind | None:
    """Snapshots of `schedule` of disks in `disk_ids` (existing disks it no longer prunes)."""
    held = [s for (disk_id, name), found in index.items() if name == schedule
            and disk_id in disk_ids for s in found]  # fmt: skip
    if not held:
        return None
    disks = {s.labels.get(labels.DISK_ID) for s in held}
    total = sum(s.storage_bytes for s in held)
    return LeftBehind(schedule, reason, len(disks), len(held), total)


def dry_run(
    app: App, tick: Tick, at: datetime, index: coverage.SnapshotIndex, scope: Scope
) -> SchedulePlan:
    """What the enumerator and the snapshot function would do, from reads only: with
    the drift (what a change of N or max-age deletes over its ticks), the orphans and
    what ORPHAN_POLICY does with them, and the snapshots no tick prunes any more."""
    result = plan_tick(tick, at, app.config, app.gateway, scope, find_orphans=True)
    planned = SchedulePlan(tick.schedule, result.slot, tick.cron, tick.time_zone)
    planned.skipped, planned.failed_projects = result.skipped, result.failures
    planned.disk_ids = result.disk_ids
    planned.orphans = orphan_actions(app, tick, result.slot, result.orphans, at)
    working = {w.disk_id for w in result.work}
    stopped = left_behind(
        tick.schedule,
        f"the disk no longer takes part in {tick.schedule} (label removed, excluded or bad)",
        index,
        result.disk_ids - working,
    )
    planned.left_behind = [stopped] if stopped else []
    for work in result.work:
        existing = index.get((work.disk_id, work.schedule), [])
        step = plan_snapshot(work, existing, app.config)
        planned.disks.append(
            DiskAction(
                work.project,
                work.location,
                work.disk,
                keep=step.wanted,
                source=work.source,
                snapshot=step.name,
                exists=step.exists,
                prune=tuple(s.name for s in step.retention.delete),
                held_back=tuple(s.name for s in step.retention.held_back),
                drift=drift(work, existing, step, app),
            )
        )
    return planned


@click.command()
@click.option(
    "--schedule", "-s", "schedule_names", multiple=True,
    help="Schedule to plan (repeatable; default: every schedule with a Scheduler job).",
)  # fmt: skip
@projects_option
@click.option("--at", type=common.TIME, help="Plan the tick of this time (default: now).")
@json_option
@pass_app
def plan(
    app: App, schedule_names: Repeated, projects: Repeated, at: datetime | None, as_json: bool
) -> None:
    """Dry run of a tick: per disk the snapshot that would be created and those that
    would be pruned, and every skipped disk with its reason. Writes nothing.

    \b
    Examples:
      snapkeeper plan
      snapkeeper plan --schedule daily --project prod-db-2
      snapkeeper plan -s hourly --at 2026-03-01T05:00:00Z --json
    """
    names = list(schedule_names) or [job.schedule for job in schedules.list_jobs(app.config)]
    if not names:
        raise click.UsageError("no Cloud Scheduler jobs yet: give --schedule")
    at = at or common.now()
    ticks = [_tick(app, name, at, projects) for name in names]
    scope = Scope(app.config)  # folders resolved once for every schedule planned
    covered = {p for t in ticks for p in tick_projects(t, app.config, scope)[0]}
    index = coverage.survey(covered, app.config, app.gateway, with_disks=False).snapshots
    plans = [dry_run(app, t, at, index, scope) for t in ticks]
    unplanned = []
    if not schedule_names:  # every job's schedule planned: others have none any more
        existing = set().union(*(p.disk_ids for p in plans))
        for name in sorted({schedule for _, schedule in index} - set(names)):
            found = left_behind(name, f"schedule {name} has no Scheduler job", index, existing)
            if found:
                unplanned.append(found)
    if as_json:
        common.print_json({"at": at, "schedules": plans, "left_behind": unplanned})
        return
    for planned in plans:
        _render(app, planned)
    for stranded in unplanned:
        _render_left_behind(app, stranded)


def _render(app: App, planned: SchedulePlan) -> None:
    cadence = f"{planned.cron} ({planned.time_zone})" if planned.cron else "manual"
    title = f"{planned.schedule}: slot {planned.slot}, cron {cadence}"
    grid = common.table(title, "project", "location", "disk", "keep", "snapshot", "prune")
    for action in planned.disks:
        name = f"{action.snapshot} (exists)" if action.exists else action.snapshot
        prune = "\n".join(action.prune) or "-"
        if action.held_back:
            prune += f"\n(+{len(action.held_back)} held back by MAX_DELETES_PER_RUN)"
        grid.add_row(action.project, action.location, action.disk, str(action.keep), name, prune)
    app.out.print(grid)
    if planned.skipped or planned.failed_projects:
        skipped = common.table(
            f"{planned.schedule}: skipped", "project", "location", "disk", "reason"
        )
        notes = common.Notes(app.out)
        for skip in planned.skipped:
            skipped.add_row(skip.project, skip.location, skip.disk, notes.cell(skip.reason))
        for failure in planned.failed_projects:
            reason = notes.cell(f"no access: {failure.error}")
            skipped.add_row(failure.project, "-", "(all disks)", reason)
        app.out.print(skipped)
        notes.print(app.out)
    drifting = [a.drift for a in planned.disks if a.drift]
    if drifting:
        app.out.print(
            f"[yellow]{planned.schedule}: drift[/]: "
            f"{sum(d.beyond_n + d.past_max_age for d in drifting)} snapshots "
            f"({common.size(sum(d.storage_bytes for d in drifting))}) of {len(drifting)} disks "
            f"will be deleted: {sum(d.beyond_n for d in drifting)} beyond N, "
            f"{sum(d.past_max_age for d in drifting)} past max-age; this tick deletes "
            f"{sum(d.now for d in drifting)}, the brake (MAX_DELETES_PER_RUN) holds back "
            f"{sum(d.held_back for d in drifting)} for later ticks"
        )
    if planned.orphans:
        fate = [_fate(o) for o in planned.orphans]
        summaries = [o.orphans for o in planned.orphans]
        app.out.print(common.orphan_table(f"{planned.schedule}: orphans", summaries, fate))
    for stranded in planned.left_behind:
        _render_left_behind(app, stranded)
    creates = sum(1 for a in planned.disks if not a.exists)
    prunes = sum(len(a.prune) for a in planned.disks)
    orphaned = sum(len(o.delete) for o in planned.orphans)
    app.out.print(
        f"{planned.schedule}: {creates} to create, {prunes} to prune, "
        f"{orphaned} orphans to prune ({len(planned.orphans)} deleted disks), "
        f"{len(planned.skipped)} disks skipped, {len(planned.failed_projects)} projects failed"
    )


@click.command()
@click.argument("schedule_name", metavar="SCHEDULE")
@click.option(
    "--at", type=common.TIME, help="The tick's time: catch up a slot missed in an outage."
)
@projects_option
@click.option(
    "--manual", is_flag=True,
    help="Leave the job's cron out: the tick gets a slot of its own (its minute).",
)  # fmt: skip
@json_option
@pass_app
def tick(
    app: App,
    schedule_name: str,
    at: datetime | None,
    projects: Repeated,
    manual: bool,
    as_json: bool,
) -> None:
    """Publish a tick of SCHEDULE by hand, as its Scheduler job would.

    The tick carries the job's cron and time zone, so it fills the schedule's latest
    slot at or before --at (default: now) and creates nothing where it is done already.

    \b
    Examples:
      snapkeeper tick daily
      snapkeeper tick daily --at 2026-03-01T03:00:00Z --project prod-db-2
      snapkeeper tick hourly --manual
    """
    config = app.config
    message = _tick(app, schedule_name, at, projects)
    if manual:  # its own slot, still with the job's options (an ARCHIVE schedule stays so)
        message = dataclasses.replace(message, cron=None, time_zone=None)
    elif not message.cron:
        app.note(f"no Scheduler job for {schedule_name}: a manual tick (slot: its minute)")
    refused = tick_projects(message, config)[1]
    if refused:
        raise click.UsageError("; ".join(f.error for f in refused))
    publisher = clients.publisher(config.endpoints.pubsub)
    future = publisher.publish(config.topic_path(config.tick_topic), message.to_json())
    message_id = str(future.result(timeout=PUBLISH_TIMEOUT))
    result: dict[str, Any] = {"message_id": message_id, "topic": config.tick_topic}
    result["tick"] = json.loads(message.to_json())
    if as_json:
        common.print_json(result)
    else:
        app.out.print(f"published tick {message.to_json().decode()} as message {message_id}")


def _fate(action: OrphanAction) -> str:
    if not action.delete:
        return f"{action.policy}: kept"
    text = f"{action.policy}: deletes {len(action.delete)} ({common.size(action.delete_bytes)})"
    return text + (f", +{len(action.held_back)} held back" if action.held_back else "")


def _render_left_behind(app: App, stranded: LeftBehind) -> None:
    app.out.print(
        f"[yellow]{stranded.schedule}: left behind[/]: {stranded.snapshots} snapshots "
        f"({common.size(stranded.storage_bytes)}) of {stranded.disks} disks are never pruned: "
        f"{stranded.reason}"
    )

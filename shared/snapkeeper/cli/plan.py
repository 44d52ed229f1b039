"""`plan`: a dry run of a tick; `tick`: publish one by hand."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click

from snapkeeper import clients, coverage, labels, schedules
from snapkeeper.cli.common import (
    TIME,
    App,
    Notes,
    json_option,
    now,
    pass_app,
    print_json,
    table,
)
from snapkeeper.enumerator import ProjectFailure, SkippedDisk, plan_tick, tick_projects
from snapkeeper.messages import Tick
from snapkeeper.snapshotter import plan_snapshot

PUBLISH_TIMEOUT = 30.0


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


@dataclass
class SchedulePlan:
    schedule: str
    slot: str
    cron: str | None
    time_zone: str | None
    disks: list[DiskAction] = field(default_factory=list)
    skipped: list[SkippedDisk] = field(default_factory=list)
    failed_projects: list[ProjectFailure] = field(default_factory=list)


def _tick(app: App, schedule: str, at: datetime | None, projects: tuple[str, ...]) -> Tick:
    """The tick the schedule's job would send (its cron, time zone and options), or a
    manual one when the schedule has no job."""
    labels.validate_schedule_name(schedule)
    job = schedules.get_job(app.config, schedule)
    sent = job.tick if job else Tick(schedule)
    return dataclasses.replace(sent, time=at, projects=tuple(projects))


def dry_run(app: App, tick: Tick, at: datetime, index: coverage.SnapshotIndex) -> SchedulePlan:
    """What the enumerator and the snapshot function would do, from reads only."""
    result = plan_tick(tick, at, app.config, app.gateway)
    planned = SchedulePlan(tick.schedule, result.slot, tick.cron, tick.time_zone)
    planned.skipped, planned.failed_projects = result.skipped, result.failures
    for work in result.work:
        existing = index.get((work.disk_id, work.schedule), [])
        step = plan_snapshot(work, existing, app.config)
        planned.disks.append(
            DiskAction(
                project=work.project,
                location=work.location,
                disk=work.disk,
                keep=step.wanted,
                source=work.source,
                snapshot=step.name,
                exists=step.exists,
                prune=tuple(s.name for s in step.retention.delete),
                held_back=tuple(s.name for s in step.retention.held_back),
            )
        )
    return planned


@click.command()
@click.option(
    "--schedule", "-s", "schedule_names", multiple=True,
    help="Schedule to plan (repeatable; default: every schedule with a Scheduler job).",
)  # fmt: skip
@click.option("--project", "-p", "projects", multiple=True, help="Only this project (repeatable).")
@click.option("--at", type=TIME, help="Plan the tick of this time (default: now).")
@json_option
@pass_app
def plan(
    app: App,
    schedule_names: tuple[str, ...],
    projects: tuple[str, ...],
    at: datetime | None,
    as_json: bool,
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
    at = at or now()
    ticks = [_tick(app, name, at, projects) for name in names]
    covered = {p for t in ticks for p in tick_projects(t, app.config)[0]}
    index = coverage.survey(covered, app.config, app.gateway, with_disks=False).snapshots
    plans = [dry_run(app, t, at, index) for t in ticks]
    if as_json:
        print_json({"at": at, "schedules": plans})
        return
    for planned in plans:
        _render(app, planned)


def _render(app: App, planned: SchedulePlan) -> None:
    cadence = f"{planned.cron} ({planned.time_zone})" if planned.cron else "manual"
    title = f"{planned.schedule}: slot {planned.slot}, cron {cadence}"
    grid = table(title, "project", "location", "disk", "keep", "snapshot", "prune")
    for action in planned.disks:
        name = f"{action.snapshot} (exists)" if action.exists else action.snapshot
        prune = "\n".join(action.prune) or "-"
        if action.held_back:
            prune += f"\n(+{len(action.held_back)} held back by MAX_DELETES_PER_RUN)"
        grid.add_row(action.project, action.location, action.disk, str(action.keep), name, prune)
    app.out.print(grid)
    if planned.skipped or planned.failed_projects:
        skipped = table(f"{planned.schedule}: skipped", "project", "location", "disk", "reason")
        notes = Notes(app.out)
        for skip in planned.skipped:
            skipped.add_row(skip.project, skip.location, skip.disk, notes.cell(skip.reason))
        for failure in planned.failed_projects:
            reason = notes.cell(f"no access: {failure.error}")
            skipped.add_row(failure.project, "-", "(all disks)", reason)
        app.out.print(skipped)
        notes.print(app.out)
    creates = sum(1 for a in planned.disks if not a.exists)
    prunes = sum(len(a.prune) for a in planned.disks)
    app.out.print(
        f"{planned.schedule}: {creates} to create, {prunes} to prune, "
        f"{len(planned.skipped)} disks skipped, {len(planned.failed_projects)} projects failed"
    )


@click.command()
@click.argument("schedule_name", metavar="SCHEDULE")
@click.option("--at", type=TIME, help="The tick's time: catch up a slot missed in an outage.")
@click.option("--project", "-p", "projects", multiple=True, help="Only this project (repeatable).")
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
    projects: tuple[str, ...],
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
    publisher = clients.publisher(config.pubsub_emulator_host)
    future = publisher.publish(config.topic_path(config.tick_topic), message.to_json())
    message_id = str(future.result(timeout=PUBLISH_TIMEOUT))
    result: dict[str, Any] = {"message_id": message_id, "topic": config.tick_topic}
    result["tick"] = json.loads(message.to_json())
    if as_json:
        print_json(result)
    else:
        app.out.print(f"published tick {message.to_json().decode()} as message {message_id}")

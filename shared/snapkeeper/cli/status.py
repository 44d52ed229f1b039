"""`status`: the coverage report, for people and for monitoring (exit code 3)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from snapkeeper import coverage, inventory, schedules, slots
from snapkeeper.cli.common import (
    DURATION,
    TIME,
    App,
    ExitCode,
    Notes,
    json_option,
    now,
    pass_app,
    print_json,
    span,
    table,
    target_projects,
    when,
)
from snapkeeper.errors import SnapkeeperError

STATE_STYLE = {
    coverage.NEVER: "bold red",
    coverage.STALE: "red",
    coverage.NO_JOB: "red",
    coverage.INVALID: "yellow",
    coverage.OK: "green",
    coverage.EXCLUDED: "dim",
}


def timings(
    app: App, schedule_names: tuple[str, ...], cron: str | None, time_zone: str | None
) -> dict[str, coverage.Timing | None]:
    """Each schedule's cadence: from its Scheduler job, or --cron for the one given."""
    found: dict[str, coverage.Timing | None] = {
        job.schedule: coverage.Timing(job.cron, job.time_zone)
        for job in schedules.list_jobs(app.config)
    }
    if cron:
        if len(schedule_names) != 1:
            raise click.UsageError("--cron needs exactly one --schedule")
        zone = time_zone or schedules.DEFAULT_TIME_ZONE
        slots.validate_cron(cron)
        slots.zone(zone)
        found[schedule_names[0]] = coverage.Timing(cron, zone)
    return found


@click.command()
@click.option("--schedule", "-s", "schedule_names", multiple=True, help="Only this schedule.")
@click.option("--project", "-p", "projects", multiple=True, help="Only this project (repeatable).")
@click.option("--cron", help="The schedule's cron, instead of its Scheduler job's.")
@click.option("--time-zone", help="Time zone of --cron (default Etc/UTC).")
@click.option(
    "--grace", type=DURATION, default="1h", show_default=True,
    help="How long after its slot a snapshot may take before the disk counts as stale.",
)  # fmt: skip
@click.option("--now", "at", type=TIME, help="Judge coverage as of this time (default: now).")
@click.option("--problems", is_flag=True, help="Only list disks that need attention.")
@click.option(
    "--org", "organization", help="Every disk of this organization, from Cloud Asset Inventory."
)
@click.option("--folder", help="Every disk under this folder, from Cloud Asset Inventory.")
@click.option(
    "--filter", "project_filter",
    help="With --org/--folder: only projects whose labels match, e.g. labels.env=prod.",
)  # fmt: skip
@json_option
@pass_app
def status(
    app: App,
    schedule_names: tuple[str, ...],
    projects: tuple[str, ...],
    cron: str | None,
    time_zone: str | None,
    grace: timedelta,
    at: datetime | None,
    problems: bool,
    organization: str | None,
    folder: str | None,
    project_filter: str | None,
    as_json: bool,
) -> None:
    """Coverage of every labelled disk and schedule: the newest READY snapshot's age
    against the schedule's period, generations held against wanted. Never-snapshotted
    and stale disks come first.

    A disk is stale when its newest READY snapshot is older than the schedule's latest
    slot that should be done by now (its cron's latest fire before now - grace): for a
    regular cron, older than period + grace. Exit code 3 when any disk is stale, never
    snapshotted, labelled for a schedule without a job, or badly labelled; 4 when a
    project could not be read.

    \b
    Examples:
      snapkeeper status
      snapkeeper status --problems --grace 2h
      snapkeeper status --schedule weekly --cron "0 4 * * 0" --json
      snapkeeper status --org 123456789012 --filter labels.env=prod

    With --org or --folder the disks come from Cloud Asset Inventory, a few requests
    for the whole tree: every labelled disk without a fresh READY snapshot, and every
    disk with no schedule label at all (unprotected). Asset Inventory is eventually
    consistent, so the last minutes' changes may not show yet.
    """
    if organization or folder:
        org_status(
            app, organization, folder, project_filter, schedule_names, cron, time_zone,
            grace, at, problems, as_json,
        )  # fmt: skip
        return
    if project_filter:
        raise click.UsageError("--filter goes with --org or --folder")
    config = app.config
    chosen = target_projects(app, projects)
    cadence = timings(app, schedule_names, cron, time_zone)
    at = at or now()
    with Progress(
        TextColumn("listing disks and snapshots"),
        BarColumn(),
        MofNCompleteColumn(),
        console=app.err,
        transient=True,
        disable=as_json or not app.err.is_terminal,
    ) as bar:
        task = bar.add_task("survey", total=None)
        found = coverage.survey(
            chosen,
            config,
            app.gateway,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    rows = coverage.coverage(
        found,
        cadence,
        now=at,
        grace=grace,
        prefix=config.label_prefix,
        schedules=schedule_names,
        keep_floor=config.keep_floor,
    )
    shown = [row for row in rows if row.problem] if problems else rows
    if as_json:
        print_json(
            {
                "now": at,
                "grace_seconds": grace.total_seconds(),
                "disks": shown,
                "problems": sum(1 for row in rows if row.problem),
                "failed_projects": found.failures,
            }
        )
    else:
        _render(app, shown, found.failures, len(rows))
    if any(row.problem for row in rows):
        raise click.exceptions.Exit(ExitCode.ATTENTION)
    if found.failures:
        raise click.exceptions.Exit(ExitCode.API)


def _render(
    app: App,
    rows: list[coverage.Coverage],
    failures: list[coverage.ProjectFailure],
    total: int,
    generations: bool = True,
) -> None:
    """The coverage table; without `generations` (the organization's view, which reads
    only fresh snapshots) the held/wanted column shows the wanted N alone."""
    grid = table(
        None, "state", "project", "location", "disk", "schedule", "newest READY", "age",
        "period", "held/wanted", "note",
    )  # fmt: skip
    notes = Notes(app.out)
    for row in rows:
        wanted = str(row.wanted) if row.wanted is not None else "-"
        held = f"{row.held}/{wanted}" + (f" +{row.pinned} pinned" if row.pinned else "")
        held = held if generations else f"-/{wanted}"
        style = STATE_STYLE[row.state]
        grid.add_row(
            f"[{style}]{row.state}[/]", row.project, row.location, row.disk, row.schedule,
            f"{row.newest}\n{when(row.newest_taken)}" if row.newest else "-",
            span(row.age), span(row.period), held, notes.cell(row.reason),
        )  # fmt: skip
    app.out.print(grid)
    notes.print(app.out)
    for failure in failures:
        app.out.print(f"[red]project {failure.project} not read:[/] {failure.error}")
    problems = sum(1 for row in rows if row.problem)
    app.out.print(f"{total} disk schedules, {problems} need attention")


CONSISTENCY_NOTE = (
    "Cloud Asset Inventory is eventually consistent: changes of the last minutes may not "
    "show yet. Nothing is changed or pruned from this view."
)


def org_status(
    app: App,
    organization: str | None,
    folder: str | None,
    project_filter: str | None,
    schedule_names: tuple[str, ...],
    cron: str | None,
    time_zone: str | None,
    grace: timedelta,
    at: datetime | None,
    problems: bool,
    as_json: bool,
) -> None:
    """`status --org/--folder`: coverage and unprotected disks from Asset Inventory."""
    try:
        scope = inventory.scope_of(organization, folder)
        if project_filter:
            inventory.check_filter(project_filter)
    except SnapkeeperError as exc:
        raise click.UsageError(str(exc)) from None
    config = app.config
    cadence = timings(app, schedule_names, cron, time_zone)
    at = at or now()
    since = inventory.oldest_due(cadence, at, grace)
    search = inventory.Inventory(config.asset_emulator_host)
    found = inventory.survey(scope, config, search, project_filter=project_filter, since=since)
    rows = coverage.coverage(
        found.survey,
        cadence,
        now=at,
        grace=grace,
        prefix=config.label_prefix,
        schedules=schedule_names,
        keep_floor=config.keep_floor,
    )
    if since is not None:  # older snapshots were not read: "never" means "not since"
        rows = [
            dataclasses.replace(
                row, state=coverage.STALE, reason=f"no READY snapshot since {when(since)}"
            )
            if row.state == coverage.NEVER
            else row
            for row in rows
        ]
    shown = [row for row in rows if row.problem] if problems else rows
    attention = sum(1 for row in rows if row.problem) + len(found.unprotected)
    if as_json:
        print_json(
            {
                "scope": scope,
                "filter": project_filter,
                "now": at,
                "grace_seconds": grace.total_seconds(),
                "snapshots_since": since,
                "disks": shown,
                "unprotected": found.unprotected,
                "projects_matched": found.projects_matched,
                "problems": attention,
                "requests": found.requests,
                "note": CONSISTENCY_NOTE,
            }
        )
    else:
        _render(app, shown, [], len(rows), generations=False)
        grid = table("unprotected: no schedule label", "project", "location", "disk")
        for disk in found.unprotected:
            grid.add_row(disk.project, disk.location, disk.name)
        app.out.print(grid)
        app.out.print(
            f"{scope}: {len(found.unprotected)} unprotected disks; "
            f"{found.requests} Asset Inventory requests"
        )
        app.out.print(CONSISTENCY_NOTE, style="dim")
    if attention:
        raise click.exceptions.Exit(ExitCode.ATTENTION)

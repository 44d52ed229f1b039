"""`status`: the coverage report, for people and for monitoring (exit code 3)."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from snapkeeper import coverage, schedules, slots
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
    The drilled column: the date of the disk's last successful restore drill
    (snapkeeper drill), from the label it leaves on the snapshot it restored.

    \b
    Examples:
      snapkeeper status
      snapkeeper status --problems --grace 2h
      snapkeeper status --schedule weekly --cron "0 4 * * 0" --json
    """
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
) -> None:
    grid = table(
        None, "state", "project", "location", "disk", "schedule", "newest READY", "age",
        "period", "held/wanted", "drilled", "note",
    )  # fmt: skip
    notes = Notes(app.out)
    for row in rows:
        wanted = str(row.wanted) if row.wanted is not None else "-"
        held = f"{row.held}/{wanted}" + (f" +{row.pinned} pinned" if row.pinned else "")
        style = STATE_STYLE[row.state]
        grid.add_row(
            f"[{style}]{row.state}[/]", row.project, row.location, row.disk, row.schedule,
            f"{row.newest}\n{when(row.newest_taken)}" if row.newest else "-",
            span(row.age), span(row.period), held, _drilled(row.last_drilled),
            notes.cell(row.reason),
        )  # fmt: skip
    app.out.print(grid)
    notes.print(app.out)
    for failure in failures:
        app.out.print(f"[red]project {failure.project} not read:[/] {failure.error}")
    problems = sum(1 for row in rows if row.problem)
    app.out.print(f"{total} disk schedules, {problems} need attention")


def _drilled(date: str) -> str:
    """yyyymmdd as yyyy-mm-dd; "-" for a disk never drilled."""
    return f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else (date or "-")

"""`status`: the coverage report, for people and for monitoring (exit code 3)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from snapkeeper import costs, coverage, inventory, schedules, slots
from snapkeeper.cli import common
from snapkeeper.cli.common import App, ExitCode, Repeated, json_option, pass_app, projects_option
from snapkeeper.config import Config
from snapkeeper.errors import ConfigError, SnapkeeperError

STATE_STYLE = {
    coverage.NEVER: "bold red",
    coverage.STALE: "red",
    coverage.NO_JOB: "red",
    coverage.INVALID: "yellow",
    coverage.OK: "green",
    coverage.EXCLUDED: "dim",
}


def timings(
    app: App, schedule_names: Repeated, cron: str | None, time_zone: str | None
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
@projects_option
@click.option("--cron", help="The schedule's cron, instead of its Scheduler job's.")
@click.option("--time-zone", help="Time zone of --cron (default Etc/UTC).")
@click.option(
    "--grace", type=common.DURATION, default="1h", show_default=True,
    help="How long after its slot a snapshot may take before the disk counts as stale.",
)  # fmt: skip
@click.option(
    "--now", "at", type=common.TIME, help="Judge coverage as of this time (default: now)."
)
@click.option("--problems", is_flag=True, help="Only list disks that need attention.")
@click.option(
    "--cost",
    is_flag=True,
    help="Show what the snapshots cost to keep instead: per project, schedule and disk, "
    "the top disks, and each project's SNAPSHOTS quota.",
)
@click.option(
    "--prices",
    metavar="standard=USD,archive=USD",
    help=f"USD per GiB-month for --cost (default: list prices of {costs.PRICES_AS_OF}: "
    f"standard={costs.LIST_PRICES['standard']}, archive={costs.LIST_PRICES['archive']}).",
)
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
    schedule_names: Repeated,
    projects: Repeated,
    cron: str | None,
    time_zone: str | None,
    grace: timedelta,
    at: datetime | None,
    problems: bool,
    cost: bool,
    prices: str | None,
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
    The drilled column: the date of the disk's last successful restore drill
    (snapkeeper drill), from the label it leaves on the snapshot it restored.

    \b
    Examples:
      snapkeeper status
      snapkeeper status --problems --grace 2h
      snapkeeper status --schedule weekly --cron "0 4 * * 0" --json
      snapkeeper status --cost --prices standard=0.065,archive=0.024
      snapkeeper status --org 123456789012 --filter labels.env=prod

    Snapshots of deleted disks (orphans) are listed after the disks, with their age and
    size. With --cost: per project, schedule and disk the snapshots held, their
    storageBytes and an estimated monthly cost at list prices (STANDARD and ARCHIVE
    apart), the 10 disks that cost most, and the SNAPSHOTS quota of each project where
    snapshots are kept (projects.get).

    With --org or --folder the disks come from Cloud Asset Inventory, a few requests
    for the whole tree: every labelled disk without a fresh READY snapshot, and every
    disk with no schedule label at all (unprotected). Asset Inventory is eventually
    consistent, so the last minutes' changes may not show yet.
    """
    if (organization or folder) and cost:
        raise click.UsageError("--cost reads each project's snapshots: use -p, not --org/--folder")
    if organization or folder:
        org_status(
            app, organization, folder, project_filter, schedule_names, cron, time_zone,
            grace, at, problems, as_json,
        )  # fmt: skip
        return
    if project_filter:
        raise click.UsageError("--filter goes with --org or --folder")
    config = app.config
    chosen = common.target_projects(app, projects)
    try:
        price_table = costs.parse_prices(prices) if prices else costs.Prices()
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--prices") from None
    cadence = {} if cost else timings(app, schedule_names, cron, time_zone)
    at = at or common.now()
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
    if cost:
        _cost(app, found, chosen, price_table, as_json)
        return
    orphans = [o.summary(at) for o in found.orphans(config.deployment_id)]
    orphans = [o for o in orphans if not schedule_names or o["schedule"] in schedule_names]
    rows = _assess(found, cadence, at, grace, schedule_names, config)
    shown = [row for row in rows if row.problem] if problems else rows
    if as_json:
        common.print_json(
            {
                "now": at,
                "grace_seconds": grace.total_seconds(),
                "disks": shown,
                "problems": sum(1 for row in rows if row.problem),
                "failed_projects": found.failures,
                "orphans": orphans,
                "orphan_policy": str(config.orphan_policy),
            }
        )
    else:
        _render(app, shown, found.failures, len(rows))
        if orphans:
            fate = [str(config.orphan_policy)] * len(orphans)
            app.out.print(
                common.orphan_table("snapshots of deleted disks (orphans)", orphans, fate)
            )
            app.out.print(
                f"{len(orphans)} deleted disk schedules hold orphans "
                f"({common.size(sum(o['storage_bytes'] for o in orphans))}); "
                f"ORPHAN_POLICY={config.orphan_policy}"
            )
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
    grid = common.table(
        None, "state", "project", "location", "disk", "schedule", "newest READY", "age",
        "period", "held/wanted", "drilled", "note",
    )  # fmt: skip
    notes = common.Notes(app.out)
    for row in rows:
        wanted = str(row.wanted) if row.wanted is not None else "-"
        held = f"{row.held}/{wanted}" + (f" +{row.pinned} pinned" if row.pinned else "")
        held = held if generations else f"-/{wanted}"
        style = STATE_STYLE[row.state]
        grid.add_row(
            f"[{style}]{row.state}[/]", row.project, row.location, row.disk, row.schedule,
            f"{row.newest}\n{common.when(row.newest_taken)}" if row.newest else "-",
            common.span(row.age), common.span(row.period), held, _drilled(row.last_drilled),
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


def _cost(
    app: App,
    found: coverage.Survey,
    projects: list[str],
    prices: costs.Prices,
    as_json: bool,
) -> None:
    where = coverage.snapshot_projects(projects, app.config)
    report = costs.report(found.all_snapshots(), found.disk_ids, where, app.gateway, prices)
    if as_json:
        common.print_json(
            {
                "prices": {
                    "standard_usd_per_gib_month": prices.standard,
                    "archive_usd_per_gib_month": prices.archive,
                    "as_of": prices.as_of,
                },
                "disks": [_cost_json(row) for row in report.rows],
                "top_disks": [_cost_json(row) for row in report.top_disks],
                "projects": [_cost_json(row) for row in report.projects],
                "quotas": report.quotas,
                "storage_bytes": report.storage_bytes,
                "monthly_usd": round(report.monthly, 2),
                "failed_projects": found.failures,
            }
        )
    else:
        _render_cost(app, report, found.failures)
    if found.failures:
        raise click.exceptions.Exit(ExitCode.API)


def _cost_json(row: costs.DiskCost) -> dict[str, object]:
    return {
        "project": row.project,
        "location": row.location,
        "disk": row.disk,
        "disk_id": row.disk_id,
        "schedule": row.schedule,
        "orphan": row.orphan,
        "snapshots": row.snapshots,
        "storage_bytes": row.storage_bytes,
        "standard_bytes": row.standard_bytes,
        "archive_bytes": row.archive_bytes,
        "standard_usd": round(row.standard_cost, 4),
        "archive_usd": round(row.archive_cost, 4),
        "monthly_usd": round(row.monthly, 4),
    }


def _cost_rows(grid: Table, rows: list[costs.DiskCost]) -> None:
    for row in rows:
        disk = f"{row.disk} (gone)" if row.orphan else row.disk
        grid.add_row(
            row.project, row.schedule, disk, str(row.snapshots), common.size(row.storage_bytes),
            f"${row.standard_cost:,.2f}", f"${row.archive_cost:,.2f}", f"${row.monthly:,.2f}",
        )  # fmt: skip


def _render_cost(
    app: App, report: costs.CostReport, failures: list[coverage.ProjectFailure]
) -> None:
    prices = report.prices
    columns = ("project", "schedule", "disk", "snapshots", "size", "standard", "archive", "month")
    grid = common.table("estimated monthly cost per project, schedule and disk", *columns)
    _cost_rows(grid, report.rows)
    app.out.print(grid)
    top = common.table(f"top {len(report.top_disks)} disks by cost (every schedule)", *columns)
    _cost_rows(top, report.top_disks)
    app.out.print(top)
    per_project = common.table("per project (every disk and schedule)", *columns)
    _cost_rows(per_project, report.projects)
    app.out.print(per_project)
    quotas = common.table("SNAPSHOTS quota", "project", "used", "limit", "share")
    for quota in report.quotas:
        if quota.usage is None or quota.limit is None:
            quotas.add_row(quota.project, "-", "-", f"[red]not read:[/] {quota.error}")
            continue
        share = quota.usage / quota.limit if quota.limit else 1.0
        style = "red" if share >= 0.9 else "yellow" if share >= 0.75 else "green"
        quotas.add_row(
            quota.project, f"{quota.usage:.0f}", f"{quota.limit:.0f}", f"[{style}]{share:.0%}[/]"
        )
    app.out.print(quotas)
    for failure in failures:
        app.out.print(f"[red]project {failure.project} not read:[/] {failure.error}")
    app.out.print(
        f"{len(report.rows)} disk schedules, {common.size(report.storage_bytes)}, about "
        f"${report.monthly:,.2f} a month at standard ${prices.standard}/GiB-month and "
        f"archive ${prices.archive}/GiB-month (prices of {prices.as_of})"
    )


def _assess(
    found: coverage.Survey,
    cadence: dict[str, coverage.Timing | None],
    at: datetime,
    grace: timedelta,
    schedule_names: Repeated,
    config: Config,
) -> list[coverage.Coverage]:
    """Each disk and schedule judged against its cadence, as of `at`."""
    return coverage.coverage(
        found,
        cadence,
        now=at,
        grace=grace,
        prefix=config.label_prefix,
        schedules=schedule_names,
        keep_floor=config.keep_floor,
    )


CONSISTENCY_NOTE = (
    "Cloud Asset Inventory is eventually consistent: changes of the last minutes may not "
    "show yet. Nothing is changed or pruned from this view."
)


def org_status(
    app: App,
    organization: str | None,
    folder: str | None,
    project_filter: str | None,
    schedule_names: Repeated,
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
    at = at or common.now()
    since = inventory.oldest_due(cadence, at, grace)
    search = inventory.Inventory(config.endpoints.asset)
    found = search.survey(scope, config, project_filter=project_filter, since=since)
    rows = _assess(found.survey, cadence, at, grace, schedule_names, config)
    if since is not None:  # older snapshots were not read: "never" means "not since"
        rows = [
            dataclasses.replace(
                row, state=coverage.STALE, reason=f"no READY snapshot since {common.when(since)}"
            )
            if row.state == coverage.NEVER
            else row
            for row in rows
        ]
    shown = [row for row in rows if row.problem] if problems else rows
    attention = sum(1 for row in rows if row.problem) + len(found.unprotected)
    if as_json:
        common.print_json(
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
        grid = common.table("unprotected: no schedule label", "project", "location", "disk")
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

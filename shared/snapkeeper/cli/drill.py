"""`drill`: a restore drill by hand, with the core the scheduled drills run."""

from __future__ import annotations

import time
from dataclasses import dataclass

import click

from snapkeeper import drill as drilling
from snapkeeper.cli.common import (
    App,
    ExitCode,
    Repeated,
    json_option,
    now,
    pass_app,
    print_json,
    projects_option,
    table,
    timeout_option,
)
from snapkeeper.errors import SnapkeeperError
from snapkeeper.messages import MAX_DRILL_SAMPLE, DrillItem, DrillTick


@dataclass(frozen=True)
class Row:
    """One disk's drill, for the table and --json."""

    project: str
    disk: str
    snapshot: str
    status: str  # OK, GONE, or FAILED
    seconds: float | None = None
    size_gb: int = 0
    swept: tuple[str, ...] = ()
    error: str = ""


@click.command()
@projects_option
@click.option(
    "--sample", "-k", type=click.IntRange(1, MAX_DRILL_SAMPLE),
    help="Disks to drill (default DRILL_SAMPLE): never drilled first, then the longest ago.",
)  # fmt: skip
@timeout_option(600.0, "each scratch disk to be READY")
@json_option
@pass_app
def drill(app: App, projects: Repeated, sample: int | None, timeout: float, as_json: bool) -> None:
    """Run a restore drill now: pick disks as the scheduled drill does, restore each
    one's newest READY managed snapshot to a scratch disk in SCRATCH_PROJECT and
    SCRATCH_ZONE, time it until READY, delete the scratch disk and label the snapshot
    snapkeeper-drilled. Exit code 4 when a drill failed.

    \b
    Examples:
      snapkeeper drill
      snapkeeper drill -p prod-db-2 --sample 3 --json
    """
    config = app.config
    plan = drilling.plan_drill(
        DrillTick(projects=projects, sample=sample), now(), config, app.gateway
    )
    for failure in plan.failures:
        app.note(f"[yellow]project {failure.project} not drilled:[/] {failure.error}")
    if not plan.items:
        app.note("no disk with a READY managed snapshot to drill")
    app.note(f"drill {plan.slot}: {len(plan.items)} of {plan.candidates} disks")
    rows = [_run(app, item, timeout) for item in plan.items]
    if as_json:
        print_json({"slot": plan.slot, "candidates": plan.candidates, "drills": rows})
    else:
        _render(app, rows)
    if plan.failures or any(row.status == "FAILED" for row in rows):
        raise click.exceptions.Exit(ExitCode.API)


def _run(app: App, item: DrillItem, timeout: float) -> Row:
    where = f"{item.project}/{item.disk}"
    app.note(f"{where}: drilling {item.snapshot}")
    try:
        done = drilling.run_drill(
            item,
            app.config,
            app.gateway,
            deadline=time.monotonic() + timeout,
            say=lambda message: app.note(f"{where}: {message}"),
        )
    except SnapkeeperError as exc:  # a ComputeError among them
        app.note(f"[red]{where}: drill failed:[/] {exc}")
        return Row(item.project, item.disk, item.snapshot, "FAILED", error=str(exc))
    return Row(
        item.project, item.disk, item.snapshot, done.status, done.seconds, done.size_gb,
        done.swept,
    )  # fmt: skip


def _render(app: App, rows: list[Row]) -> None:
    grid = table(None, "result", "project", "disk", "snapshot", "time to READY", "size")
    for row in rows:
        style = {"OK": "green", "GONE": "yellow"}.get(row.status, "red")
        seconds = f"{row.seconds:.1f} s" if row.seconds is not None else "-"
        size = f"{row.size_gb} GB" if row.size_gb else "-"
        grid.add_row(
            f"[{style}]{row.status}[/]", row.project, row.disk, row.snapshot, seconds, size
        )
    app.out.print(grid)
    failed = sum(1 for row in rows if row.status == "FAILED")
    app.out.print(f"{len(rows)} disks drilled, {failed} failed")

"""`schedule`: the Cloud Scheduler jobs that tick each schedule."""

from __future__ import annotations

from collections.abc import Callable

import click

from snapkeeper import options, schedules
from snapkeeper.cli.common import App, json_option, pass_app, print_json, table, when
from snapkeeper.config import Config
from snapkeeper.options import ScheduleOptions


def _render(app: App, jobs: list[schedules.ScheduleJob]) -> None:
    grid = table(None, "schedule", "cron", "time zone", "state", "next run", "last attempt")
    for job in jobs:
        last = f"{when(job.last_attempt)} {job.last_status}" if job.last_attempt else "-"
        cron = job.cron if job.in_step else f"{job.cron} [red](payload out of step)[/]"
        grid.add_row(job.schedule, cron, job.time_zone, job.state, when(job.next_run), last)
    app.out.print(grid)


def _show(app: App, jobs: list[schedules.ScheduleJob], as_json: bool) -> None:
    if as_json:
        print_json([{**vars(job), "in_step": job.in_step} for job in jobs])
    else:
        _render(app, jobs)


@click.group()
def schedule() -> None:
    """The Cloud Scheduler jobs (snapkeeper-<schedule>) that publish each schedule's
    ticks.

    \b
    Examples:
      snapkeeper schedule list
      snapkeeper schedule set daily --cron "0 3 * * *" --time-zone Asia/Tokyo
      snapkeeper schedule pause hourly
    """


@schedule.command("list")
@json_option
@pass_app
def list_(app: App, as_json: bool) -> None:
    """Every schedule's job: cron, time zone, state, next run, last attempt.

    \b
    Example:
      snapkeeper schedule list --json
    """
    _show(app, schedules.list_jobs(app.config), as_json)


@schedule.command()
@click.argument("name")
@json_option
@pass_app
def show(app: App, name: str, as_json: bool) -> None:
    """One schedule's job.

    \b
    Example:
      snapkeeper schedule show daily
    """
    _show(app, [schedules.require_job(app.config, name)], as_json)


@schedule.command("set")
@click.argument("name")
@click.option("--cron", help='Unix cron, e.g. "0 3 * * *" (required for a new schedule).')
@click.option("--time-zone", help="IANA time zone, e.g. Asia/Tokyo (new schedules: Etc/UTC).")
@click.option(
    "--options",
    "option_text",
    help='Schedule options, e.g. "type=ARCHIVE,max-age=400d" ("" removes them; default: '
    "keep the job's).",
)
@json_option
@pass_app
def set_(
    app: App,
    name: str,
    cron: str | None,
    time_zone: str | None,
    option_text: str | None,
    as_json: bool,
) -> None:
    """Create the schedule's job, or change its cron, time zone or options (only what
    changed; the tick payload follows the job's schedule and keeps its options unless
    --options is given).

    \b
    Examples:
      snapkeeper schedule set daily --cron "0 3 * * *" --time-zone Asia/Tokyo
      snapkeeper schedule set daily --time-zone Europe/Paris
      snapkeeper schedule set monthly --options "type=ARCHIVE,max-age=400d,min-keep=2"
    """
    chosen = None
    if option_text is not None:
        chosen = options.parse_text(option_text) if option_text.strip() else ScheduleOptions()
    job, changed = schedules.set_job(app.config, name, cron, time_zone, chosen)
    if as_json:
        print_json({"job": {**vars(job), "in_step": job.in_step}, "changed": changed})
        return
    if changed == ["created"]:
        app.out.print(f"created {job.name}")
    elif changed:
        app.out.print(f"updated {job.name}: {', '.join(changed)}")
    else:
        app.out.print(f"{job.name} is already set so: nothing changed")
    _render(app, [job])


def _action(
    verb: str, call: Callable[[Config, str], schedules.ScheduleJob], help_text: str
) -> click.Command:
    @click.argument("name")
    @json_option
    @pass_app
    def command(app: App, name: str, as_json: bool) -> None:
        job = call(app.config, name)
        if as_json:
            print_json({**vars(job), "in_step": job.in_step})
        else:
            app.out.print(f"{verb}: {job.name} ({job.state})")

    command.__doc__ = help_text
    return schedule.command(verb)(command)


_action(
    "pause",
    schedules.pause,
    "Pause a schedule's job: no ticks until it is resumed.\n\n"
    "\b\nExample:\n  snapkeeper schedule pause hourly",
)
_action(
    "resume",
    schedules.resume,
    "Resume a paused schedule's job.\n\n\b\nExample:\n  snapkeeper schedule resume hourly",
)
_action(
    "run",
    schedules.run,
    "Fire a schedule's job now: Cloud Scheduler publishes its tick as on schedule (the "
    "latest slot is filled where it is missing).\n\n"
    "\b\nExample:\n  snapkeeper schedule run daily",
)

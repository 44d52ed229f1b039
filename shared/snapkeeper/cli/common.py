"""What every command shares: the settings, the exit codes, one-line errors, `--json`
or rich output, and the time and duration parameters."""

from __future__ import annotations

import enum
import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from rich.console import Console
from rich.table import Table

from snapkeeper import slots
from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper.errors import ApiError, ComputeError, SnapkeeperError, TransientError
from snapkeeper.hierarchy import Scope
from snapkeeper.options import ScheduleOptions

# The values of a repeatable option (multiple=True), in the order given.
Repeated = tuple[str, ...]


class ExitCode(enum.IntEnum):
    """The CLI's exit codes (the README's table is tested against this)."""

    OK = 0
    UNEXPECTED = 1  # a bug, or a confirmation declined
    USAGE = 2  # bad option, configuration, name or state
    ATTENTION = 3  # `status` found disks that need attention
    API = 4  # an API failed, or a project could not be read, or a replay kept letters


ENV_PREFIX = "SNAPKEEPER"

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """Per invocation: settings from the environment (plus the root options), clients
    built only when a command needs them."""

    def __init__(self, overrides: Mapping[str, str]) -> None:
        self.overrides = dict(overrides)

    @functools.cached_property
    def config(self) -> Config:
        return Config.from_env({**os.environ, **self.overrides})

    @functools.cached_property
    def gateway(self) -> ComputeGateway:
        return ComputeGateway.for_config(self.config)

    @functools.cached_property
    def out(self) -> Console:
        return Console(soft_wrap=False)

    @functools.cached_property
    def err(self) -> Console:
        return Console(stderr=True)

    def note(self, message: str) -> None:
        """A remark for people, on stderr so that stdout stays machine-readable."""
        self.err.print(message, highlight=False)


pass_app = click.make_pass_decorator(App)


def exit_code(exc: BaseException) -> tuple[int, str]:
    """The exit code and one-line message of an error a command let through."""
    if isinstance(exc, ComputeError | ApiError | TransientError):
        return ExitCode.API, str(exc)
    if isinstance(exc, SnapkeeperError):
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return ExitCode.USAGE, f"no credentials: {exc}"
    if isinstance(exc, gexc.GoogleAPICallError):
        return ExitCode.API, f"{exc.code or ''} {exc.message}".strip()
    if isinstance(exc, gexc.GoogleAPIError | requests.RequestException | TimeoutError):
        return ExitCode.API, f"{type(exc).__name__}: {exc}"
    return ExitCode.UNEXPECTED, f"unexpected {type(exc).__name__}: {exc}"


class Root(click.Group):
    """The top-level group: turns any error of any command into one line on stderr and
    an exit code, never a traceback (unless --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            code, message = exit_code(exc)
            click.echo(f"snapkeeper: error: {message}", err=True)
            ctx.exit(code)


def json_option(function: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for machines instead of tables."
    )(function)


# Repeatable -p, as every command that reads many projects takes it.
projects_option = click.option(
    "--project", "-p", "projects", multiple=True, help="Only this project (repeatable)."
)


def timeout_option(seconds: float, what: str) -> Callable[[F], F]:
    """--timeout: how long a command waits for the disks it makes."""
    return click.option(
        "--timeout", type=float, default=seconds, show_default=True,
        help=f"Seconds to wait for {what}.",
    )  # fmt: skip


def to_jsonable(value: Any) -> Any:
    if isinstance(value, ScheduleOptions):
        return value.to_mapping()  # as the config and the ticks write them
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in fields(value)
            if f.metadata.get("json", True)  # working state, not part of the answer
        }
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def print_json(data: Any) -> None:
    click.echo(json.dumps(to_jsonable(data), indent=2, sort_keys=True))


def table(title: str | None, *columns: str) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    return grid


# Below this many columns a long free-text cell (a reason, a note) would squeeze every
# other column to a few letters: it goes beneath the table instead, behind a number.
WIDE_TABLE = 120


class Notes:
    """Long free text of one table: in its cell on a wide terminal, else numbered
    beneath the table."""

    def __init__(self, console: Console) -> None:
        self.beneath = console.width < WIDE_TABLE
        self.texts: list[str] = []

    def cell(self, text: str) -> str:
        if not self.beneath or not text:
            return text
        self.texts.append(text)
        return f"({len(self.texts)})"

    def print(self, console: Console) -> None:
        for number, text in enumerate(self.texts, 1):
            console.print(f"({number}) {text}", highlight=False, markup=False)


def orphan_table(title: str, summaries: list[dict[str, Any]], fate: list[str]) -> Table:
    """Orphans (orphans.Orphans.summary) with what becomes of each (`fate`)."""
    grid = table(
        title, "project", "location", "disk (gone)", "disk id", "schedule", "snapshots",
        "size", "oldest", "newest", "ORPHAN_POLICY",
    )  # fmt: skip
    for row, what in zip(summaries, fate, strict=True):
        grid.add_row(
            row["project"], row["location"], row["disk"], row["disk_id"], row["schedule"],
            str(row["snapshots"]), size(row["storage_bytes"]),
            span(_age(row["oldest_age_seconds"])), span(_age(row["newest_age_seconds"])), what,
        )  # fmt: skip
    return grid


def _age(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def span(value: timedelta | None) -> str:
    """A duration as people read it: 3d4h, 5h12m, 40m."""
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    sign, minutes = ("-", -minutes) if minutes < 0 else ("", minutes)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours}h"
    return f"{sign}{hours}h{minutes:02d}m" if hours else f"{sign}{minutes}m"


def size(storage_bytes: int) -> str:
    """Bytes as people read them: 512 B, 3.2 GiB."""
    value = float(storage_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


class TimeParam(click.ParamType):
    """An RFC 3339 time with a UTC offset (2026-03-01T03:00:00Z)."""

    name = "RFC3339"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return slots.parse_time(str(value))
        except SnapkeeperError as exc:
            self.fail(str(exc), param, ctx)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class DurationParam(click.ParamType):
    """A duration such as 90m, 2h, 1d12h."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        match = _DURATION.match(str(value).strip())
        if not match or not any(match.groups()):
            self.fail(f"{value!r} is not a duration like 90m, 2h or 1d12h", param, ctx)
        days, hours, minutes = (int(part or 0) for part in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes)


TIME = TimeParam()
DURATION = DurationParam()


def now() -> datetime:
    return datetime.now(UTC)


def target_projects(app: App, projects: Repeated) -> list[str]:
    """The projects a read-only command looks at: those given, else the allow-list."""
    chosen = sorted(set(projects)) or Scope(app.config).projects()
    if not chosen:
        raise click.UsageError("TARGET_PROJECTS is empty: give --project")
    return chosen

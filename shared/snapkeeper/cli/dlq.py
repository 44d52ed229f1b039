"""`dlq`: read, replay and purge the dead-letter subscription without losing anything.

Reading pulls every message and holds it (not acked); whatever a command does not ack
on purpose is released at the end (ack deadline 0), so it is there for the next reader.
A replay acks a dead letter only after its republished copy is confirmed.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click
from google.api_core import exceptions as gexc

from snapkeeper import clients
from snapkeeper.cli.common import App, ExitCode, Repeated, json_option, pass_app, print_json, table
from snapkeeper.config import Config
from snapkeeper.deadletter import REPLAY_ATTRIBUTE, DeadLetter, replay_topic

PULL_BATCH = 500
ACK_BATCH = 1000  # ack ids per acknowledge / modify_ack_deadline call
TIMEOUT = 30.0
PUBLISH_TIMEOUT = 60.0
DEFAULT_LIMIT = 10_000


@dataclass
class Held:
    """Dead letters pulled and held (by message id, with their latest ack id)."""

    config: Config
    letters: dict[str, DeadLetter] = field(default_factory=dict)
    ack_ids: dict[str, str] = field(default_factory=dict)

    @property
    def subscription(self) -> str:
        return (
            f"projects/{self.config.host_project}/subscriptions/"
            f"{self.config.dead_letter_subscription}"
        )

    def ack(self, message_ids: Iterable[str]) -> None:
        ids = [self.ack_ids.pop(m) for m in message_ids if m in self.ack_ids]
        subscriber = clients.subscriber(self.config.endpoints.pubsub)
        for chunk in _chunks(ids):
            subscriber.acknowledge(subscription=self.subscription, ack_ids=chunk, timeout=TIMEOUT)

    def release(self) -> None:
        ids = list(self.ack_ids.values())
        self.ack_ids.clear()
        subscriber = clients.subscriber(self.config.endpoints.pubsub)
        for chunk in _chunks(ids):
            subscriber.modify_ack_deadline(
                subscription=self.subscription,
                ack_ids=chunk,
                ack_deadline_seconds=0,
                timeout=TIMEOUT,
            )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), ACK_BATCH):
        yield items[start : start + ACK_BATCH]


@contextlib.contextmanager
def held_letters(config: Config, limit: int = DEFAULT_LIMIT) -> Iterator[Held]:
    """Pull up to `limit` dead letters and hold them; release the unacked ones on exit,
    whatever happens."""
    held = Held(config)
    subscriber = clients.subscriber(config.endpoints.pubsub)
    try:
        while len(held.letters) < limit:
            try:
                response = subscriber.pull(
                    subscription=held.subscription,
                    max_messages=min(PULL_BATCH, limit - len(held.letters)),
                    return_immediately=True,
                    timeout=TIMEOUT,
                )
            except gexc.DeadlineExceeded:
                break
            if not response.received_messages:
                break
            for received in response.received_messages:
                message = received.message
                if message.message_id in held.ack_ids:
                    # Redelivered while held: the newer ack id is the valid one.
                    held.ack_ids[message.message_id] = received.ack_id
                    continue
                held.ack_ids[message.message_id] = received.ack_id
                held.letters[message.message_id] = DeadLetter(
                    message_id=message.message_id,
                    payload=bytes(message.data),
                    attributes=dict(message.attributes),
                    publish_time=_publish_time(message),
                )
        yield held
    finally:
        held.release()


def _publish_time(message: Any) -> datetime | None:
    value = getattr(message, "publish_time", None)
    return value if isinstance(value, datetime) and value.timestamp() > 0 else None


def _describe(letter: DeadLetter, config: Config, *, full: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "message_id": letter.message_id,
        "error_class": letter.error_class,
        "error": letter.error,
        "attempts": letter.attempts,
        "time": letter.time,
        "function": letter.attributes.get("function", ""),
        "project": letter.field("project"),
        "location": letter.field("location"),
        "disk": letter.field("disk"),
        "schedule": letter.field("schedule") or letter.field("kind"),  # "drill"
        "slot": letter.field("slot"),
        "replays_to": (replay_topic(letter, config) or "").rsplit("/", 1)[-1] or None,
    }
    if full:
        row["attributes"] = dict(letter.attributes)
        row["payload"] = letter.body if letter.body is not None else letter.payload
    return row


def _select(
    held: Held,
    message_ids: Repeated,
    everything: bool,
    project: str | None,
    error_class: str | None,
) -> list[DeadLetter]:
    """The letters a command acts on: by id, or all (optionally filtered)."""
    if message_ids and everything:
        raise click.UsageError("give message ids or --all, not both")
    if message_ids:
        missing = [m for m in message_ids if m not in held.letters]
        if missing:
            raise click.UsageError(f"not in the dead-letter subscription: {', '.join(missing)}")
        chosen = [held.letters[m] for m in message_ids]
    elif everything:
        chosen = list(held.letters.values())
    else:
        raise click.UsageError("give message ids, or --all")
    return [
        letter
        for letter in chosen
        if (not project or letter.field("project") == project)
        and (not error_class or letter.error_class == error_class)
    ]


def _filters(function: Any) -> Any:
    function = click.option("--project", "-p", help="Only dead letters of this project.")(function)
    function = click.option(
        "--error-class", help="Only dead letters with this error class (e.g. ComputeError)."
    )(function)
    return function


def _selection(function: Any) -> Any:
    function = click.argument("message_ids", nargs=-1)(function)
    function = click.option("--all", "everything", is_flag=True, help="Every dead letter.")(
        function
    )
    return _filters(function)


@click.group()
def dlq() -> None:
    """The dead-letter subscription: what failed and why; replay after the fix.

    \b
    Examples:
      snapkeeper dlq list
      snapkeeper dlq show 1234567890
      snapkeeper dlq replay --all --error-class ComputeError
      snapkeeper dlq purge 1234567890 --yes
    """


@dlq.command("list")
@_filters
@click.option("--limit", type=int, default=DEFAULT_LIMIT, show_default=True, help="Read at most.")
@json_option
@pass_app
def list_(
    app: App, project: str | None, error_class: str | None, limit: int, as_json: bool
) -> None:
    """Dead letters grouped by cause (error class, project), then one line each: disk,
    project, error, attempts, time. Nothing is acknowledged.

    \b
    Examples:
      snapkeeper dlq list
      snapkeeper dlq list --project prod-db-2 --json
    """
    config = app.config
    with held_letters(config, limit) as held:
        letters = _select(held, (), True, project, error_class)
    rows = [_describe(letter, config) for letter in letters]
    groups = Counter((row["error_class"], row["project"]) for row in rows)
    by_cause = [
        {"error_class": cls, "project": proj, "count": n}
        for (cls, proj), n in sorted(groups.items(), key=lambda item: -item[1])
    ]
    if as_json:
        print_json({"count": len(rows), "by_cause": by_cause, "messages": rows})
        return
    causes = table("by cause", "count", "error class", "project")
    for group in by_cause:
        causes.add_row(str(group["count"]), group["error_class"], group["project"])
    app.out.print(causes)
    grid = table(
        "dead letters", "message id", "project", "disk / schedule", "error", "attempts", "time"
    )
    for row in rows:
        target = "/".join(p for p in (row["location"], row["disk"]) if p) or "(tick)"
        grid.add_row(
            row["message_id"], row["project"], f"{target}\n{row['schedule']} {row['slot']}",
            f"{row['error_class']}: {row['error']}", row["attempts"], row["time"],
        )  # fmt: skip
    app.out.print(grid)
    app.out.print(f"{len(rows)} dead letters (none acknowledged)")


@dlq.command()
@click.argument("message_id")
@json_option
@pass_app
def show(app: App, message_id: str, as_json: bool) -> None:
    """One dead letter in full: reasons, attributes, payload. Nothing is acknowledged.

    \b
    Example:
      snapkeeper dlq show 1234567890 --json
    """
    config = app.config
    with held_letters(config) as held:
        letter = held.letters.get(message_id)
    if letter is None:
        raise click.UsageError(f"{message_id} is not in the dead-letter subscription")
    row = _describe(letter, config, full=True)
    if as_json:
        print_json(row)
        return
    grid = table(f"dead letter {message_id}", "field", "value")
    for key, value in row.items():
        grid.add_row(key, str(value))
    app.out.print(grid)


@dlq.command()
@_selection
@json_option
@pass_app
def replay(
    app: App,
    message_ids: Repeated,
    everything: bool,
    project: str | None,
    error_class: str | None,
    as_json: bool,
) -> None:
    """Republish dead letters to where they came from (work -> snapkeeper-work, ticks ->
    snapkeeper-ticks), and acknowledge each only once its copy is published. Fix the
    cause first.

    \b
    Examples:
      snapkeeper dlq replay 1234567890 1234567891
      snapkeeper dlq replay --all --project prod-db-2
    """
    config = app.config
    publisher = clients.publisher(config.endpoints.pubsub)
    replayed: dict[str, str] = {}
    failed: dict[str, str] = {}
    with held_letters(config) as held:
        futures = {}
        for letter in _select(held, message_ids, everything, project, error_class):
            topic = replay_topic(letter, config)
            if topic is None:
                failed[letter.message_id] = "cannot tell whether it is a tick or work"
                continue
            attributes = letter.replay_attributes | {REPLAY_ATTRIBUTE: letter.message_id}
            futures[letter.message_id] = publisher.publish(topic, letter.payload, **attributes)
        for message_id, future in futures.items():
            try:
                replayed[message_id] = str(future.result(timeout=PUBLISH_TIMEOUT))
            except Exception as exc:  # kept in the subscription, reported below
                failed[message_id] = f"not republished: {exc}"
        held.ack(replayed)
    if as_json:
        print_json({"replayed": replayed, "failed": failed})
    else:
        for old, new in replayed.items():
            app.out.print(f"replayed {old} as {new}")
        for message_id, why in failed.items():
            app.out.print(f"[red]kept {message_id}:[/] {why}")
        app.out.print(f"{len(replayed)} replayed, {len(failed)} kept")
    if failed:
        raise click.exceptions.Exit(ExitCode.API)


@dlq.command()
@_selection
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_app
def purge(
    app: App,
    message_ids: Repeated,
    everything: bool,
    project: str | None,
    error_class: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Delete dead letters for good (acknowledge them). Asks first unless --yes.

    \b
    Examples:
      snapkeeper dlq purge 1234567890
      snapkeeper dlq purge --all --error-class InvalidMessage --yes
    """
    config = app.config
    with held_letters(config) as held:
        chosen = _select(held, message_ids, everything, project, error_class)
        if chosen and not yes:
            click.confirm(f"Delete {len(chosen)} dead letters for good?", abort=True, err=True)
        held.ack(letter.message_id for letter in chosen)
    purged = [letter.message_id for letter in chosen]
    if as_json:
        print_json({"purged": purged})
    else:
        app.out.print(f"purged {len(purged)} dead letters")

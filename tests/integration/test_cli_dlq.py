"""`snapkeeper dlq ...` on the operators' dead-letter subscription of the local stack:
listing loses nothing, replay round trips, purge asks first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from snapkeeper.cli.common import ExitCode
from snapkeeper.config import Config
from snapkeeper.deadletter import TICK, WORK, DeadLetter, replay_topic
from snapkeeper.messages import Tick, WorkItem
from snapkeeper_local.stack import LocalStack, wait_for
from tests.integration import cli_support
from tests.integration.cli_support import ZONE, Cli, output_json, seed_projects

run_cli = cli_support.run_cli  # the fixture
AT = datetime(2026, 5, 4, 3, 0, tzinfo=UTC)
DAILY = Tick("daily", "0 3 * * *", "Etc/UTC", AT)


@pytest.fixture
def dlq(stack: LocalStack, run_cli: Cli) -> Iterator[Cli]:
    """The CLI, with the dead-letter subscription empty before and after the test."""
    assert run_cli("dlq", "purge", "--all", "--yes").exit_code == 0
    yield run_cli
    run_cli("dlq", "purge", "--all", "--yes")


def listed(run_cli: Cli) -> dict[str, dict[str, str]]:
    result = run_cli("dlq", "list", "--json")
    assert result.exit_code == 0, result.output
    return {m["message_id"]: m for m in output_json(result)["messages"]}


def test_replay_round_trip_loses_nothing(stack: LocalStack, dlq: Cli) -> None:
    world = seed_projects(stack)
    for project, disk in (("prod-app-1", "web"), ("prod-app-1", "api"), ("prod-db-2", "pg")):
        world.seed_disk(project, disk, zone=ZONE, labels={"snapshot-daily": "2"})
    world.set_clock(AT)
    world.add_fault(api_method="compute.snapshots.insert", status=403, reason="forbidden")

    report = stack.run_tick(DAILY)
    assert len(report.dead_letters) == 3

    letters = listed(dlq)
    assert {(m["project"], m["disk"]) for m in letters.values()} == {
        ("prod-app-1", "web"), ("prod-app-1", "api"), ("prod-db-2", "pg"),
    }  # fmt: skip
    assert {m["error_class"] for m in letters.values()} == {"ComputeError"}
    assert all("403" in m["error"] and m["replays_to"] == "snapkeeper-work"
               for m in letters.values())  # fmt: skip
    summary = output_json(dlq("dlq", "list", "--json"))  # listing twice: still all there
    assert summary["count"] == 3
    assert sorted((c["project"], c["count"]) for c in summary["by_cause"]) == [
        ("prod-app-1", 2), ("prod-db-2", 1),
    ]  # fmt: skip
    one = next(iter(letters))
    shown = output_json(dlq("dlq", "show", one, "--json"))
    assert shown["payload"]["schedule"] == "daily" and shown["attributes"]["function"]
    assert "ComputeError" in dlq("dlq", "list").stdout

    world.clear_faults()
    replay = dlq("dlq", "replay", "--all", "--json")

    assert replay.exit_code == 0, replay.output
    assert sorted(output_json(replay)["replayed"]) == sorted(letters)
    outcomes = wait_for(
        lambda: (found := stack.outcomes("daily", report.slot)) and all(
            e.get("action") == "created" for e in found.values()
        ) and found,
        60, "every replayed disk to be snapshotted",
    )  # fmt: skip
    assert len(outcomes) == 3
    assert len(world.snapshots()) == 3
    assert listed(dlq) == {}


def test_dead_letters_forwarded_by_pubsub_are_shown_and_replayed(
    stack: LocalStack, dlq: Cli
) -> None:
    world = seed_projects(stack)
    disk = world.seed_disk("prod-db-2", "pg", zone=ZONE, labels={"snapshot-daily": "2"})
    world.set_clock(AT)
    work = WorkItem("prod-db-2", ZONE, False, "pg", disk["id"], "daily", "20260504-0300", 2)
    # As Pub/Sub forwards after max attempts: the original message, no reasons of ours.
    forwarded = stack.publish(
        stack.config.dead_letter_topic, work.to_json(), **work.attributes,
        CloudPubSubDeadLetterSourceDeliveryCount="5",
    )  # fmt: skip

    letter = listed(dlq)[forwarded]
    assert (letter["error_class"], letter["attempts"]) == ("MaxDeliveryAttempts", "5")
    assert (letter["project"], letter["disk"], letter["replays_to"]) == (
        "prod-db-2", "pg", "snapkeeper-work",
    )  # fmt: skip

    replay = dlq("dlq", "replay", forwarded)
    assert replay.exit_code == 0, replay.output
    wait_for(
        lambda: stack.outcomes("daily", "20260504-0300").get(f"prod-db-2/{ZONE}/pg"),
        60, "the replayed work to be done",
    )  # fmt: skip
    assert listed(dlq) == {}


def test_purge_asks_unless_yes(stack: LocalStack, dlq: Cli) -> None:
    ids = [
        stack.publish(
            stack.config.dead_letter_topic, b"not json", error_class="InvalidMessage",
            error="message is not JSON", function="snapshot_disk",
        )
        for _ in range(3)
    ]  # fmt: skip

    refused = dlq("dlq", "purge", "--all", input="n\n")
    assert refused.exit_code != 0
    assert sorted(listed(dlq)) == sorted(ids)

    assert dlq("dlq", "purge", ids[0], "--yes").exit_code == 0
    assert sorted(listed(dlq)) == sorted(ids[1:])
    confirmed = dlq("dlq", "purge", "--all", "--error-class", "InvalidMessage", input="y\n")
    assert confirmed.exit_code == 0 and "purged 2" in confirmed.stdout
    assert listed(dlq) == {}


def test_selection_mistakes_are_usage_errors(stack: LocalStack, dlq: Cli) -> None:
    kept = stack.publish(stack.config.dead_letter_topic, b"{}", error_class="X", error="y")
    assert dlq("dlq", "replay").exit_code == ExitCode.USAGE
    assert dlq("dlq", "purge", "--yes").exit_code == ExitCode.USAGE
    assert dlq("dlq", "replay", "424242").exit_code == ExitCode.USAGE
    assert dlq("dlq", "show", "424242").exit_code == ExitCode.USAGE
    # A letter that is neither work nor tick is kept, and says so.
    unroutable = dlq("dlq", "replay", kept, "--json")
    assert unroutable.exit_code != 0
    assert kept in json.loads(unroutable.stdout)["failed"]
    assert list(listed(dlq)) == [kept]


def test_replay_routes_by_function_or_payload() -> None:
    config = Config(host_project="snapkeeper-host")
    tick = Tick("daily", projects=("prod-db-2",)).to_json()

    def letter(payload: bytes, **attributes: str) -> DeadLetter:
        return DeadLetter("1", payload, attributes, None)

    assert letter(tick, function="enumerate_disks").kind == TICK
    assert letter(tick).kind == TICK
    assert letter(b'{"disk_id": "7"}').kind == WORK
    assert letter(b"x", function="snapshot_disk").kind == WORK
    assert replay_topic(letter(tick), config) == "projects/snapkeeper-host/topics/snapkeeper-ticks"
    assert replay_topic(letter(b"x"), config) is None
    assert letter(tick).field("project") == "prod-db-2"

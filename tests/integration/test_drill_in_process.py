"""Restore drills through both functions in process (functions-framework's test client)
and the fake Compute Engine: a drill tick picks disks round-robin, a drill restores,
measures, cleans up and labels, leftovers of a killed drill go, a failed drill is a
dead letter with its reason; and what one drill costs in Compute calls."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from snapkeeper import clients, coverage
from snapkeeper.cli import cli
from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper.drill import run_drill
from snapkeeper.errors import DrillInProgress
from snapkeeper.messages import DrillItem, DrillTick
from snapkeeper_local.compute import ComputeAdmin
from tests.integration import cli_support
from tests.integration import test_handlers_in_process as in_process
from tests.integration.test_handlers_in_process import (
    DEAD_LETTER_TOPIC,
    PROJECT,
    WORK_TOPIC,
    RecordingPublisher,
    deliver,
    envelope,
    log_lines,
)

# The fixtures of the in-process module.
env = in_process.env
published = in_process.published
snapshot_fn = in_process.snapshot_fn
enumerator_fn = in_process.enumerator_fn

SCRATCH = "snapkeeper-scratch"
SCRATCH_ZONE = "us-central1-b"
DAY = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)
DRILL_SLOT = "20270310-0400"


@pytest.fixture
def drill_env(env: ComputeAdmin, monkeypatch: pytest.MonkeyPatch) -> ComputeAdmin:
    """The in-process environment, with a scratch project and a restore time."""
    monkeypatch.setenv("SCRATCH_PROJECT", SCRATCH)
    monkeypatch.setenv("SCRATCH_ZONE", SCRATCH_ZONE)
    env.seed_project("prod-db-2")
    env.seed_project(SCRATCH)
    env.configure(disk_creating_seconds=0.3)
    return env


def seed_backed_up(world: ComputeAdmin, name: str, **snapshot: Any) -> tuple[dict[str, Any], str]:
    """A disk with two READY managed snapshots; the newest's name."""
    disk = world.seed_disk(
        PROJECT, name, zone=cli_support.ZONE, size_gb=20, labels={"snapshot-daily": "7"}
    )
    cli_support.seed_managed(world, PROJECT, disk, "daily", DAY)
    newest = cli_support.seed_managed(
        world, PROJECT, disk, "daily", DAY + timedelta(days=1), **snapshot
    )
    return disk, newest


def drill_item(disk: dict[str, Any], snapshot: str, slot: str = DRILL_SLOT) -> DrillItem:
    return DrillItem(
        PROJECT, cli_support.ZONE, False, disk["name"], disk["id"], snapshot, PROJECT, slot
    )


@pytest.fixture
def pg_data(drill_env: ComputeAdmin) -> tuple[dict[str, Any], str]:
    """The disk most drills restore, and its newest snapshot."""
    return seed_backed_up(drill_env, "pg-data")


@dataclass(frozen=True)
class Drills:
    """The snapshot function in process, taking drills, and what it publishes and logs."""

    client: FlaskClient
    published: RecordingPublisher
    capsys: pytest.CaptureFixture[str]

    def run(self, item: DrillItem, attempt: int | None = None) -> None:
        """Deliver the drill; the function acks it whatever the outcome."""
        assert deliver(self.client, envelope("eventarc-binary", item.to_json(), attempt)) == 200

    def dead_letters(self) -> list[Any]:
        return self.published.on(DEAD_LETTER_TOPIC)

    def statuses(self) -> list[dict[str, Any]]:
        """The log lines (since the last read) that carry a drill's status."""
        return [e for e in log_lines(self.capsys) if e.get("drill_status")]


@pytest.fixture
def drills(
    drill_env: ComputeAdmin,
    snapshot_fn: FlaskClient,
    published: RecordingPublisher,
    capsys: pytest.CaptureFixture[str],
) -> Drills:
    return Drills(snapshot_fn, published, capsys)


def scratch_disks(world: ComputeAdmin) -> list[str]:
    compute = clients.compute(world.host)
    return [d.name for d in compute.disks.list(project=SCRATCH, zone=SCRATCH_ZONE)]


def labels_of(world: ComputeAdmin, snapshot: str) -> dict[str, str]:
    compute = clients.compute(world.host)
    return dict(compute.snapshots.get(project=PROJECT, snapshot=snapshot).labels)


def test_a_drill_tick_picks_never_drilled_disks_first(
    drill_env: ComputeAdmin,
    enumerator_fn: FlaskClient,
    published: RecordingPublisher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, drilled = seed_backed_up(drill_env, "alpha")
    seed_backed_up(drill_env, "bravo")
    seed_backed_up(drill_env, "charlie")
    # alpha was drilled (the label on one of its snapshots): it waits its turn.
    compute = clients.compute(drill_env.host)
    gateway = ComputeGateway(drill_env.host)
    gateway.add_snapshot_labels(PROJECT, drilled, {"snapkeeper-drilled": "20270201"})
    assert compute.snapshots.get(project=PROJECT, snapshot=drilled).labels["snapkeeper-drilled"]

    tick = DrillTick(time=DAY + timedelta(days=9), sample=2)
    assert deliver(enumerator_fn, envelope("eventarc-binary", tick.to_json())) == 200

    messages = published.on(WORK_TOPIC)
    assert [m.body["disk"] for m in messages] == ["bravo", "charlie"]
    assert all(m.body["kind"] == "drill" and m.attributes["kind"] == "drill" for m in messages)
    summary = [e for e in log_lines(capsys) if e["message"].startswith("drill ")][-1]
    assert (summary["published"], summary["candidates"]) == (2, 3)

    # Once every disk has been drilled, the one drilled longest ago comes first.
    for message in messages:
        gateway.add_snapshot_labels(
            PROJECT, message.body["snapshot"], {"snapkeeper-drilled": "20270301"}
        )
    published.messages.clear()
    assert deliver(enumerator_fn, envelope("eventarc-binary", tick.to_json())) == 200
    assert [m.body["disk"] for m in published.on(WORK_TOPIC)] == ["alpha", "bravo"]


def test_a_drill_restores_measures_cleans_up_and_labels(
    drill_env: ComputeAdmin, pg_data: tuple[dict[str, Any], str], drills: Drills
) -> None:
    disk, newest = pg_data
    drill_env.clear_requests()

    drills.run(drill_item(disk, newest))

    calls = Counter(r["api_method"] for r in drill_env.requests())
    line = drills.statuses()[-1]
    assert line["drill_status"] == "OK"
    assert line["snapshot"] == newest and line["kind"] == "drill"
    assert isinstance(line["time_to_restore_seconds"], float)
    assert line["size_gb"] == 20
    assert scratch_disks(drill_env) == []  # cleaned up
    assert labels_of(drill_env, newest)["snapkeeper-drilled"] == "20270310"
    assert drills.dead_letters() == []
    print(f"\ndrill cost in Compute calls: {sum(calls.values())} {dict(sorted(calls.items()))}")
    # The sweep's list, a look for an earlier attempt's disk, the restore and its wait,
    # the disk read READY, the delete and its wait, the snapshot's labels read and set.
    assert calls == {
        "compute.disks.list": 1,
        "compute.disks.get": 2,
        "compute.disks.insert": 1,
        "compute.disks.delete": 1,
        "compute.snapshots.get": 1,
        "compute.snapshots.setLabels": 1,
        "compute.zoneOperations.wait": 2,
    }


def test_a_killed_drill_leaves_nothing_behind_after_the_next_drill(
    drill_env: ComputeAdmin, pg_data: tuple[dict[str, Any], str], drills: Drills
) -> None:
    disk, newest = pg_data
    other, other_newest = seed_backed_up(drill_env, "web-data")
    config = Config.from_env()
    gateway = ComputeGateway(drill_env.host)
    drill_env.configure(disk_creating_seconds=30)
    # A drill cut off mid-restore (its bound runs out, as when the function is killed):
    # its scratch disk is left CREATING, and the snapshot is not labelled.
    with pytest.raises(DrillInProgress):
        run_drill(drill_item(disk, newest), config, gateway, deadline=0.0)
    [leftover] = scratch_disks(drill_env)
    assert "snapkeeper-drilled" not in labels_of(drill_env, newest)
    # Its redelivery cannot measure a restore it did not start: it asks to come back.
    with pytest.raises(DrillInProgress):
        run_drill(drill_item(disk, newest), config, gateway, deadline=0.0)
    drill_env.advance_clock(31)  # the leftover is READY now
    drill_env.configure(disk_creating_seconds=0.3)

    # The next drill (a later slot, another disk) removes it, then does its own.
    drills.run(drill_item(other, other_newest, slot="20270317-0400"))

    assert scratch_disks(drill_env) == []
    assert labels_of(drill_env, other_newest)["snapkeeper-drilled"] == "20270317"
    assert leftover.startswith("snapkeeper-drill-")
    assert drills.dead_letters() == []


def test_a_redelivered_drill_restores_again_over_its_own_earlier_disk(
    drill_env: ComputeAdmin, pg_data: tuple[dict[str, Any], str], drills: Drills
) -> None:
    item = drill_item(*pg_data)
    with pytest.raises(DrillInProgress):
        run_drill(item, Config.from_env(), ComputeGateway(drill_env.host), deadline=0.0)
    drill_env.advance_clock(1)

    drills.run(item)
    assert [e["drill_status"] for e in drills.statuses()] == ["OK"]
    assert scratch_disks(drill_env) == []


def test_a_failing_drill_is_dead_lettered_with_its_reason(
    drill_env: ComputeAdmin, pg_data: tuple[dict[str, Any], str], drills: Drills
) -> None:
    disk, newest = pg_data
    drill_env.add_fault(
        api_method="compute.disks.insert", status=403, reason="quotaExceeded",
        message="Quota 'SSD_TOTAL_GB' exceeded. Limit: 500.0 in region us-central1.",
    )  # fmt: skip

    drills.run(drill_item(disk, newest))

    [letter] = drills.dead_letters()
    assert letter.body["kind"] == "drill"
    assert "SSD_TOTAL_GB" in letter.attributes["error"]
    assert letter.attributes["function"] == "snapshot_disk"
    error = [e for e in log_lines(drills.capsys) if e["severity"] == "ERROR"][-1]
    assert error["kind"] == "drill" and error["message"].startswith("dead-lettered")
    assert "snapkeeper-drilled" not in labels_of(drill_env, newest)
    assert scratch_disks(drill_env) == []


def test_a_drill_of_a_pruned_snapshot_is_gone_not_failed(
    drill_env: ComputeAdmin, pg_data: tuple[dict[str, Any], str], drills: Drills
) -> None:
    disk, newest = pg_data
    clients.compute(drill_env.host).snapshots.delete_unary(project=PROJECT, snapshot=newest)

    drills.run(drill_item(disk, newest))

    assert drills.statuses()[-1]["drill_status"] == "GONE"
    assert drills.dead_letters() == []


def test_a_drill_tick_without_a_scratch_project_is_dead_lettered(
    env: ComputeAdmin,
    enumerator_fn: FlaskClient,
    published: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SCRATCH_PROJECT", raising=False)
    monkeypatch.delenv("SCRATCH_ZONE", raising=False)
    tick = DrillTick(sample=1)
    assert deliver(enumerator_fn, envelope("eventarc-binary", tick.to_json())) == 200
    [letter] = published.on(DEAD_LETTER_TOPIC)
    assert "SCRATCH_PROJECT" in letter.attributes["error"]
    assert json.loads(letter.data)["kind"] == "drill"
    assert "time" in json.loads(letter.data)  # pinned: a replay drills the same slot


def test_snapkeeper_drill_runs_one_by_hand_and_status_shows_it(
    drill_env: ComputeAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, pg_newest = seed_backed_up(drill_env, "pg-data")
    seed_backed_up(drill_env, "web-data")
    runner = CliRunner()

    result = runner.invoke(cli, ["drill", "-p", PROJECT, "--sample", "1", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [row] = report["drills"]
    assert (row["disk"], row["snapshot"], row["status"]) == ("pg-data", pg_newest, "OK")
    assert row["size_gb"] == 20 and row["seconds"] is not None
    assert "restoring" in result.stderr  # progress, on stderr
    assert scratch_disks(drill_env) == []
    drilled = labels_of(drill_env, pg_newest)["snapkeeper-drilled"]
    assert drilled == report["slot"][:8]  # the drill's date

    # What `snapkeeper status` reads: each disk's last successful drill.
    found = coverage.survey([PROJECT], Config.from_env(), ComputeGateway(drill_env.host))
    rows = coverage.coverage(
        found, {}, now=datetime.now(UTC), grace=timedelta(hours=1), prefix="snapshot-"
    )
    assert {r.disk: r.last_drilled for r in rows} == {"pg-data": drilled, "web-data": ""}

    # The next one takes the disk not drilled yet; a failure is exit code 4.
    drill_env.add_fault(api_method="compute.disks.insert", status=403, reason="quotaExceeded")
    failed = runner.invoke(cli, ["drill", "--json"])
    assert failed.exit_code == 4
    [row] = json.loads(failed.stdout)["drills"]
    assert (row["disk"], row["status"]) == ("web-data", "FAILED")
    assert "quotaExceeded" in row["error"]


def test_a_drill_tick_leaves_out_an_unreadable_project_and_dead_letters_it(
    env: ComputeAdmin,
    enumerator_fn: FlaskClient,
    published: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCRATCH_PROJECT", SCRATCH)
    monkeypatch.setenv("SCRATCH_ZONE", SCRATCH_ZONE)
    env.seed_project("prod-db-2", accessible=False)
    seed_backed_up(env, "pg-data")
    tick = DrillTick(time=DAY + timedelta(days=9), sample=3)

    assert deliver(enumerator_fn, envelope("eventarc-binary", tick.to_json())) == 200

    assert [m.body["disk"] for m in published.on(WORK_TOPIC)] == ["pg-data"]
    [letter] = published.on(DEAD_LETTER_TOPIC)
    assert json.loads(letter.data) == {
        "kind": "drill",
        "time": tick.time.isoformat(),  # type: ignore[union-attr]
        "projects": ["prod-db-2"],
        "sample": 3,
    }
    assert letter.attributes["function"] == "enumerate_disks"


def test_a_drill_into_a_missing_scratch_project_is_dead_lettered_at_once(
    pg_data: tuple[dict[str, Any], str], drills: Drills, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRATCH_PROJECT", "no-such-scratch")

    drills.run(drill_item(*pg_data), attempt=1)

    [letter] = drills.dead_letters()
    assert letter.attributes["error_class"] == "DrillFailed"
    assert "no-such-scratch" in letter.attributes["error"]

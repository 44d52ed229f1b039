"""`snapkeeper schedule ...` and `snapkeeper tick` through google-cloud-scheduler against
the fake Cloud Scheduler, and the ticks they land in the enumerator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from snapkeeper.cli.common import ExitCode
from snapkeeper_local.scheduler import SchedulerAdmin
from snapkeeper_local.stack import LocalStack
from tests.integration import cli_support
from tests.integration.cli_support import ZONE, Cli, output_json, seed_projects

run_cli = cli_support.run_cli  # the fixture
JOB = "projects/{host}/locations/us-central1/jobs/snapkeeper-{schedule}"


@pytest.fixture
def scheduler(stack: LocalStack) -> Iterator[SchedulerAdmin]:
    assert stack.scheduler is not None
    stack.scheduler.admin.reset()
    yield stack.scheduler.admin
    stack.scheduler.admin.reset()


def job_calls(scheduler: SchedulerAdmin) -> list[str]:
    return [f"{r['method']} {r['query']}" for r in scheduler.requests() if r["method"] != "GET"]


def test_set_creates_then_updates_only_what_changed(
    stack: LocalStack, run_cli: Cli, scheduler: SchedulerAdmin
) -> None:
    created = run_cli(
        "schedule", "set", "daily", "--cron", "0 3 * * *", "--time-zone", "Asia/Tokyo", "--json"
    )
    assert created.exit_code == 0, created.output
    assert output_json(created)["changed"] == ["created"]

    (job,) = output_json(run_cli("schedule", "list", "--json"))
    assert job["name"] == JOB.format(host=stack.host_project, schedule="daily")
    assert (job["cron"], job["time_zone"], job["state"]) == ("0 3 * * *", "Asia/Tokyo", "ENABLED")
    assert job["topic"] == f"projects/{stack.host_project}/topics/snapkeeper-ticks"
    assert job["payload"] == {"schedule": "daily", "cron": "0 3 * * *", "time_zone": "Asia/Tokyo",
                              "time": None, "projects": [], "options": {}}  # fmt: skip
    assert job["in_step"] is True

    moved = run_cli("schedule", "set", "daily", "--time-zone", "Europe/Paris", "--json")
    assert output_json(moved)["changed"] == ["time_zone", "pubsub_target.data"]
    (shown,) = output_json(run_cli("schedule", "show", "daily", "--json"))
    assert (shown["cron"], shown["time_zone"]) == ("0 3 * * *", "Europe/Paris")
    assert shown["payload"]["time_zone"] == "Europe/Paris"
    assert job_calls(scheduler)[-1].startswith("PATCH updateMask=timeZone,pubsubTarget.data&")

    calls = len(scheduler.requests())
    same = run_cli("schedule", "set", "daily", "--time-zone", "Europe/Paris")
    assert same.exit_code == 0 and "nothing changed" in same.stdout
    assert [r["method"] for r in scheduler.requests()[calls:]] == ["GET"]


def test_set_keeps_the_payloads_options_unless_told(
    stack: LocalStack, run_cli: Cli, scheduler: SchedulerAdmin
) -> None:
    made = run_cli(
        "schedule", "set", "monthly", "--cron", "0 5 1 * *",
        "--options", "type=ARCHIVE,max-age=400d,min-keep=2", "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    options = {"type": "ARCHIVE", "max-age": "400d", "min-keep": "2"}
    assert output_json(made)["job"]["payload"]["options"] == options

    moved = run_cli("schedule", "set", "monthly", "--time-zone", "Asia/Tokyo", "--json")
    assert output_json(moved)["job"]["payload"]["options"] == options  # kept
    assert output_json(moved)["job"]["in_step"] is True

    cleared = run_cli("schedule", "set", "monthly", "--options", "", "--json")
    assert output_json(cleared)["changed"] == ["pubsub_target.data"]
    assert output_json(cleared)["job"]["payload"]["options"] == {}

    bad = run_cli("schedule", "set", "monthly", "--options", "type=COLD")
    assert bad.exit_code == ExitCode.USAGE and "type 'COLD'" in bad.stderr


def test_set_validates_before_calling(run_cli: Cli, scheduler: SchedulerAdmin) -> None:
    for args in (
        ("--cron", "0 3 * *"),
        ("--cron", "0 3 * * *", "--time-zone", "Mars/Olympus"),
    ):
        result = run_cli("schedule", "set", "daily", *args)
        assert result.exit_code == ExitCode.USAGE, result.output
        assert result.stderr.count("\n") == 1 and "error:" in result.stderr
    assert (
        run_cli("schedule", "set", "weird-name", "--cron", "0 3 * * *").exit_code == ExitCode.USAGE
    )
    assert run_cli("schedule", "set", "daily").exit_code == ExitCode.USAGE  # new: needs --cron
    assert scheduler.requests() == [
        r for r in scheduler.requests() if r["method"] == "GET"
    ]  # nothing was created or changed


def test_host_project_option_needs_a_valid_project(run_cli: Cli) -> None:
    result = run_cli("--host-project", "x", "schedule", "list")
    assert result.exit_code == ExitCode.USAGE
    assert "GOOGLE_CLOUD_PROJECT" in result.stderr


def test_pause_resume_and_errors(run_cli: Cli, scheduler: SchedulerAdmin) -> None:
    assert run_cli("schedule", "set", "hourly", "--cron", "0 * * * *").exit_code == 0

    paused = run_cli("schedule", "pause", "hourly", "--json")
    assert paused.exit_code == 0 and output_json(paused)["state"] == "PAUSED"
    again = run_cli("schedule", "pause", "hourly")
    assert again.exit_code == ExitCode.USAGE and "ENABLED" in again.stderr
    resumed = run_cli("schedule", "resume", "hourly", "--json")
    assert output_json(resumed)["state"] == "ENABLED"
    assert output_json(run_cli("schedule", "show", "hourly", "--json"))[0]["next_run"]

    missing = run_cli("schedule", "run", "monthly")
    assert missing.exit_code == ExitCode.USAGE
    assert missing.stderr == "snapkeeper: error: no Cloud Scheduler job for schedule 'monthly'\n"
    assert run_cli("schedule", "show", "monthly").exit_code == ExitCode.USAGE


def seed_two_daily_disks(stack: LocalStack) -> None:
    """The stack's projects, with prod-app-1/web-data (N=2) and prod-db-2/pg-data (N=3)."""
    world = seed_projects(stack)
    world.seed_disk("prod-app-1", "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    world.seed_disk("prod-db-2", "pg-data", zone=ZONE, labels={"snapshot-daily": "3"})


def test_run_lands_a_tick_that_the_enumerator_processes(
    stack: LocalStack, run_cli: Cli, scheduler: SchedulerAdmin
) -> None:
    seed_two_daily_disks(stack)
    assert run_cli("schedule", "set", "daily", "--cron", "0 3 * * *").exit_code == 0

    result = run_cli("schedule", "run", "daily")

    assert result.exit_code == 0, result.output
    (attempt,) = scheduler.attempts()
    assert attempt.message_id
    report = stack.settle_tick(attempt.message_id)
    assert report.schedule == "daily" and report.slot.endswith("-0300")
    assert sorted(report.outcomes) == [
        f"prod-app-1/{ZONE}/web-data",
        f"prod-db-2/{ZONE}/pg-data",
    ]
    assert {e["action"] for e in report.outcomes.values()} == {"created"}


def test_tick_catches_up_a_slot_with_the_jobs_cron(
    stack: LocalStack, run_cli: Cli, scheduler: SchedulerAdmin
) -> None:
    seed_two_daily_disks(stack)
    run_cli("schedule", "set", "daily", "--cron", "30 2 * * *", "--time-zone", "Asia/Tokyo")
    at = datetime(2026, 4, 2, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo: slot 02:30 JST = 17:30 UTC

    result = run_cli("tick", "daily", "--at", at.isoformat(), "--project", "prod-db-2", "--json")

    assert result.exit_code == 0, result.output
    published = output_json(result)
    assert published["tick"]["cron"] == "30 2 * * *"
    report = stack.settle_tick(published["message_id"])
    assert report.slot == "20260401-1730"
    assert sorted(report.outcomes) == [f"prod-db-2/{ZONE}/pg-data"]

    outside = run_cli("tick", "daily", "--project", "somebody-else")
    assert outside.exit_code == ExitCode.USAGE and "TARGET_PROJECTS" in outside.stderr
    manual = run_cli("tick", "weekly", "--project", "prod-db-2", "--json")
    assert manual.exit_code == 0 and "no Scheduler job" in manual.stderr
    assert json.loads(manual.stdout)["tick"] == {"schedule": "weekly", "projects": ["prod-db-2"]}

    # A tick by hand carries the job's options, as the job's own ticks do.
    run_cli("schedule", "set", "daily", "--options", "type=ARCHIVE")
    archive = run_cli("tick", "daily", "--manual", "--project", "prod-db-2", "--json")
    assert json.loads(archive.stdout)["tick"]["options"] == {"type": "ARCHIVE"}
    assert "cron" not in json.loads(archive.stdout)["tick"]

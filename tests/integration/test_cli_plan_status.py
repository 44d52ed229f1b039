"""`snapkeeper plan` and `snapkeeper status` against the local stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from snapkeeper.cli.common import ExitCode
from snapkeeper.naming import SnapshotKey, snapshot_name
from snapkeeper_local.stack import LocalStack
from tests.integration import cli_support
from tests.integration.cli_support import ZONE, Cli, output_json, seed_managed, seed_projects

run_cli = cli_support.run_cli  # the fixture

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TODAY_03 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
READ_ONLY = (".get", ".list", ".aggregatedList")


def test_plan_lists_creates_prunes_and_skips_and_writes_nothing(
    stack: LocalStack, run_cli: Cli
) -> None:
    world = seed_projects(stack)
    world.seed_project("vault-backups", accessible=False)
    web = world.seed_disk("prod-app-1", "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    world.seed_disk("prod-app-1", "bad", zone=ZONE, labels={"snapshot-daily": "lots"})
    world.seed_disk("prod-db-2", "tmp", zone=ZONE, labels={"snapshot-exclude": "true"})
    world.seed_instance(
        "prod-db-2", "vm", zone=ZONE, labels={"snapshot-daily": "1"}, disks=["boot", "tmp"]
    )
    old = [seed_managed(world, "prod-app-1", web, "daily", TODAY_03 - timedelta(days=d))
           for d in (3, 2, 1)]  # fmt: skip
    assert run_cli("schedule", "set", "daily", "--cron", "0 3 * * *").exit_code == 0
    world.clear_requests()

    result = run_cli("plan", "--schedule", "daily", "--at", NOW.isoformat(), "--json")

    assert result.exit_code == 0, result.output
    (daily,) = output_json(result)["schedules"]
    assert daily["slot"] == "20260310-0300"
    by_disk = {d["disk"]: d for d in daily["disks"]}
    assert sorted(by_disk) == ["boot", "web-data"]
    key = SnapshotKey("prod-app-1", ZONE, web["id"], "web-data", "daily", "20260310-0300")
    assert by_disk["web-data"]["snapshot"] == snapshot_name(key)
    assert by_disk["web-data"]["exists"] is False
    # Keep 2, counting the new one once READY: the two oldest of three go.
    assert sorted(by_disk["web-data"]["prune"]) == sorted(old[:2])
    assert by_disk["boot"]["source"] == "instance:vm"
    reasons = {s["disk"]: s["reason"] for s in daily["skipped"]}
    assert reasons["tmp"] == "excluded by snapshot-exclude"
    assert "snapshot-daily" in reasons["bad"] and "lots" in reasons["bad"]
    assert [f["project"] for f in daily["failed_projects"]] == ["vault-backups"]
    calls = world.requests()
    assert calls, "plan read nothing"
    assert all(call["api_method"].endswith(READ_ONLY) for call in calls), calls
    assert len(world.snapshots()) == 3

    table = run_cli("plan", "--schedule", "daily", "--at", NOW.isoformat())
    assert table.exit_code == 0
    assert "1 to create" not in table.stdout and "2 to create, 2 to prune" in table.stdout


def test_status_exits_3_with_stale_and_never_snapshotted_disks_first(
    stack: LocalStack, run_cli: Cli
) -> None:
    world = seed_projects(stack)
    fresh = world.seed_disk("prod-app-1", "fresh", zone=ZONE, labels={"snapshot-daily": "2"})
    stale = world.seed_disk("prod-app-1", "stale", zone=ZONE, labels={"snapshot-daily": "2"})
    world.seed_disk("prod-db-2", "never", zone=ZONE, labels={"snapshot-daily": "3"})
    world.seed_disk("prod-db-2", "scratch", zone=ZONE, labels={"env": "dev"})
    seed_managed(world, "prod-app-1", fresh, "daily", TODAY_03 - timedelta(days=1))
    seed_managed(world, "prod-app-1", fresh, "daily", TODAY_03)
    seed_managed(world, "prod-app-1", stale, "daily", TODAY_03 - timedelta(days=1))
    seed_managed(world, "prod-app-1", stale, "daily", TODAY_03, status="FAILED")
    assert run_cli("schedule", "set", "daily", "--cron", "0 3 * * *").exit_code == 0

    result = run_cli("status", "--now", NOW.isoformat(), "--json")

    assert result.exit_code == ExitCode.ATTENTION, result.output
    report = output_json(result)
    rows = [(d["disk"], d["state"], d["held"], d["wanted"]) for d in report["disks"]]
    assert rows == [
        ("never", "never", 0, 3),
        ("stale", "stale", 1, 2),
        ("fresh", "ok", 2, 2),
    ]
    assert report["disks"][1]["age"] == timedelta(days=1, hours=8, minutes=58).total_seconds()
    assert report["disks"][2]["period"] == timedelta(days=1).total_seconds()
    # Within the grace after 03:00 yesterday's snapshot is still the newest expected.
    early = run_cli("status", "--now", "2026-03-10T03:30:00Z", "--project", "prod-app-1")
    assert early.exit_code == 0, early.output
    assert "2 disk schedules, 0 need attention" in early.stdout


def test_status_exits_0_when_every_disk_is_fresh_and_judges_with_cron(
    stack: LocalStack, run_cli: Cli
) -> None:
    world = seed_projects(stack)
    disk = world.seed_disk("prod-app-1", "data", zone=ZONE, labels={"snapshot-weekly": "4"})
    seed_managed(world, "prod-app-1", disk, "weekly", datetime(2026, 3, 8, 4, 0, tzinfo=UTC))

    # No Scheduler job for weekly: the disk would never be snapshotted.
    assert run_cli("status", "--now", NOW.isoformat()).exit_code == ExitCode.ATTENTION
    result = run_cli(
        "status", "--now", NOW.isoformat(), "--schedule", "weekly", "--cron", "0 4 * * 0",
        "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (row,) = output_json(result)["disks"]
    assert (row["state"], row["held"], row["wanted"]) == ("ok", 1, 4)
    assert row["period"] == timedelta(days=7).total_seconds()


def test_status_reports_unreadable_projects_and_usage_errors(
    stack: LocalStack, run_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = seed_projects(stack)
    world.seed_project("vault-backups", accessible=False)

    result = run_cli("status", "--json")
    assert result.exit_code == ExitCode.API
    failed = output_json(result)["failed_projects"]
    assert {f["project"] for f in failed} == {"vault-backups"}

    bad_cron = run_cli("status", "--schedule", "daily", "--cron", "every day")
    assert bad_cron.exit_code == ExitCode.USAGE
    assert bad_cron.stderr.startswith("snapkeeper: error: cron 'every day'")
    assert run_cli("status", "--grace", "soon").exit_code == ExitCode.USAGE
    monkeypatch.setenv("SNAPKEEPER_STATUS_GRACE", "soon")  # every option has its variable
    from_env = run_cli("status")
    assert from_env.exit_code == ExitCode.USAGE and "soon" in from_env.stderr

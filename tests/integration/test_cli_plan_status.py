"""`snapkeeper plan` and `snapkeeper status` against the local stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from snapkeeper import clients
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


def delete_disk(stack: LocalStack, project: str, name: str) -> None:
    assert stack.compute is not None
    disks = clients.compute(stack.compute.host).disks
    disks.delete(project=project, zone=ZONE, disk=name).result(timeout=10)


def test_status_lists_orphans_and_what_snapshots_cost(stack: LocalStack, run_cli: Cli) -> None:
    world = seed_projects(stack)
    web = world.seed_disk("prod-app-1", "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    gone = world.seed_disk("prod-app-1", "gone-data", zone=ZONE, labels={"snapshot-daily": "3"})
    for days in (1, 0):
        seed_managed(world, "prod-app-1", web, "daily", TODAY_03 - timedelta(days=days))
    seed_managed(world, "prod-app-1", gone, "daily", TODAY_03 - timedelta(days=40))
    seed_managed(world, "prod-app-1", gone, "daily", TODAY_03 - timedelta(days=10))
    seed_managed(world, "prod-app-1", gone, "monthly", TODAY_03, snapshot_type="ARCHIVE")
    delete_disk(stack, "prod-app-1", "gone-data")
    assert run_cli("schedule", "set", "daily", "--cron", "0 3 * * *").exit_code == 0
    stored = {s["name"]: int(s["storageBytes"]) for s in world.snapshots()}
    gone_bytes = {
        s["labels"]["snapkeeper-schedule"]: int(s["storageBytes"])
        for s in world.snapshots()
        if s["labels"]["snapkeeper-disk-id"] == gone["id"]
        and s["labels"]["snapkeeper-schedule"] == "monthly"
    }

    result = run_cli("status", "--now", NOW.isoformat(), "--json")

    assert result.exit_code == 0, result.output
    shown = output_json(result)
    assert [row["disk"] for row in shown["disks"]] == ["web-data"]
    by_schedule = {o["schedule"]: o for o in shown["orphans"]}
    assert sorted(by_schedule) == ["daily", "monthly"]
    daily = by_schedule["daily"]
    assert (daily["disk"], daily["disk_id"], daily["snapshots"]) == ("gone-data", gone["id"], 2)
    assert daily["oldest_age_seconds"] == timedelta(days=40, hours=9, minutes=-2).total_seconds()
    assert by_schedule["monthly"]["storage_bytes"] == gone_bytes["monthly"] > 0
    table = run_cli("status", "--now", NOW.isoformat())
    assert "2 deleted disk schedules hold orphans" in table.stdout, table.stdout

    cost = run_cli("status", "--cost", "--json")

    assert cost.exit_code == 0, cost.output
    view = output_json(cost)
    rows = {(r["disk"], r["schedule"]): r for r in view["disks"]}
    assert sorted(rows) == [("gone-data", "daily"), ("gone-data", "monthly"), ("web-data", "daily")]
    assert rows[("gone-data", "monthly")]["orphan"] and not rows[("web-data", "daily")]["orphan"]
    archive = rows[("gone-data", "monthly")]
    assert archive["archive_bytes"] == gone_bytes["monthly"] and archive["standard_bytes"] == 0
    assert archive["monthly_usd"] == round(gone_bytes["monthly"] / 2**30 * 0.019, 4)
    assert view["storage_bytes"] == sum(stored.values())
    # Ranked by what each disk's schedules cost together, the dearest first.
    cost_of = {
        d: sum(r["monthly_usd"] for r in view["disks"] if r["disk"] == d)
        for d in {"gone-data", "web-data"}
    }
    assert [d["disk"] for d in view["top_disks"]] == sorted(cost_of, key=lambda d: -cost_of[d])
    assert cost_of["gone-data"] != cost_of["web-data"]  # else the order would prove nothing
    assert len(view["top_disks"]) == 2 and view["top_disks"][0]["schedule"] == "*"
    [project] = view["projects"]  # only prod-app-1 holds snapshots
    assert project["snapshots"] == len(stored) and project["monthly_usd"] > 0
    quotas = {q["project"]: q for q in view["quotas"]}
    assert quotas["prod-app-1"]["usage"] == len(stored) and quotas["prod-app-1"]["limit"] > 0
    assert quotas["prod-db-2"]["usage"] == 0
    dearer = output_json(run_cli("status", "--cost", "--json", "--prices", "archive=1.9"))
    archive_cost = {(r["disk"], r["schedule"]): r["monthly_usd"] for r in dearer["disks"]}
    assert archive_cost[("gone-data", "monthly")] == round(gone_bytes["monthly"] / 2**30 * 1.9, 4)
    assert dearer["prices"]["as_of"] == "custom"
    assert run_cli("status", "--cost", "--prices", "gold=1").exit_code == ExitCode.USAGE


def test_plan_shows_drift_orphans_and_snapshots_left_behind(
    stack: LocalStack, run_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHAN_POLICY", "max-age:30d")
    world = seed_projects(stack)
    web = world.seed_disk("prod-app-1", "web-data", zone=ZONE, labels={"snapshot-daily": "1"})
    moved = world.seed_disk("prod-app-1", "moved", zone=ZONE, labels={"snapshot-weekly": "2"})
    gone = world.seed_disk("prod-app-1", "gone-data", zone=ZONE, labels={"snapshot-daily": "3"})
    lowered = [seed_managed(world, "prod-app-1", web, "daily", TODAY_03 - timedelta(days=d))
               for d in range(6, 0, -1)]  # fmt: skip
    seed_managed(world, "prod-app-1", web, "hourly", TODAY_03 - timedelta(hours=1))
    for days in (2, 1):
        seed_managed(world, "prod-app-1", moved, "daily", TODAY_03 - timedelta(days=days))
    old_orphan = seed_managed(world, "prod-app-1", gone, "daily", TODAY_03 - timedelta(days=40))
    seed_managed(world, "prod-app-1", gone, "daily", TODAY_03 - timedelta(days=10))
    delete_disk(stack, "prod-app-1", "gone-data")
    assert run_cli("schedule", "set", "daily", "--cron", "0 3 * * *").exit_code == 0
    sizes = {s["name"]: int(s["storageBytes"]) for s in world.snapshots()}

    result = run_cli("plan", "--at", NOW.isoformat(), "--json")

    assert result.exit_code == 0, result.output
    shown = output_json(result)
    (daily,) = shown["schedules"]
    assert "disk_ids" not in daily  # working state, not part of the answer
    (web_action,) = daily["disks"]
    # N lowered to 1: all six go, three this tick (the brake), three held back.
    assert web_action["drift"] == {
        "beyond_n": 6,
        "past_max_age": 0,
        "storage_bytes": sum(sizes[n] for n in lowered),
        "now": 3,
        "held_back": 3,
    }
    (orphan,) = daily["orphans"]
    assert orphan["orphans"]["disk"] == "gone-data" and orphan["delete"] == [old_orphan]
    assert orphan["delete_bytes"] == sizes[old_orphan]
    assert daily["left_behind"] == [
        {
            "schedule": "daily",
            "reason": "the disk no longer takes part in daily (label removed, excluded or bad)",
            "disks": 1,
            "snapshots": 2,
            "storage_bytes": sum(
                sizes[s["name"]] for s in world.snapshots() if s["sourceDisk"].endswith("/moved")
            ),
        }
    ]
    (hourly,) = shown["left_behind"]
    assert (hourly["schedule"], hourly["snapshots"]) == ("hourly", 1)
    assert "no Scheduler job" in hourly["reason"]
    table = run_cli("plan", "--at", NOW.isoformat())
    assert "drift" in table.stdout and "holds back 3" in table.stdout
    assert "1 orphans to prune (1 deleted disks)" in table.stdout
    assert "daily: left behind" in table.stdout and "hourly: left behind" in table.stdout

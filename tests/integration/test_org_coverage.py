"""`snapkeeper status --org/--folder` in process against the fake Cloud Asset Inventory,
which indexes the fake Compute Engine's disks and snapshots and the fake Resource
Manager's hierarchy: stale and unprotected disks in the right projects, with a number of
requests that depends on the number of disks, not of projects."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from benchmarks.org_status_requests import seed_disks
from snapkeeper.cli import cli
from snapkeeper.cli.common import ExitCode
from snapkeeper.inventory import PAGE_SIZE
from snapkeeper_local.asset import AssetServer
from snapkeeper_local.compute import ComputeAdmin, ComputeServer
from snapkeeper_local.resourcemanager import ResourceManagerServer
from snapkeeper_local.scheduler import SchedulerServer
from tests.integration.cli_support import ZONE, seed_managed

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TODAY_03 = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
ORG = "organizations/777"
DAILY = {"snapshot-daily": "2"}


@pytest.fixture(scope="module")
def scheduler_only() -> Iterator[SchedulerServer]:
    """A fake Cloud Scheduler that only keeps jobs (status reads each schedule's cron)."""
    with SchedulerServer(None, run_cron=False) as server:
        yield server


@pytest.fixture
def run_cli(
    fake_compute: ComputeAdmin,
    fake_hierarchy: ResourceManagerServer,
    scheduler_only: SchedulerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    scheduler_only.admin.reset()
    for key, value in {
        "GOOGLE_CLOUD_PROJECT": "snapkeeper-host",
        "COMPUTE_EMULATOR_HOST": fake_compute.host,
        "CLOUD_SCHEDULER_EMULATOR_HOST": scheduler_only.host,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("TARGET_PROJECTS", "TARGET_FOLDERS", "SNAPSHOT_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    runner = CliRunner()

    def run(*args: str) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert "Traceback" not in result.output, result.output
        return result

    assert run("schedule", "set", "daily", "--cron", "0 3 * * *").exit_code == 0
    yield run
    scheduler_only.admin.reset()


@pytest.fixture
def fleet(fake_compute: ComputeAdmin, fake_hierarchy: ResourceManagerServer) -> dict[str, Any]:
    """org 777 / shop: a prod and a dev project, each with a stale labelled disk and an
    unlabelled one; prod also a fresh disk. A project outside the organization too.
    Returns the folder and the stale disk."""
    admin = fake_hierarchy.admin
    admin.organization("777")
    shop = admin.folder(ORG, "shop")
    admin.project("shop-prod-1", shop, labels={"env": "prod"})
    admin.project("shop-dev-2", shop, labels={"env": "dev"})
    for project in ("shop-prod-1", "shop-dev-2", "stray-proj-3"):
        fake_compute.seed_project(project)
    fresh = fake_compute.seed_disk("shop-prod-1", "fresh", zone=ZONE, labels=DAILY)
    stale = fake_compute.seed_disk("shop-prod-1", "stale", zone=ZONE, labels=DAILY)
    fake_compute.seed_disk("shop-prod-1", "bare", zone=ZONE)
    exclude = {"snapshot-exclude": "true"}  # opted out on purpose: not unprotected
    fake_compute.seed_disk("shop-prod-1", "cache", zone=ZONE, labels=exclude)
    fake_compute.seed_disk("shop-dev-2", "never", zone=ZONE, labels=DAILY)
    fake_compute.seed_disk("shop-dev-2", "scratch", zone=ZONE, labels={"env": "dev"})
    fake_compute.seed_disk("stray-proj-3", "outside", zone=ZONE)
    seed_managed(fake_compute, "shop-prod-1", fresh, "daily", TODAY_03)
    seed_managed(fake_compute, "shop-prod-1", stale, "daily", TODAY_03 - timedelta(days=2))
    return {"folder": shop, "stale": stale}


def _report(result: Result) -> dict[str, Any]:
    assert result.exit_code == ExitCode.ATTENTION, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _states(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(row["project"], row["disk"]): row["state"] for row in report["disks"]}


def _unprotected(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(disk["project"], disk["name"]) for disk in report["unprotected"]]


def test_status_org_finds_stale_and_unprotected_disks_in_the_right_projects(
    fleet: dict[str, Any], run_cli: Any
) -> None:
    report = _report(run_cli("status", "--org", "777", "--now", NOW.isoformat(), "--json"))

    assert _states(report) == {
        ("shop-prod-1", "fresh"): "ok",
        ("shop-prod-1", "stale"): "stale",
        ("shop-dev-2", "never"): "stale",
    }
    assert _unprotected(report) == [("shop-dev-2", "scratch"), ("shop-prod-1", "bare")]
    assert report["requests"] == 2  # one page of disks, one of fresh snapshots
    assert "eventually consistent" in report["note"]


def test_a_project_filter_and_a_folder_narrow_the_report(
    fleet: dict[str, Any], run_cli: Any
) -> None:
    args = ("--folder", fleet["folder"], "--filter", "labels.env=prod", "--now", NOW.isoformat())
    prod = _report(run_cli("status", *args, "--json"))

    assert _states(prod) == {("shop-prod-1", "fresh"): "ok", ("shop-prod-1", "stale"): "stale"}
    assert _unprotected(prod) == [("shop-prod-1", "bare")]
    assert prod["projects_matched"] == 1
    assert prod["requests"] == 3  # the projects, the disks, the snapshots

    text = run_cli("status", "--org", "777", "--problems", "--now", NOW.isoformat())
    assert text.exit_code == ExitCode.ATTENTION
    assert "eventually consistent" in text.stdout and "2 unprotected disks" in text.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--org", "777", "--folder", "1"), "exactly one of --org and --folder"),
        (("--org", "x"), "is not an organization"),
        (("--org", "777", "--filter", "env=prod"), "is not a project filter"),
        (("--filter", "labels.env=prod"), "--filter goes with --org or --folder"),
    ],
)
def test_bad_scope_or_filter_is_a_usage_error(
    args: tuple[str, ...], says: str, run_cli: Any
) -> None:
    result = run_cli("status", *args)
    assert result.exit_code == ExitCode.USAGE
    assert says in result.output


def test_an_index_older_than_a_new_snapshot_does_not_show_it_until_it_is_taken_again(
    fleet: dict[str, Any], run_cli: Any, fake_compute: ComputeAdmin, asset_server: AssetServer
) -> None:
    asset_server.admin.set_staleness(3600)
    asset_server.admin.sync()
    seed_managed(fake_compute, "shop-prod-1", fleet["stale"], "daily", TODAY_03)
    args = ("status", "--org", "777", "--now", NOW.isoformat(), "--json")

    before = _report(run_cli(*args))
    asset_server.admin.sync()
    after = _report(run_cli(*args))

    assert _states(before)[("shop-prod-1", "stale")] == "stale"
    assert _states(after)[("shop-prod-1", "stale")] == "ok"


def test_requests_grow_with_disks_not_projects(
    fake_hierarchy: ResourceManagerServer,
    compute_server: ComputeServer,
    asset_server: AssetServer,
    run_cli: Any,
) -> None:
    """600 labelled disks in 6 projects, each with a fresh and an old READY snapshot:
    a page per 500 disks and per 500 fresh snapshots; the old ones are not read."""
    admin = fake_hierarchy.admin
    admin.organization("777")
    disks_per_project, projects = 100, 6
    for number in range(projects):
        project = f"bulk-proj-{number:02d}"
        admin.project(project, ORG)
        seed_disks(
            compute_server.backend,
            project,
            disks_per_project,
            (TODAY_03, TODAY_03 - timedelta(days=3)),
            keep=DAILY["snapshot-daily"],
        )

    asset_server.admin.set_staleness(3600)  # one index for the run: the figure is requests
    asset_server.admin.sync()

    result = run_cli("status", "--org", "777", "--now", NOW.isoformat(), "--json")

    assert result.exit_code == ExitCode.OK, result.output
    report = json.loads(result.stdout)
    disks = disks_per_project * projects
    assert len(report["disks"]) == disks
    assert {row["state"] for row in report["disks"]} == {"ok"}
    assert report["requests"] == 2 * math.ceil(disks / PAGE_SIZE)

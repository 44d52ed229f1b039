"""Folders and the organization through the local stack: a tick over a folder tree
(Pub/Sub emulator, both functions under functions-framework, the Resource Manager and
Compute fakes), then `status --org` over what it made (the Asset Inventory fake)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from snapkeeper.cli import cli
from snapkeeper.cli.common import ExitCode
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.resourcemanager import DELETE_REQUESTED
from snapkeeper_local.stack import LocalStack
from tests.e2e.helpers import ZONE, daily, fresh_day, run_tick

PROD_FOLDER = "folders/5001"
LISTED = "listed-app-9"  # in TARGET_PROJECTS, outside the folder


@pytest.fixture(scope="module")
def org_stack(pubsub_emulator: PubSubEmulator) -> Iterator[LocalStack]:
    extra = {"TARGET_FOLDERS": PROD_FOLDER, "EXCLUDE_PROJECTS": "team-skip-4"}
    with LocalStack(
        [LISTED], host_project="snapkeeper-host-org", emulator=pubsub_emulator, extra_env=extra
    ) as stack:
        yield stack


def test_a_folder_tick_snapshots_active_projects_and_status_org_sees_the_rest(
    org_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert org_stack.resource_manager is not None and org_stack.compute is not None
    hierarchy, compute = org_stack.resource_manager.admin, org_stack.compute.admin
    org = hierarchy.organization("4242")
    prod = hierarchy.folder(org, "prod", number="5001")
    team = hierarchy.folder(prod, "team")
    parents = {
        "prod-web-1": prod,
        "team-db-2": team,
        "team-gone-3": team,
        "team-skip-4": team,
        "other-app-5": org,
        LISTED: org,
    }
    for project, parent in parents.items():
        hierarchy.project(project, parent)
        compute.seed_project(project)
        compute.seed_disk(project, "data", zone=ZONE, labels={"snapshot-daily": "2"})
    hierarchy.set_state("projects/team-gone-3", DELETE_REQUESTED)
    compute.seed_disk("other-app-5", "bare", zone=ZONE)

    report = run_tick(org_stack, daily(fresh_day()))

    assert sorted(report.outcomes) == [
        f"{LISTED}/{ZONE}/data",
        f"prod-web-1/{ZONE}/data",
        f"team-db-2/{ZONE}/data",
    ]
    assert {e["action"] for e in report.outcomes.values()} == {"created"}
    assert report.summary["failed_projects"] == [] and report.dead_letters == []

    compute.advance_clock(3600)  # the snapshots are READY
    for key, value in org_stack.env.items():
        monkeypatch.setenv(key, value)
    now = compute.now().isoformat()
    args = ["status", "--org", "4242", "--schedule", "daily", "--cron", "0 3 * * *"]
    result = CliRunner().invoke(cli, [*args, "--now", now, "--json"], catch_exceptions=False)

    assert result.exit_code == ExitCode.ATTENTION, result.output
    status = json.loads(result.stdout)
    states = {row["project"]: row["state"] for row in status["disks"]}
    assert states == {
        LISTED: "ok",
        "prod-web-1": "ok",
        "team-db-2": "ok",
        "team-gone-3": "stale",
        "team-skip-4": "stale",
        "other-app-5": "stale",
    }
    assert [(d["project"], d["name"]) for d in status["unprotected"]] == [("other-app-5", "bare")]
    assert status["requests"] == 2

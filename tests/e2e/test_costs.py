"""API cost of the pipeline, counted from the fake Compute Engine's request log."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper.enumerator import plan_tick
from snapkeeper_local.stack import LocalStack
from tests.e2e.helpers import ZONE, daily, fresh_day, run_tick


def test_steady_state_tick_costs_six_or_seven_calls_per_disk(stack: LocalStack) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.seed_project("prod-app-1")
    disks = 6
    admin.seed_disks(
        {
            "project": "prod-app-1",
            "name": f"disk-{i}",
            "zone": ZONE,
            "labels": {"snapshot-daily": "2"},
        }
        for i in range(disks)
    )
    start = fresh_day()
    for day in range(3):  # fill up to N, then one more so that pruning starts
        run_tick(stack, daily(start + timedelta(days=day)))
    admin.clear_requests()
    report = run_tick(stack, daily(start + timedelta(days=3)))

    assert {e["action"] for e in report.outcomes.values()} == {"created"}
    calls = Counter(r["api_method"] for r in admin.requests())
    # List, read the disk's labels (N as they say now), insert, follow the operation,
    # read the snapshot back READY, prune one.
    assert calls["compute.snapshots.list"] == disks
    assert calls["compute.disks.get"] == disks
    assert calls["compute.instances.get"] == 0  # the label is on the disk itself
    assert calls["compute.snapshots.insert"] == disks
    assert calls["compute.snapshots.get"] == disks
    assert calls["compute.snapshots.delete"] == disks
    assert calls["compute.projects.get"] == 1  # the quota guard: once per tick and project
    # One operations.wait answers once the snapshot is done; a second if it was not yet.
    assert disks <= calls["compute.globalOperations.wait"] <= 2 * disks
    per_disk = (
        sum(n for m, n in calls.items() if "snapshots" in m or "Operations" in m)
        + calls["compute.disks.get"]
    ) / disks
    assert per_disk <= 7
    assert calls["compute.disks.aggregatedList"] == 1  # the enumerator: one page


def test_enumeration_costs_one_page_per_500_disks(stack: LocalStack) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    for project in ("prod-app-1", "prod-db-2"):
        admin.seed_project(project)
        admin.seed_disks(
            {
                "project": project,
                "name": f"disk-{i:04d}",
                "zone": ZONE,
                "labels": {"snapshot-daily": "7"},
            }
            for i in range(1200)
        )
    admin.clear_requests()
    config = Config.from_env(stack.env)
    plan = plan_tick(
        daily(datetime(2027, 6, 1, 3, tzinfo=UTC), projects=("prod-app-1", "prod-db-2")),
        datetime.now(UTC),
        config,
        ComputeGateway.for_config(config),
    )

    assert len(plan.work) == 2400 and not plan.failures
    calls = Counter((r["api_method"], r["path"].split("/")[4]) for r in admin.requests())
    for project in ("prod-app-1", "prod-db-2"):
        assert calls[("compute.disks.aggregatedList", project)] == 3  # 1,200 / 500
        assert calls[("compute.instances.aggregatedList", project)] == 1

"""Done means READY, end to end: the failure shapes of the real API (errors inside
operations, quota 403s in the ErrorInfo shape, unreachable zones, name collisions, slow
snapshots, hung listings) each end as a READY snapshot or a dead letter with its reason,
never as a message acknowledged too early."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from snapkeeper.slots import format_slot
from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.stack import LocalStack, wait_for
from tests.e2e import helpers
from tests.e2e.helpers import INSERT, ZONE


def outcome_of(stack: LocalStack, key: str, slot: str, timeout: float = 90) -> dict[str, Any]:
    """The final log entry of one disk in one slot, once there is one."""
    return wait_for(  # type: ignore[no-any-return]
        lambda: stack.outcomes("daily", slot).get(key), timeout, f"an outcome for {key}"
    )


def tick_with_one_listing_failing(
    stack: LocalStack, admin: ComputeAdmin, project: str, **fault: Any
) -> Any:
    """A fresh day's tick over web-data (prod-app-1) and pg-data (prod-db-2), the first
    listing of `project`'s disks meeting `fault`; its report."""
    helpers.seed_daily_disks(stack, "prod-app-1/web-data", "prod-db-2/pg-data")
    admin.add_fault(path_regex=f"/projects/{project}/aggregated/disks", count=1, **fault)
    return helpers.run_fresh_day(stack)


def test_an_insert_failing_inside_its_operation_ends_ready_once_the_fault_clears(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data", keep="3")
    admin.configure(rate_limit_seconds=0)
    # Accepted with 200, then the operation ends DONE with an error and the snapshot FAILED.
    admin.add_fault(kind="fail_snapshot", api_method=INSERT, reason="INTERNAL_ERROR", count=1)

    report = helpers.run_fresh_day(stack)

    [entry] = report.outcomes.values()
    assert entry["action"] == "created" and entry["snapshot_status"] == "READY"
    assert report.dead_letters == []
    [retry] = helpers.retries(stack, report.slot)  # never acknowledged on the failed attempt
    assert "INTERNAL_ERROR" in retry["message"]
    # The FAILED one was deleted and taken again (a fresh requestId, or Compute would
    # have answered with the failed operation): one snapshot, READY.
    assert len(helpers.successful_inserts(stack)) == 2
    assert [s["status"] for s in helpers.managed(stack, "prod-app-1")] == ["READY"]


def test_a_permanent_error_inside_the_operation_is_dead_lettered_with_its_code(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data", keep="3")
    admin.add_fault(
        kind="fail_snapshot",
        api_method=INSERT,
        reason="QUOTA_EXCEEDED",
        message="Quota 'SNAPSHOTS' exceeded.  Limit: 10.0 globally.",
    )

    report = helpers.run_fresh_day(stack)

    assert report.by_action("created") == []
    [letter] = report.dead_letters
    assert letter["attributes"]["error_class"] == "ComputeError"
    assert "QUOTA_EXCEEDED" in letter["attributes"]["error"]
    assert "Quota 'SNAPSHOTS' exceeded" in letter["attributes"]["error"]
    assert len(helpers.successful_inserts(stack)) == 1  # at once: no retry of a permanent error


# The write-quota 403s of snapshots.insert, by the disk they hit.
QUOTA_403S: dict[str, dict[str, Any]] = {
    # The write quota per minute, as Compute words it: both reasons and the domain.
    "a-disk": {
        "reason": "rateLimitExceeded",
        "domain": "usageLimits",
        "error_info": "RATE_LIMIT_EXCEEDED",
        "count": 2,
    },
    # Only the ErrorInfo says it: errors[] carries a plain "forbidden".
    "b-disk": {
        "reason": "forbidden",
        "error_info": "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
        "count": 1,
    },
}


def test_quota_403s_in_the_error_info_shape_are_requeued_and_end_in_a_snapshot(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/a-disk", "prod-app-1/b-disk")
    for disk, fault in QUOTA_403S.items():
        admin.add_fault(api_method=INSERT, body_regex=disk, status=403, **fault)

    report = helpers.run_fresh_day(stack)

    assert {e["action"] for e in report.outcomes.values()} == {"created"}
    assert report.dead_letters == []
    assert len(helpers.retries(stack, report.slot, "re-queued")) == 3
    assert Counter(s["status"] for s in helpers.managed(stack, "prod-app-1")) == {"READY": 2}


def test_a_zone_unreachable_in_the_first_listing_is_retried_within_the_slot(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    report = tick_with_one_listing_failing(
        stack, admin, "prod-app-1", kind="unreachable", scope=f"zones/{ZONE}"
    )

    # The tick went on for the other project, and retried only the one that failed.
    assert report.summary["retried_projects"] == ["prod-app-1"]
    # The tick itself queued only the other project's disk (the retry may be done by now).
    assert report.summary["published"] == 1
    assert f"prod-db-2/{ZONE}/pg-data" in report.outcomes
    entry = outcome_of(stack, f"prod-app-1/{ZONE}/web-data", report.slot)
    assert entry["action"] == "created"
    [snapshot] = helpers.managed(stack, "prod-app-1")
    assert snapshot["labels"]["snapkeeper-slot"] == report.slot  # the same slot
    assert len(helpers.managed(stack, "prod-db-2")) == 1  # not published again


def test_a_zone_that_stays_unreachable_ends_in_a_dead_letter_naming_the_project(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    admin.add_fault(kind="unreachable", scope=f"zones/{ZONE}", path_regex="prod-app-1")
    at = helpers.fresh_day()
    admin.set_clock(at)

    stack.publish_tick(helpers.daily(at, projects=("prod-app-1",)))

    def project_letter() -> dict[str, Any] | None:
        return next(
            (d for d in stack.dead_letters() if d["payload"].get("projects") == ["prod-app-1"]),
            None,
        )

    letter = wait_for(project_letter, 120, "the project's dead letter")
    assert letter["payload"]["schedule"] == "daily"
    assert helpers.managed(stack, "prod-app-1") == []  # no disk of it was silently dropped...
    assert stack.enumerator is not None
    warnings = [e for e in stack.enumerator.log_entries() if "unreachable" in e["message"]]
    assert warnings and f"zones/{ZONE}" in warnings[0]["message"]  # ...it says why


def test_a_name_collision_is_a_dead_letter_never_done(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    [disk] = helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    at = helpers.fresh_day()
    slot = format_slot(at)
    ours = helpers.daily_name(disk, slot)
    admin.seed_snapshot("prod-app-1", ours, source_disk=disk["selfLink"], labels={"env": "x"})

    report = helpers.run_tick(stack, helpers.daily(at))

    assert report.by_action("created") == report.by_action("exists") == []
    [letter] = report.dead_letters
    assert letter["attributes"]["error_class"] == "NameCollision"
    assert ours in letter["attributes"]["error"]
    [stranger] = [s for s in admin.snapshots() if s["name"] == ours]
    assert stranger["labels"] == {"env": "x"}  # untouched


def test_a_slow_snapshot_ends_ready_after_exactly_one_insert(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    admin.configure(creating_seconds=3600)  # far past the function's wait bound
    tick = helpers.daily(helpers.fresh_day())
    assert tick.time is not None
    admin.set_clock(tick.time)
    slot = format_slot(tick.time)

    message_id = stack.publish_tick(tick)
    [retry] = wait_for(
        lambda: helpers.retries(stack, slot), 90, "a redelivery of the slow snapshot"
    )
    assert "still CREATING" in retry["message"]
    assert helpers.managed(stack, "prod-app-1")[0]["status"] == "CREATING"
    admin.advance_clock(2 * 3600)
    report = stack.settle_tick(message_id)

    [entry] = report.outcomes.values()
    assert entry["action"] == "exists" and entry["snapshot_status"] == "READY"
    assert len(helpers.successful_inserts(stack)) == 1  # later deliveries followed it by name


def test_still_in_progress_on_the_last_attempt_is_dead_lettered_naming_the_snapshot(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    [disk] = helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    admin.configure(creating_seconds=3600)
    slot = format_slot(helpers.fresh_day())
    item = helpers.daily_work("prod-app-1", "web-data", disk["id"], slot, keep=2)
    name = helpers.daily_name(disk, slot)

    response = helpers.post_as_eventarc(stack, item, attempt=stack.max_delivery_attempts)

    assert response.status_code == 200  # acknowledged: the dead letter holds it now
    [letter] = helpers.slot_dead_letters(stack, slot)
    assert letter["attributes"]["error_class"] == "SnapshotInProgress"
    assert name in letter["attributes"]["error"] and "CREATING" in letter["attributes"]["error"]
    # A replay once it is READY finishes the job without a second insert.
    admin.advance_clock(2 * 3600)
    assert helpers.post_as_eventarc(stack, item, attempt=1).status_code == 200
    key = f"prod-app-1/{ZONE}/web-data"
    wait_for(
        lambda: stack.outcomes("daily", slot).get(key, {}).get("action") == "exists",
        30,
        "the replay to find the snapshot READY",
    )
    assert len(helpers.successful_inserts(stack)) == 1


def test_a_hung_listing_of_one_project_does_not_hold_back_the_others(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    # Held past the client's read timeout, once.
    report = tick_with_one_listing_failing(
        stack, admin, "prod-db-2", kind="latency", latency_seconds=40
    )

    assert report.summary["published"] == 1
    assert f"prod-app-1/{ZONE}/web-data" in report.outcomes
    assert report.summary["retried_projects"] == ["prod-db-2"]
    [failure] = [f for f in report.summary["failed_projects"] if f["project"] == "prod-db-2"]
    assert failure["transient"] is True and "Timeout" in failure["error"]
    assert outcome_of(stack, f"prod-db-2/{ZONE}/pg-data", report.slot)["action"] == "created"


def test_polling_an_operation_without_permission_is_a_dead_letter(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    admin.seed_project("prod-app-1", denied_permissions=["compute.globalOperations.get"])
    helpers.seed_daily_disks(stack, "prod-app-1/web-data")

    report = helpers.run_fresh_day(stack)

    [letter] = report.dead_letters
    assert "compute.globalOperations.get" in letter["attributes"]["error"]
    assert report.by_action("created") == []


def test_every_disk_holds_exactly_n_ready_once_settled(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    admin.seed_project("prod-app-1")
    for name, keep in (("one", "1"), ("two", "2"), ("three", "3")):
        admin.seed_disk("prod-app-1", name, zone=ZONE, labels={"snapshot-daily": keep})
    start = helpers.fresh_day()
    for day in range(5):
        report = helpers.run_tick(stack, helpers.daily(start + timedelta(days=day)))
        for entry in report.outcomes.values():
            assert entry["held"] == min(day + 1, entry["wanted"])
    held = Counter(s["sourceDisk"].rsplit("/", 1)[1] for s in helpers.managed(stack, "prod-app-1"))
    assert held == {"one": 1, "two": 2, "three": 3}
    assert {s["status"] for s in helpers.managed(stack, "prod-app-1")} == {"READY"}

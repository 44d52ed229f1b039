"""The pipeline end to end: ticks through the Pub/Sub emulator into both functions under
functions-framework, against the fake Compute Engine, with the real clients."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import requests

from snapkeeper.slots import format_slot
from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.stack import LocalStack, wait_for
from tests.e2e import helpers
from tests.e2e.helpers import INSERT, REGION, ZONE


def test_one_tick_snapshots_every_labelled_disk_once(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    admin.seed_project("prod-app-1")
    admin.seed_project("prod-db-2")
    admin.seed_disk("prod-app-1", "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    admin.seed_disk("prod-app-1", "scratch", zone=ZONE, labels={"env": "dev"})
    admin.seed_disk(
        "prod-db-2",
        "pg-data",
        region=REGION,
        replica_zones=[ZONE, "us-central1-b"],
        labels={"snapshot-daily": "3", "team": "db"},
    )
    admin.seed_disk("prod-db-2", "app-tmp", zone=ZONE, labels={"snapshot-exclude": "true"})
    admin.seed_instance(
        "prod-db-2",
        "app-vm",
        zone=ZONE,
        labels={"snapshot-daily": "2"},
        disks=["app-boot", "app-tmp"],
    )

    report = helpers.run_fresh_day(stack)

    assert report.summary["published"] == 3
    assert sorted(report.outcomes) == [
        "prod-app-1/us-central1-a/web-data",
        "prod-db-2/us-central1-a/app-boot",
        "prod-db-2/us-central1/pg-data",
    ]
    assert {e["action"] for e in report.outcomes.values()} == {"created"}
    assert report.summary["skipped"] == [
        {
            "project": "prod-db-2",
            "location": ZONE,
            "disk": "app-tmp",
            "reason": "excluded by snapshot-exclude",
        },
    ]
    assert len(helpers.successful_inserts(stack)) == 3
    sources = sorted(s["sourceDisk"].split("/projects/")[1] for s in admin.snapshots())
    assert sources == [
        "prod-app-1/zones/us-central1-a/disks/web-data",
        "prod-db-2/regions/us-central1/disks/pg-data",
        "prod-db-2/zones/us-central1-a/disks/app-boot",
    ]
    pg = helpers.managed(stack, "prod-db-2", "pg-data")[0]
    assert pg["labels"]["team"] == "db"  # the disk's own labels travel along
    assert pg["labels"]["snapkeeper-schedule"] == "daily"
    assert "snapshot-daily" not in pg["labels"]


def test_rotation_keeps_exactly_n_ready_and_never_touches_others(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    admin.seed_project("prod-app-1")
    disk = admin.seed_disk(
        "prod-app-1",
        "web-data",
        zone=ZONE,
        labels={"snapshot-daily": "2", "snapshot-hourly": "5"},
    )
    other = admin.seed_disk("prod-app-1", "other", zone=ZONE)
    start = helpers.fresh_day()
    managed_labels = {"managed-by": "snapkeeper", "snapkeeper-disk-id": disk["id"]}
    old = (start - timedelta(days=30)).isoformat()
    keepers = {
        # A person's snapshot, a pinned one, another schedule's, another disk's, one in
        # flight: none of them may ever be deleted.
        "by-hand": {"env": "prod"},
        "pinned": {
            **managed_labels,
            "snapkeeper-schedule": "daily",
            "snapkeeper-slot": "20200101-0300",
            "snapshot-keep": "true",
        },
        "hourly-one": {
            **managed_labels,
            "snapkeeper-schedule": "hourly",
            "snapkeeper-slot": "20200101-0300",
        },
        "other-disk": {
            "managed-by": "snapkeeper",
            "snapkeeper-disk-id": other["id"],
            "snapkeeper-schedule": "daily",
            "snapkeeper-slot": "20200101-0300",
        },
    }
    for name, labels in keepers.items():
        admin.seed_snapshot(
            "prod-app-1",
            name,
            source_disk=disk["selfLink"],
            labels=labels,
            creation_timestamp=old,
            source_disk_id=disk["id"],
        )
    for name, status, slot in (
        ("in-flight", "CREATING", "20200102-0300"),
        ("broken", "FAILED", "20200103-0300"),
    ):
        admin.seed_snapshot(
            "prod-app-1",
            name,
            status=status,
            source_disk=disk["selfLink"],
            creation_timestamp=old,
            labels={**managed_labels, "snapkeeper-schedule": "daily", "snapkeeper-slot": slot},
        )

    for day in range(4):
        helpers.run_tick(stack, helpers.daily(start + timedelta(days=day)))

    daily_snaps = [
        s
        for s in helpers.managed(stack, "prod-app-1", "web-data")
        if s["labels"].get("snapkeeper-schedule") == "daily"
        and s["labels"]["snapkeeper-disk-id"] == disk["id"]
        and "snapshot-keep" not in s["labels"]
        and s["name"] != "in-flight"
    ]
    statuses = Counter(s["status"] for s in daily_snaps)
    assert statuses == {"READY": 2}  # exactly N once the tick has settled, not N + 1
    slots = sorted(s["labels"]["snapkeeper-slot"] for s in daily_snaps)
    assert slots == [(start + timedelta(days=d)).strftime("%Y%m%d-0300") for d in (2, 3)]
    names = {s["name"] for s in admin.snapshots()}
    assert set(keepers) | {"in-flight"} <= names
    assert "broken" not in names  # FAILED ones are removed


def test_failing_snapshots_never_cost_the_good_ones(stack: LocalStack, admin: ComputeAdmin) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    start = helpers.fresh_day()
    for day in range(2):
        helpers.run_tick(stack, helpers.daily(start + timedelta(days=day)))
    admin.configure(rate_limit_seconds=0)  # let every retake reach the failing operation
    admin.add_fault(kind="fail_snapshot", api_method=INSERT)
    failing = [
        helpers.run_tick(stack, helpers.daily(start + timedelta(days=day))) for day in (2, 3)
    ]
    for report in failing:
        # Never acknowledged as done: each failing slot ends as a dead letter.
        assert report.by_action("created") == [] and len(report.dead_letters) == 1
    statuses = Counter(s["status"] for s in helpers.managed(stack, "prod-app-1"))
    # The two good generations remain, untouched by the attempts that were not READY;
    # each retake deleted its FAILED predecessor, so only the last failure is left.
    assert statuses["READY"] == 2
    assert statuses["FAILED"] <= 2


def test_duplicate_ticks_and_messages_create_nothing_new(stack: LocalStack) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data", "prod-app-1/logs", keep="3")
    at = helpers.fresh_day()
    first = helpers.run_tick(stack, helpers.daily(at))
    # The same tick again, and a late duplicate an hour later: the same slot.
    helpers.run_tick(stack, helpers.daily(at))
    again = helpers.run_tick(stack, helpers.daily(at + timedelta(hours=1)))
    assert again.slot == first.slot
    # A duplicate work message, published straight to the work topic.
    work = next(iter(first.outcomes.values()))
    item = helpers.daily_work("prod-app-1", work["disk"], work["disk_id"], first.slot, keep=3)
    stack.publish(stack.config.work_topic, item.to_json())
    wait_for(
        lambda: len(_entries_for(stack, work["disk"], first.slot)) >= 4,
        60,
        "the duplicate work message",
    )

    per_disk = Counter(r["path"] for r in helpers.successful_inserts(stack))
    assert sum(per_disk.values()) == 2  # one insert per disk per slot, ever
    assert len(helpers.managed(stack, "prod-app-1")) == 2
    actions = [e["action"] for e in _entries_for(stack, work["disk"], first.slot)]
    assert actions.count("created") == 1 and actions.count("exists") == 3


def _entries_for(stack: LocalStack, disk: str, slot: str) -> list[dict[str, object]]:
    assert stack.snapshotter is not None
    return [
        e
        for e in stack.snapshotter.log_entries()
        if e.get("disk") == disk and e.get("slot") == slot and e.get("action")
    ]


def test_transient_faults_are_retried_until_they_succeed(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/a-disk", "prod-app-1/b-disk", "prod-app-1/c-disk")
    # One failure of each transient kind, each hitting a different delivery.
    admin.add_fault(api_method=INSERT, status=503, count=1)
    admin.add_fault(api_method=INSERT, status=429, reason="rateLimitExceeded", count=1)
    admin.add_fault(
        api_method=INSERT,
        status=403,
        reason="RESOURCE_OPERATION_RATE_EXCEEDED",
        count=1,
    )

    report = helpers.run_fresh_day(stack)

    assert {e["action"] for e in report.outcomes.values()} == {"created"}
    assert len(report.outcomes) == 3 and report.dead_letters == []
    assert all(f["fired"] == 1 for f in admin.faults())
    # The rate limit is re-queued (a fresh attempt budget); the others are redelivered.
    assert len(helpers.retries(stack, report.slot)) == 2
    assert len(helpers.retries(stack, report.slot, "re-queued")) == 1


def test_permanent_failures_are_dead_lettered_at_once_and_nothing_is_lost(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    helpers.seed_daily_disks(stack, "prod-app-1/web-data", "prod-app-1/doomed", "prod-db-2/pg-data")
    admin.add_fault(
        api_method=INSERT,
        path_regex="prod-db-2",
        status=403,
        reason="forbidden",
    )
    # The disk disappears between enumeration and snapshot: a logged "gone".
    doomed = f"projects/prod-app-1/zones/{helpers.ZONE}/disks/doomed"
    admin.add_fault(
        api_method=INSERT,
        body_regex="doomed",
        status=404,
        message=f"The resource '{doomed}' was not found",  # as Compute words it
    )
    at = helpers.fresh_day()
    report = helpers.run_tick(stack, helpers.daily(at))

    assert report.by_action("created")[0]["disk"] == "web-data"
    assert [e["disk"] for e in report.by_action("gone")] == ["doomed"]
    [letter] = report.dead_letters
    assert letter["payload"]["disk"] == "pg-data"
    assert letter["attributes"]["error_class"] == "ComputeError"
    assert "403 forbidden" in letter["attributes"]["error"]
    assert letter["attributes"]["function"] == "snapshot_disk"
    assert letter["attributes"]["attempts"] == "unknown"  # the emulator does not pass it
    # At once: one delivery, no retry.
    inserts = [r for r in admin.requests() if r["api_method"] == INSERT]
    assert sum(1 for r in inserts if "prod-db-2" in r["path"]) == 1
    # Every published work message is accounted for.
    finals = {e["disk"] for e in report.outcomes.values()} | {letter["payload"]["disk"]}
    assert len(finals) == report.summary["published"] == 3


def test_malformed_and_disallowed_messages_are_dead_lettered(stack: LocalStack) -> None:
    day = helpers.fresh_day()
    slot = format_slot(day)
    outsider = helpers.daily_work("not-allowed-9", "d", "5", slot, keep=1)
    stack.publish(stack.config.work_topic, outsider.to_json())
    stack.publish(stack.config.work_topic, b'{"disk": "half a message"}', origin="test")

    def letters() -> list[dict[str, object]]:
        found = [
            d
            for d in stack.dead_letters()
            if d["attributes"].get("function") == "snapshot_disk"
            and (
                d["payload"].get("project") == "not-allowed-9"
                or d["payload"].get("disk") == "half a message"
            )
        ]
        return found if len(found) == 2 else []

    by_class = {d["attributes"]["error_class"]: d for d in wait_for(letters, 60, "2 dead letters")}
    assert "not in TARGET_PROJECTS" in by_class["NotAllowed"]["attributes"]["error"]
    malformed = by_class["InvalidMessage"]
    assert malformed["payload"] == {"disk": "half a message"}  # the original, untouched
    assert malformed["attributes"]["origin"] == "test"


def test_bad_labels_are_skipped_and_reported(stack: LocalStack, admin: ComputeAdmin) -> None:
    admin.seed_project("prod-app-1")
    admin.seed_disk("prod-app-1", "good", zone=ZONE, labels={"snapshot-daily": "7"})
    for name, value in {"zero": "0", "huge": "1001", "words": "seven", "neg": "-1"}.items():
        admin.seed_disk("prod-app-1", name, zone=ZONE, labels={"snapshot-daily": value})
    report = helpers.run_fresh_day(stack)
    assert report.summary["published"] == 1
    skipped = {s["disk"]: s["reason"] for s in report.summary["skipped"]}
    assert set(skipped) == {"zero", "huge", "words", "neg"}
    assert "between 1 and 1000" in skipped["huge"]
    assert "not a whole number" in skipped["words"]


def test_project_failures_do_not_stop_the_others(stack: LocalStack, admin: ComputeAdmin) -> None:
    admin.seed_project("prod-app-1")
    admin.seed_project("prod-db-2", accessible=False)  # the functions may not use it
    helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    at = helpers.fresh_day()
    report = helpers.run_tick(
        stack, helpers.daily(at, projects=("prod-app-1", "prod-db-2", "stranger-1"))
    )
    assert report.summary["published"] == 1
    failed = {f["project"]: f for f in report.summary["failed_projects"]}
    assert set(failed) == {"prod-db-2", "stranger-1"}
    assert "403" in failed["prod-db-2"]["error"]
    letters = wait_for(
        lambda: [
            d
            for d in stack.dead_letters()
            if d["attributes"].get("function") == "enumerate_disks"
            and d["attributes"].get("slot") == report.slot
        ],
        30,
        "project dead letters",
    )
    replay = {d["attributes"]["project"]: d["payload"] for d in letters}
    assert replay["prod-db-2"]["projects"] == ["prod-db-2"]  # a tick for that project alone
    assert replay["prod-db-2"]["time"].startswith(at.date().isoformat())  # pinned to the slot


def test_vault_project_and_last_attempt_dead_letter(stack: LocalStack, admin: ComputeAdmin) -> None:
    """A binary CloudEvent (as Eventarc sends) carries deliveryAttempt: on the last
    attempt a transient error is dead-lettered by the function with the last error."""
    [disk] = helpers.seed_daily_disks(stack, "prod-app-1/web-data")
    admin.add_fault(api_method=INSERT, status=503)
    slot = format_slot(helpers.fresh_day())
    item = helpers.daily_work("prod-app-1", "web-data", disk["id"], slot, keep=2)
    response = helpers.post_as_eventarc(stack, item, attempt=stack.max_delivery_attempts)
    assert response.status_code == 200  # acked: the dead letter holds it now
    [letter] = helpers.slot_dead_letters(stack, slot)
    assert letter["attributes"]["attempts"] == str(stack.max_delivery_attempts)
    assert "503" in letter["attributes"]["error"]


def test_transient_errors_past_max_attempts_are_dead_lettered_by_pubsub(
    stack: LocalStack, admin: ComputeAdmin
) -> None:
    """Where the attempt number does not reach the function (the emulator's push), Pub/Sub
    itself dead-letters after max attempts, and the last error is in the function's log."""
    helpers.seed_daily_disks(stack, "prod-app-1/flaky")
    admin.add_fault(api_method=INSERT, status=503)
    report = helpers.run_fresh_day(stack)

    [letter] = report.dead_letters
    assert letter["payload"]["disk"] == "flaky"
    assert "error_class" not in letter["attributes"]  # forwarded by Pub/Sub, not by us
    attempts = [r for r in admin.requests() if r["api_method"] == INSERT]
    assert len(attempts) >= stack.max_delivery_attempts
    last = helpers.retries(stack, report.slot)[-1]
    assert "503" in last["message"] and last["message_id"]


def test_malformed_ticks_and_envelopes_are_dead_lettered(stack: LocalStack) -> None:
    stack.publish(stack.config.tick_topic, b'{"schedule": "daily", "cron": "every night"}')
    # An event whose data is no Pub/Sub message at all, straight to the function.
    headers = {
        "ce-id": "odd-1",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/x/topics/snapkeeper-work",
        "Content-Type": "application/json",
    }
    assert stack.snapshotter is not None
    response = requests.post(
        stack.snapshotter.url, data=json.dumps({"hello": "world"}), headers=headers, timeout=30
    )
    assert response.status_code == 200

    def letters() -> list[dict[str, object]]:
        found = {
            d["attributes"]["function"]: d
            for d in stack.dead_letters()
            if d["payload"] in ({"hello": "world"}, {"schedule": "daily", "cron": "every night"})
        }
        return [found] if len(found) == 2 else []

    [found] = wait_for(letters, 60, "both dead letters")
    assert "cron 'every night'" in found["enumerate_disks"]["attributes"]["error"]
    assert found["snapshot_disk"]["attributes"]["error_class"] == "InvalidMessage"
    assert "no Pub/Sub 'message'" in found["snapshot_disk"]["attributes"]["error"]

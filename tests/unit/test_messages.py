from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from snapkeeper.errors import InvalidMessage
from snapkeeper.messages import (
    ORPHANS,
    DrillItem,
    DrillTick,
    OrphanWork,
    Tick,
    WorkItem,
    message_kind,
    parse_drill,
    parse_drill_tick,
    parse_message,
    parse_tick,
    parse_work,
)
from snapkeeper.options import ScheduleOptions, parse_text

WORK = WorkItem(
    project="prod-db-1",
    location="us-central1-a",
    regional=False,
    disk="data",
    disk_id="123",
    schedule="daily",
    slot="20260102-0300",
    keep=7,
    disk_labels={"env": "prod"},
)


def test_tick_round_trip() -> None:
    tick = Tick("daily", "0 3 * * *", "Asia/Tokyo", datetime(2026, 1, 2, tzinfo=UTC), ("p1",))
    assert parse_tick(tick.to_json()) == tick


def test_scheduler_payload() -> None:
    tick = parse_tick(b'{"schedule": "daily", "cron": "0 3 * * *", "time_zone": "Asia/Tokyo"}')
    assert (tick.schedule, tick.cron, tick.time_zone, tick.time) == (
        "daily",
        "0 3 * * *",
        "Asia/Tokyo",
        None,
    )


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "not JSON"),
        (b"[]", "JSON object"),
        (b"{}", "'schedule'"),
        (b'{"schedule": "exclude"}', "schedule name"),
        (b'{"schedule": "daily", "cron": "every day"}', "cron"),
        (b'{"schedule": "daily", "time_zone": "Nowhere/Land"}', "time zone"),
        (b'{"schedule": "daily", "time": "yesterday"}', "RFC 3339"),
        (b'{"schedule": "daily", "shedule": "x"}', "unknown tick field"),
        (b'{"schedule": "daily", "version": 2}', "version"),
        (b'{"schedule": "daily", "projects": "p1"}', "projects"),
    ],
)
def test_bad_ticks(payload: bytes, why: str) -> None:
    with pytest.raises(InvalidMessage, match=why):
        parse_tick(payload)


def test_work_round_trip() -> None:
    assert parse_work(WORK.to_json()) == WORK
    read = dataclasses.replace(
        WORK,
        labels_read_at="2027-03-01T03:00:01.5+00:00",
        labels_fresh_until="2027-03-02T03:00:00+00:00",
    )
    assert parse_work(read.to_json()) == read
    assert WORK.disk_path == "projects/prod-db-1/zones/us-central1-a/disks/data"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"keep": 0}, "keep"),
        ({"keep": "7"}, "keep"),
        ({"keep": True}, "keep"),
        ({"disk_id": "abc"}, "numeric"),
        ({"regional": "no"}, "regional"),
        ({"slot": "2026-01-02"}, "slot"),
        ({"schedule": "Daily"}, "schedule"),
        ({"extra": 1}, "unknown work field"),
        ({"disk": ""}, "'disk'"),
        ({"disk_labels": {"a": 1}}, "disk_labels"),
        ({"labels_read_at": "yesterday"}, "RFC 3339"),
        ({"labels_read_at": "2027-03-01T03:00:00"}, "no UTC offset"),
        ({"labels_read_at": 5}, "labels_read_at"),
        ({"labels_fresh_until": "tomorrow"}, "RFC 3339"),
    ],
)
def test_bad_work(change: dict[str, object], why: str) -> None:
    body = {**json.loads(WORK.to_json()), **change}
    with pytest.raises(InvalidMessage, match=why):
        parse_work(json.dumps(body).encode())


def test_a_tick_carries_its_schedules_options() -> None:
    chosen = parse_text("type=ARCHIVE,max-age=400d,min-keep=2")
    tick = Tick("monthly", "0 5 1 * *", "Etc/UTC", options=chosen)
    body = json.loads(tick.to_json())
    assert body["options"] == {"type": "ARCHIVE", "max-age": "400d", "min-keep": "2"}
    assert parse_tick(tick.to_json()) == tick
    # A schedule without options publishes the payload it always did.
    assert "options" not in json.loads(Tick("daily", "0 3 * * *", "UTC").to_json())


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"type": "COLD"}, "type 'COLD'"),
        ({"keep-forever": "yes"}, "unknown option 'keep-forever'"),
        ({"min-keep": "2"}, "min-keep only limits max-age"),
        ({"max-age": 30}, "text values"),
        ("type=ARCHIVE", "text values"),
    ],
)
def test_a_tick_with_a_bad_option_is_refused(options: object, why: str) -> None:
    payload = json.dumps({"schedule": "daily", "options": options}).encode()
    with pytest.raises(InvalidMessage, match=why):
        parse_tick(payload)


def test_work_carries_the_options_and_older_messages_still_parse() -> None:
    item = WorkItem(**{**WORK.__dict__, "options": {"type": "ARCHIVE", "max-age": "30d"}})
    assert parse_work(item.to_json()) == item
    assert item.schedule_options.snapshot_type == "ARCHIVE"
    older = json.loads(WORK.to_json())
    del older["options"]
    assert parse_work(json.dumps(older).encode()).schedule_options == ScheduleOptions()
    bad = {**older, "options": {"type": "TAPE"}}
    with pytest.raises(InvalidMessage, match="type 'TAPE'"):
        parse_work(json.dumps(bad).encode())


def test_drill_messages_round_trip_and_are_told_apart() -> None:
    tick = DrillTick("0 4 * * 1", "Etc/UTC", datetime(2026, 1, 5, 4, tzinfo=UTC), ("p1",), 3)
    assert parse_drill_tick(tick.to_json()) == tick
    slot = "20260105-0400"
    item = DrillItem("prod-db-1", "us-central1-a", False, "data", "123", "snap", "vault", slot)
    assert parse_drill(item.to_json()) == item
    assert message_kind(tick.to_json()) == message_kind(item.to_json()) == "drill"
    assert message_kind(WORK.to_json()) == "snapshot"  # no kind: as before drills
    with pytest.raises(InvalidMessage, match="unknown message kind"):
        message_kind(b'{"kind": "restore"}')
    with pytest.raises(InvalidMessage, match="sample"):
        parse_drill_tick(b'{"kind": "drill", "sample": 0}')
    with pytest.raises(InvalidMessage, match="unknown drill tick field"):
        parse_drill_tick(b'{"kind": "drill", "schedule": "daily"}')
    with pytest.raises(InvalidMessage, match="disk_id"):
        parse_drill(json.dumps(json.loads(item.to_json()) | {"disk_id": "x"}).encode())
    with pytest.raises(InvalidMessage, match="unknown tick field"):
        parse_tick(tick.to_json())  # a snapshot tick never takes a drill's fields


def test_an_orphan_message_round_trips_and_is_told_apart() -> None:
    orphan = OrphanWork("prod-db-1", "europe-west1", True, "data", "123", "daily", WORK.slot)
    assert parse_message(orphan.to_json()) == orphan
    assert parse_message(WORK.to_json()) == WORK
    assert orphan.attributes["kind"] == orphan.log_fields["kind"] == ORPHANS
    assert message_kind(orphan.to_json()) == ORPHANS
    assert orphan.disk_path == "projects/prod-db-1/regions/europe-west1/disks/data"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": "restore"}, "unknown work message kind 'restore'"),
        ({"keep": 3}, "unknown work field"),  # an orphan message carries no N
        ({"disk_id": "abc"}, "numeric id"),
        ({"options": {"type": "cold"}}, "type 'cold'"),
    ],
)
def test_bad_orphan_messages_are_refused(change: dict[str, object], problem: str) -> None:
    orphan = OrphanWork("prod-db-1", "us-central1-a", False, "data", "123", "daily", WORK.slot)
    body = json.loads(orphan.to_json()) | change
    with pytest.raises(InvalidMessage, match=problem):
        parse_message(json.dumps(body).encode())
    # A snapshot's message with a kind is no snapshot's message.
    with pytest.raises(InvalidMessage, match="unknown work field"):
        parse_work(json.dumps(json.loads(WORK.to_json()) | {"kind": ORPHANS}).encode())

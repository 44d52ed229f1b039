from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from snapkeeper.errors import InvalidMessage
from snapkeeper.slots import (
    format_slot,
    latest_fire,
    next_fire,
    parse_slot,
    parse_time,
    slot_for,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "tz", "at", "expected"),
    [
        # 03:00 Tokyo is 18:00 UTC the day before.
        ("0 3 * * *", "Asia/Tokyo", utc(2026, 1, 2, 18, 0), utc(2026, 1, 2, 18, 0)),
        ("0 3 * * *", "Asia/Tokyo", utc(2026, 1, 2, 17, 59), utc(2026, 1, 1, 18, 0)),
        ("0 3 * * *", "Asia/Tokyo", utc(2026, 1, 3, 17, 0), utc(2026, 1, 2, 18, 0)),  # late
        ("0 * * * *", "Etc/UTC", utc(2026, 5, 1, 10, 59, 59), utc(2026, 5, 1, 10, 0)),
        ("0 4 * * 0", "Europe/Paris", utc(2026, 7, 15, 12, 0), utc(2026, 7, 12, 2, 0)),
        # New York spring forward (2026-03-08): 02:30 does not exist, fires at 03:30 EDT.
        ("30 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 29), utc(2026, 3, 7, 7, 30)),
        ("30 2 * * *", "America/New_York", utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 7, 30)),
        # New York fall back (2026-11-01): 01:30 happens twice, fires once (first, EDT).
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 6, 1), utc(2026, 11, 1, 5, 30)),
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 6, 45), utc(2026, 11, 1, 5, 30)),
    ],
)
def test_latest_fire(cron: str, tz: str, at: datetime, expected: datetime) -> None:
    assert latest_fire(cron, tz, at) == expected


times = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
crons = st.sampled_from(
    [
        "0 3 * * *",
        "*/15 * * * *",
        "30 1 * * *",
        "0 */6 * * *",
        "0 4 * * 1",
        "30 2 * * *",
        "0 0 1 * *",
    ]
)
zones = st.sampled_from(
    [
        "Etc/UTC",
        "America/New_York",
        "Europe/London",
        "Asia/Tokyo",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ]
)


@settings(max_examples=300, deadline=None)
@given(times, crons, zones)
def test_slot_is_a_fire_time_at_or_before_the_tick(at: datetime, cron: str, tz: str) -> None:
    slot = latest_fire(cron, tz, at)
    assert slot <= at
    # It is a fire time: its wall-clock reading matches the cron.
    wall = slot.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
    assert croniter.match(cron, wall) or _in_spring_gap(slot, tz)
    # Idempotent, and every later tick up to the next fire maps to the same slot.
    assert latest_fire(cron, tz, slot) == slot
    assert latest_fire(cron, tz, slot + (at - slot) / 2) == slot


def _in_spring_gap(slot: datetime, tz: str) -> bool:
    local = slot.astimezone(ZoneInfo(tz))
    return local.utcoffset() != (local - timedelta(hours=2)).utcoffset()


@settings(max_examples=200, deadline=None)
@given(times, times, crons, zones)
def test_slots_never_go_backwards(a: datetime, b: datetime, cron: str, tz: str) -> None:
    early, late = sorted((a, b))
    assert latest_fire(cron, tz, early) <= latest_fire(cron, tz, late)


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("0 3 * * *", "Asia/Tokyo", utc(2026, 1, 2, 18, 0), utc(2026, 1, 3, 18, 0)),
        ("0 3 * * *", "Asia/Tokyo", utc(2026, 1, 2, 17, 59), utc(2026, 1, 2, 18, 0)),
        ("0 * * * *", "Etc/UTC", utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 11, 0)),
        ("0 0 1 1 *", "Etc/UTC", utc(2026, 5, 1, 10, 0), utc(2027, 1, 1, 0, 0)),
        # Spring forward: 02:30 New York does not exist on 2026-03-08, fires at 03:30 EDT.
        ("30 2 * * *", "America/New_York", utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30)),
        # Fall back: 01:30 happens twice on 2026-11-01 and fires once, at the first.
        ("30 1 * * *", "America/New_York", utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30)),
        ("30 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),
    ],
)
def test_next_fire(cron: str, tz: str, after: datetime, expected: datetime) -> None:
    assert next_fire(cron, tz, after) == expected


@settings(max_examples=300, deadline=None)
@given(times, crons, zones)
def test_next_fire_is_the_first_fire_after(after: datetime, cron: str, tz: str) -> None:
    following = next_fire(cron, tz, after)
    assert following > after
    assert latest_fire(cron, tz, following) == following
    # No fire between: the latest fire a minute before it is at or before `after`.
    assert latest_fire(cron, tz, following - timedelta(minutes=1)) <= after


def test_manual_tick_uses_its_minute() -> None:
    assert slot_for(utc(2026, 1, 2, 3, 4, 59), None, None) == utc(2026, 1, 2, 3, 4)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        slot_for(datetime(2026, 1, 2), "0 3 * * *", "Etc/UTC")


def test_slot_text_round_trip() -> None:
    assert format_slot(utc(2026, 1, 2, 3, 4)) == "20260102-0304"
    assert parse_slot("20260102-0304") == utc(2026, 1, 2, 3, 4)
    with pytest.raises(InvalidMessage):
        parse_slot("2026-01-02")


@pytest.mark.parametrize("bad", ["0 3 * *", "61 * * * *", "@daily", "x"])
def test_bad_cron(bad: str) -> None:
    with pytest.raises(InvalidMessage):
        latest_fire(bad, "Etc/UTC", utc(2026, 1, 1))


def test_bad_zone() -> None:
    with pytest.raises(InvalidMessage, match="time zone"):
        latest_fire("0 3 * * *", "Mars/Olympus", utc(2026, 1, 1))


def test_parse_time() -> None:
    assert parse_time("2026-01-02T03:04:05Z") == utc(2026, 1, 2, 3, 4, 5)
    assert parse_time("2026-01-02T12:04:05+09:00") == utc(2026, 1, 2, 3, 4, 5)
    with pytest.raises(InvalidMessage):
        parse_time("2026-01-02T03:04:05")

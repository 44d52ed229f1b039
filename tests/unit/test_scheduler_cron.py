"""Unix-cron validation, time zones and next-fire computation of the fake scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from snapkeeper_local.scheduler import cron
from snapkeeper_local.scheduler.errors import SCHEDULE_OR_TIME_ZONE_INVALID, InvalidArgument


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 * * *",
        "* * * * *",
        "*/15 * * * *",
        "0 0-23/2 * * *",
        "30 4 1,15 * *",
        "0 9 * * 1-5",
        "0 0 * * 7",  # 7 is Sunday too
        "0 0 * JAN,jul SUN",
        "  0   3  * * *  ",  # extra blanks are still five fields
    ],
)
def test_valid_unix_cron(schedule: str) -> None:
    assert cron.is_valid_schedule(schedule)
    cron.validate(schedule, "Etc/UTC")


@pytest.mark.parametrize(
    "schedule",
    [
        "",
        "0 3 * *",  # four fields
        "0 0 3 * * *",  # six: croniter's seconds field is not unix-cron
        "@daily",
        "every 24 hours",  # legacy App Engine syntax: not supported by the fake
        "60 * * * *",
        "0 24 * * *",
        "0 0 32 * *",
        "0 0 * 13 *",
        "H 3 * * *",  # croniter extensions
        "0 0 L * *",
        "0 0 * * MON#2",
        "0 0 * MON *",  # a day name in the month field
        "0 0 * * JAN",
    ],
)
def test_invalid_cron_is_invalid_argument_with_the_real_message(schedule: str) -> None:
    assert not cron.is_valid_schedule(schedule)
    with pytest.raises(InvalidArgument, match=SCHEDULE_OR_TIME_ZONE_INVALID):
        cron.validate(schedule, "Etc/UTC")


@pytest.mark.parametrize("name", ["Etc/UTC", "UTC", "utc", "Asia/Tokyo", "America/New_York"])
def test_known_time_zones(name: str) -> None:
    cron.validate("0 3 * * *", name)


@pytest.mark.parametrize("name", ["Mars/Olympus", "Asia/Munbai", "", "../etc/passwd", "/etc/x"])
def test_unknown_time_zone_is_invalid_argument(name: str) -> None:
    with pytest.raises(InvalidArgument, match=SCHEDULE_OR_TIME_ZONE_INVALID):
        cron.validate("0 3 * * *", name)


def test_next_fire_is_in_the_job_time_zone() -> None:
    # 03:00 in Tokyo (UTC+9, no DST) is 18:00 UTC the day before.
    assert cron.next_fire_time("0 3 * * *", "Asia/Tokyo", utc(2024, 1, 1)) == utc(2024, 1, 1, 18)
    assert cron.next_fire_time("0 3 * * *", "Asia/Tokyo", utc(2024, 1, 1, 18)) == utc(
        2024, 1, 2, 18
    )


def test_next_fire_is_strictly_after_and_in_utc() -> None:
    after = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))  # 10:00 UTC
    fire = cron.next_fire_time("0 * * * *", "Etc/UTC", after)
    assert fire == utc(2024, 5, 1, 11)
    assert fire is not None and fire.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.next_fire_time("0 3 * * *", "Etc/UTC", datetime(2024, 1, 1))


def test_new_york_daily_follows_daylight_saving_time() -> None:
    # 03:00 local is 08:00 UTC in winter (EST) and 07:00 UTC in summer (EDT).
    zone = "America/New_York"
    assert cron.next_fire_time("0 3 * * *", zone, utc(2024, 3, 9, 12)) == utc(2024, 3, 10, 7)
    assert cron.next_fire_time("0 3 * * *", zone, utc(2024, 3, 8, 12)) == utc(2024, 3, 9, 8)
    assert cron.next_fire_time("0 3 * * *", zone, utc(2024, 11, 2, 12)) == utc(2024, 11, 3, 8)


def test_a_wall_time_skipped_by_spring_forward_fires_once_shifted_by_the_gap() -> None:
    # 2024-03-10: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day.
    zone = "America/New_York"
    fire = cron.next_fire_time("30 2 * * *", zone, utc(2024, 3, 10))
    assert fire == utc(2024, 3, 10, 7, 30)  # 03:30 EDT
    assert cron.next_fire_time("30 2 * * *", zone, fire) == utc(2024, 3, 11, 6, 30)


def test_a_wall_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    # 2024-11-03: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice.
    zone = "America/New_York"
    first = cron.next_fire_time("30 1 * * *", zone, utc(2024, 11, 3))
    assert first == utc(2024, 11, 3, 5, 30)  # 01:30 EDT
    # Not again at 01:30 EST (06:30 UTC), but the next day.
    assert cron.next_fire_time("30 1 * * *", zone, first) == utc(2024, 11, 4, 6, 30)


def test_hourly_schedule_across_fall_back_never_goes_backwards() -> None:
    zone = "America/New_York"
    moment = utc(2024, 11, 3, 3)
    fires = []
    for _ in range(6):
        fire = cron.next_fire_time("0 * * * *", zone, moment)
        assert fire is not None and fire > moment
        fires.append(fire)
        moment = fire
    assert fires == sorted(set(fires))


def test_a_schedule_that_never_matches_has_no_next_fire() -> None:
    assert cron.next_fire_time("0 0 30 2 *", "Etc/UTC", utc(2024, 1, 1)) is None

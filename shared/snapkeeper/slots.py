"""Slots: the cron fire time a tick belongs to.

slot(tick) = the latest fire time of the schedule's cron, in its time zone, at or before
the tick's time. Duplicate, retried and late ticks map to the same slot, so they create
nothing new. Fire times are the cron's wall-clock matches mapped to UTC with fold=0: in
an autumn DST overlap a time fires once (its first occurrence); a spring-gap time fires
at the same wall-clock reading taken at the pre-transition offset (an hour later).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from snapkeeper.errors import InvalidMessage

SLOT_FORMAT = "%Y%m%d-%H%M"
# Wall clock and UTC order differ by at most one DST shift (an hour, anywhere today):
# searching this far either side of the tick is enough to find the true latest fire.
_DST_MARGIN = timedelta(hours=3)


def validate_cron(cron: str) -> str:
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise InvalidMessage(f"cron {cron!r} is not a 5-field unix-cron expression")
    return cron


def zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidMessage(f"time zone {time_zone!r} is not a known IANA time zone") from None


def latest_fire(cron: str, time_zone: str, at: datetime) -> datetime:
    """The latest fire time of `cron` in `time_zone` at or before `at` (aware, UTC)."""
    if at.tzinfo is None:
        raise ValueError("slot times must be timezone-aware")
    validate_cron(cron)
    tz = zone(time_zone)
    at = at.astimezone(UTC)
    start = (at + _DST_MARGIN).astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    matches = croniter(cron, start + timedelta(minutes=1))
    best: datetime | None = None
    while True:
        wall = matches.get_prev(datetime)
        fire = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if fire <= at and (best is None or fire > best):
            best = fire
        if fire < at - _DST_MARGIN:
            if best is not None:
                return best
            # A cron with no fire in the margin: the first match at or before `at` is it.
            if fire <= at:
                return fire


def next_fire(cron: str, time_zone: str, after: datetime) -> datetime:
    """The first fire time of `cron` in `time_zone` strictly after `after` (aware, UTC),
    with the same DST mapping as latest_fire."""
    if after.tzinfo is None:
        raise ValueError("slot times must be timezone-aware")
    validate_cron(cron)
    tz = zone(time_zone)
    after = after.astimezone(UTC)
    start = (after - _DST_MARGIN).astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    matches = croniter(cron, start - timedelta(minutes=1))
    best: datetime | None = None
    while True:
        fire = matches.get_next(datetime).replace(tzinfo=tz, fold=0).astimezone(UTC)
        # Wall-clock order may differ from UTC order by one DST shift: a later wall
        # match can still be the earlier fire, so look one margin past the first found.
        if best is not None and fire > best + _DST_MARGIN:
            return best
        if fire > after and (best is None or fire < best):
            best = fire


def period(cron: str, time_zone: str, at: datetime) -> timedelta:
    """The interval between the two latest fires of `cron` at or before `at`: the cadence
    an operator reads next to a snapshot's age."""
    latest = latest_fire(cron, time_zone, at)
    return latest - latest_fire(cron, time_zone, latest - timedelta(minutes=1))


def slot_for(at: datetime, cron: str | None, time_zone: str | None) -> datetime:
    """The slot of a tick at `at`: the cron's latest fire, or the minute for a manual tick."""
    if at.tzinfo is None:
        raise ValueError("slot times must be timezone-aware")
    if cron:
        return latest_fire(cron, time_zone or "Etc/UTC", at)
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def format_slot(slot: datetime) -> str:
    return slot.astimezone(UTC).strftime(SLOT_FORMAT)


def parse_slot(text: str) -> datetime:
    try:
        return datetime.strptime(text, SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidMessage(f"slot {text!r} is not of the form yyyymmdd-hhmm") from None


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (Pub/Sub publish times, a tick's `time`), as aware UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidMessage(f"time {text!r} is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise InvalidMessage(f"time {text!r} has no UTC offset")
    return value.astimezone(UTC)

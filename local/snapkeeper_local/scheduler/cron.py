"""Unix-cron schedules in a time zone: validation and the next fire time.

Cloud Scheduler runs on wall-clock time in the job's time zone. Fire times are computed
on naive wall-clock times (so croniter never sees a DST jump) and then placed in the
zone with `fold=0`:

- a wall time that does not exist (spring forward, e.g. 02:30 in America/New_York on
  the second Sunday of March) fires once, shifted by the gap (03:30 EDT);
- a wall time that happens twice (fall back, 01:30) fires once, at its first occurrence.

The real service only promises "execution anomalies" around DST; this is the fake's
documented, deterministic choice.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from .errors import SCHEDULE_OR_TIME_ZONE_INVALID, InvalidArgument

DEFAULT_TIME_ZONE = "Etc/UTC"

# Names allowed per field (minute, hour, day of month, month, day of week), as in the
# Cloud Scheduler docs; croniter's extensions (H, L, W, #, ?) are not unix-cron.
_MONTH_NAMES = frozenset(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
)
_DAY_NAMES = frozenset(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
_FIELD_NAMES: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset(),
    frozenset(),
    _MONTH_NAMES,
    _DAY_NAMES,
)
_FIELD_CHARS = re.compile(r"^[0-9A-Za-z*,/-]+$")
_WORD = re.compile(r"[A-Za-z]+")

# croniter gives up on a schedule that never matches (e.g. 30 February) after this span.
_MAX_YEARS_BETWEEN_MATCHES = 8
# Candidates tried per call: starting an hour early, a minutely schedule needs ~61.
_MAX_CANDIDATES = 1024


def is_valid_schedule(schedule: str) -> bool:
    fields = schedule.split()
    if len(fields) != len(_FIELD_NAMES):
        return False
    for field, names in zip(fields, _FIELD_NAMES, strict=True):
        if not _FIELD_CHARS.match(field):
            return False
        if any(word.upper() not in names for word in _WORD.findall(field)):
            return False
    return bool(croniter.is_valid(" ".join(fields)))


def time_zone(name: str) -> ZoneInfo:
    """The zone for a tz database name; "utc" in any case is UTC, as the API documents."""
    if name.lower() == "utc":
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidArgument(SCHEDULE_OR_TIME_ZONE_INVALID) from error


def validate(schedule: str, time_zone_name: str) -> None:
    """Raise InvalidArgument with the real service's message for either mistake."""
    if not is_valid_schedule(schedule):
        raise InvalidArgument(SCHEDULE_OR_TIME_ZONE_INVALID)
    time_zone(time_zone_name)


def next_fire_time(schedule: str, time_zone_name: str, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` (aware), in UTC; None if it never fires."""
    if after.tzinfo is None:
        raise ValueError("after must be a timezone-aware datetime")
    zone = time_zone(time_zone_name)
    after_utc = after.astimezone(UTC)
    # Start one wall-clock hour early: around a fall-back transition the wall time of
    # `after` can map back before it, and earlier candidates are filtered below.
    start = after_utc.astimezone(zone).replace(tzinfo=None) - timedelta(hours=1)
    iterator = croniter(
        " ".join(schedule.split()),
        start,
        max_years_between_matches=_MAX_YEARS_BETWEEN_MATCHES,
    )
    try:
        for _ in range(_MAX_CANDIDATES):
            wall: datetime = iterator.get_next(datetime)
            fire = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
            if fire > after_utc:
                return fire
    except (CroniterBadDateError, CroniterBadCronError):
        return None
    return None

"""The fake clock that every status of the fake derives from, and its delays.

Nothing runs in the background: a snapshot is CREATING, UPLOADING, then READY as the clock
passes its deadlines, so tests drive time instead of sleeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import errors

# The real API writes timestamps in Pacific time ("...-07:00"); consumers must parse the
# offset, not assume UTC.
try:
    API_TIMEZONE: tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # no tz database: still a valid RFC 3339 offset
    API_TIMEZONE = UTC


def rfc3339(epoch: float) -> str:
    """2026-01-02T03:04:05.000-08:00, the real API's timestamp form."""
    return datetime.fromtimestamp(epoch, API_TIMEZONE).isoformat(timespec="milliseconds")


def parse_time(text: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.Invalid.field("creationTimestamp", text, "Not an RFC 3339 time.") from exc
    if when.tzinfo is None:
        raise errors.Invalid.field("creationTimestamp", text, "The time needs an offset.")
    return when.timestamp()


class FakeClock:
    """Wall-clock time plus an offset, or frozen at a moment. With a `rate` above 1 it
    runs that many times faster than the wall clock (the time scale), so that operation
    times and quota windows, all measured on this clock, shrink together."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen_at: float | None = None
        self.rate = 1.0
        self._since = time.time()  # when the rate took effect

    def now(self) -> float:
        if self.frozen_at is not None:
            return self.frozen_at
        real = time.time()
        return real + self.offset + (real - self._since) * (self.rate - 1.0)

    def set(self, when: float, frozen: bool) -> None:
        self._since = time.time()
        self.offset = when - self._since
        self.frozen_at = when if frozen else None

    def set_rate(self, rate: float) -> None:
        """Run `rate` times faster from now on (the time so far is kept)."""
        if rate <= 0:
            raise errors.Invalid.field("time_scale", rate, "Must be > 0.")
        self.set(self.now(), self.frozen_at is not None)
        self.rate = rate

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        if self.frozen_at is not None:
            self.frozen_at += seconds

    def to_json(self) -> dict[str, object]:
        now = self.now()
        return {"now": rfc3339(now), "epoch": now, "frozen": self.frozen_at is not None}


@dataclass
class Timings:
    """Fake-clock delays, in seconds."""

    creating_seconds: float = 1.0
    uploading_seconds: float = 1.0
    disk_creating_seconds: float = 1.0
    rate_limit_seconds: float = 600.0
    # Real seconds an operations.wait call blocks before answering RUNNING.
    wait_seconds: float = 2.0
    # How many times faster than the wall clock the fake clock runs (FakeClock.rate).
    time_scale: float = 1.0

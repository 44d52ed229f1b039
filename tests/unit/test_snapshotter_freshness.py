"""How long a work message's labels stand for the disk's (snapshotter.labels_fresh_until
and labels_fresh): the rule that lets a first delivery skip reading the disk."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from snapkeeper.messages import WorkItem
from snapkeeper.snapshotter import FRESH_LABELS_SECONDS, labels_fresh, labels_fresh_until

DAILY = "0 3 * * *"
SLOT = datetime(2027, 3, 1, 3, tzinfo=UTC)
NEXT = datetime(2027, 3, 2, 3, tzinfo=UTC)
WINDOW = timedelta(seconds=FRESH_LABELS_SECONDS)


@pytest.mark.parametrize(
    ("read_at", "cron", "expected"),
    [
        # A tick at its slot: the labels stand until the schedule fires again.
        (SLOT + timedelta(seconds=2), DAILY, NEXT),
        # A slot caught up a day late: its next fire is past, ten minutes stand.
        (NEXT + timedelta(hours=5), DAILY, NEXT + timedelta(hours=5) + WINDOW),
        # Read just before the next fire: never less than ten minutes.
        (NEXT - timedelta(minutes=1), DAILY, NEXT - timedelta(minutes=1) + WINDOW),
        # A slot in the future (the clock of `tick --at`): at most one period.
        (SLOT - timedelta(days=30), DAILY, SLOT - timedelta(days=29)),
        # A manual tick without a cron: ten minutes.
        (SLOT, None, SLOT + WINDOW),
    ],
)
def test_labels_fresh_until(read_at: datetime, cron: str | None, expected: datetime) -> None:
    assert labels_fresh_until(read_at, SLOT, cron, "Etc/UTC") == expected


def test_an_hourly_tick_stands_until_the_next_hour() -> None:
    read_at = SLOT + timedelta(minutes=3)
    until = labels_fresh_until(read_at, SLOT, "0 * * * *", "Europe/Paris")
    assert until == SLOT + timedelta(hours=1)


def message(read: datetime | None, until: datetime | None) -> WorkItem:
    item = WorkItem("p-1", "us-central1-a", False, "data", "1", "daily", "20270301-0300", keep=2)
    return dataclasses.replace(
        item,
        labels_read_at=read.isoformat() if read else None,
        labels_fresh_until=until.isoformat() if until else None,
    )


@pytest.mark.parametrize(
    ("work", "attempt", "replayed", "now", "expected"),
    [
        (message(SLOT, NEXT), 1, False, SLOT + timedelta(hours=5), True),
        (message(SLOT, NEXT), 1, False, NEXT + timedelta(seconds=1), False),  # next tick's
        (message(SLOT, NEXT), 2, False, SLOT + timedelta(minutes=1), False),  # a redelivery
        (message(SLOT, NEXT), None, False, SLOT + timedelta(minutes=1), False),  # unknown
        (message(SLOT, NEXT), 1, True, SLOT + timedelta(minutes=1), False),  # a replay
        (message(SLOT, NEXT), 1, False, SLOT - timedelta(seconds=30), True),  # clock skew
        (message(SLOT, NEXT), 1, False, SLOT - timedelta(minutes=5), False),  # "future"
        # Without an end (older messages): ten minutes after the read.
        (message(SLOT, None), 1, False, SLOT + WINDOW, True),
        (message(SLOT, None), 1, False, SLOT + WINDOW + timedelta(seconds=1), False),
        (message(None, None), 1, False, SLOT, False),  # no read time: read the disk
    ],
)
def test_labels_fresh(
    work: WorkItem, attempt: int | None, replayed: bool, now: datetime, expected: bool
) -> None:
    assert labels_fresh(work, attempt, replayed=replayed, now=now) is expected

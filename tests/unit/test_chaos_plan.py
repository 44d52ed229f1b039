"""Where the soak's one-off faults fall (each once, in order, inside the run), and how
long a tick may take to settle."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snapkeeper.deployrules import RATE_LIMIT_SECONDS
from snapkeeper_local.chaos.soak import LOST_AFTER, SETTLE_TIMEOUT, WORK_ACK_DEADLINE, one_offs

ORDER = ("unreachable", "kill", "revoke", "restore", "quota", "lost", "catch_up")


@given(ticks=st.integers(min_value=10, max_value=5_000))
def test_every_one_off_happens_once_in_order_within_the_run(ticks: int) -> None:
    plan = one_offs(ticks)
    assert set(plan) == set(ORDER)
    indexes = [plan[name] for name in ORDER]
    assert indexes == sorted(set(indexes))  # one at a time, in this order
    assert indexes[0] > 0 and indexes[-1] < ticks  # the lost tick is caught up in the run
    assert plan["catch_up"] - plan["lost"] == 2  # caught up two ticks later, as an operator would


def test_the_permission_stays_lost_for_a_day_of_a_month() -> None:
    ticks = 30 * 25  # a month of hourly and daily ticks
    plan = one_offs(ticks)
    assert plan["restore"] - plan["revoke"] == ticks // 30


def test_a_short_run_has_no_one_offs() -> None:
    assert one_offs(9) == {}


def test_a_tick_may_settle_once_the_per_disk_limit_lets_a_published_again_copy_through() -> None:
    # A failed insert holds its disk for RATE_LIMIT_SECONDS; a copy of a lost message
    # (published again after LOST_AFTER, its attempts afresh) is retried until then.
    assert SETTLE_TIMEOUT >= RATE_LIMIT_SECONDS + LOST_AFTER + WORK_ACK_DEADLINE

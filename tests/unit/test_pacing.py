"""The pacer's rules, on a clock the test moves."""

from __future__ import annotations

import pytest

from snapkeeper.errors import RateLimited
from snapkeeper.pacing import DECREASE, FLOOR, HEADROOM, RELAX_SECONDS, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# 600 writes a minute over 5 instances: 2 writes a second each, paced just under that.
SEED = 2.0 * HEADROOM


def pacer(clock: Clock, max_wait: float = 30.0) -> Pacer:
    return Pacer(600, 5, max_wait, clock=clock, sleep=clock.sleep)


def test_open_until_the_first_rate_limit_error(clock: Clock) -> None:
    paced = pacer(clock)
    for _ in range(10):
        paced.acquire("p")
    assert clock.slept == [] and paced.rate("p") is None
    delay = paced.limited("p")
    assert paced.rate("p") == pytest.approx(SEED)
    assert delay == pytest.approx(1 / SEED)  # one interval of the seeded rate


def test_paced_writes_wait_their_turn_and_too_far_a_turn_is_refused(clock: Clock) -> None:
    interval = 1 / SEED
    paced = pacer(clock, max_wait=2 * interval)
    paced.limited("p")
    paced.acquire("p")
    paced.acquire("p")
    assert clock.slept == pytest.approx([interval, 2 * interval])
    with pytest.raises(RateLimited) as caught:
        paced.acquire("p")
    assert caught.value.delay == pytest.approx(3 * interval)
    paced.acquire("other-project")  # its own bucket, still open
    assert len(clock.slept) == 2


def test_errors_cut_once_per_burst_and_success_grows_back_to_the_seed(clock: Clock) -> None:
    paced = pacer(clock)
    paced.limited("p")
    clock.now += 10
    paced.limited("p")
    paced.limited("p")  # the same burst: no second cut
    assert paced.rate("p") == pytest.approx(SEED * DECREASE)
    for _ in range(200):
        paced.passed("p")
    assert paced.rate("p") == pytest.approx(SEED)
    for _ in range(100):
        clock.now += 100
        paced.limited("p")
    assert paced.rate("p") == pytest.approx(SEED * FLOOR)


def test_a_quiet_bucket_opens_again(clock: Clock) -> None:
    paced = pacer(clock)
    paced.limited("p")
    clock.now += RELAX_SECONDS + 1
    paced.acquire("p")
    assert paced.rate("p") is None

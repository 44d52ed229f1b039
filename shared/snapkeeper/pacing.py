"""Quota-aware pacing of Compute Engine writes, per process (one function instance).

snapshots.insert and snapshots.delete count against the project's write quota per
minute. A bucket per (project, quota bucket) stays open, costing nothing, until a write
meets a rate-limit error. Then it paces: one write per 1/rate seconds, the rate seeded at
COMPUTE_WRITE_QUOTA_PER_MINUTE / SNAPSHOT_MAX_INSTANCES (this instance's share when all
instances run) times HEADROOM, and adjusted AIMD: cut by DECREASE on a rate-limit error
(at most once per DECREASE_GAP intervals, so one burst of errors cuts once), grown by
INCREASE of the seed after each write that passed, never above the seed. A bucket with
no error for RELAX_SECONDS opens again.

The snapshot function takes its turn before it reads anything (ComputeGateway.pace), so
work that is re-queued has cost no call.

A write whose turn is further than the bound away is not waited for: RateLimited says
when its turn is, and the handler re-queues the work with that not-before time.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from snapkeeper.errors import RateLimited

# Just under the quota: writes that bunch up in the quota's window stay within it.
HEADROOM = 0.9
DECREASE = 0.8
DECREASE_GAP = 10  # intervals of the current rate between two cuts
INCREASE = 0.02  # of the seed rate, per write that passed
FLOOR = 0.1  # of the seed rate
RELAX_SECONDS = 120.0
GLOBAL = "global"  # the bucket of writes to global resources (snapshots)


@dataclass
class _Bucket:
    rate: float  # writes per second
    next_at: float  # monotonic time of the next free turn
    last_error: float
    last_cut: float


class Pacer:
    """Buckets of one process, keyed by (project, bucket); thread-safe."""

    def __init__(
        self,
        writes_per_minute: int,
        instances: int,
        max_wait: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seed = HEADROOM * writes_per_minute / 60.0 / max(instances, 1)
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def rate(self, project: str, bucket: str = GLOBAL) -> float | None:
        """Writes per second of a paced bucket; None while it is open."""
        with self._lock:
            found = self._buckets.get((project, bucket))
            return found.rate if found else None

    def acquire(self, project: str, bucket: str = GLOBAL) -> None:
        """Wait for this write's turn; raise RateLimited when it is beyond the bound."""
        with self._lock:
            now = self._clock()
            found = self._buckets.get((project, bucket))
            if found is None:
                return
            if now - found.last_error > RELAX_SECONDS:
                del self._buckets[(project, bucket)]
                return
            start = max(now, found.next_at)
            wait = start - now
            if wait > self.max_wait:
                raise RateLimited(
                    f"the write quota of {project} is paced at {found.rate * 60:.1f} writes "
                    f"per minute in this instance; the next turn is in {wait:.0f}s",
                    delay=wait,
                )
            found.next_at = start + 1.0 / found.rate
        if wait > 0:
            self._sleep(wait)

    def passed(self, project: str, bucket: str = GLOBAL) -> None:
        with self._lock:
            found = self._buckets.get((project, bucket))
            if found is not None:
                found.rate = min(self.seed, found.rate + INCREASE * self.seed)

    def limited(self, project: str, bucket: str = GLOBAL) -> float:
        """A write met a rate-limit error: start pacing, or slow down. Returns the delay
        until this bucket's next turn (the not-before of re-queued work)."""
        with self._lock:
            now = self._clock()
            found = self._buckets.get((project, bucket))
            if found is None:
                found = _Bucket(self.seed, now, now, now)
                self._buckets[(project, bucket)] = found
            elif now - found.last_cut > DECREASE_GAP / found.rate:
                found.rate = max(FLOOR * self.seed, found.rate * DECREASE)
                found.last_cut = now
            found.last_error = now
            # Behind the turns already promised, one interval more.
            found.next_at = max(found.next_at, now) + 1.0 / found.rate
            return found.next_at - now


@functools.cache
def pacer(writes_per_minute: int, instances: int, max_wait: float) -> Pacer:
    """The process's pacer for these settings (module state: it outlives one delivery,
    as a function instance does)."""
    return Pacer(writes_per_minute, instances, max_wait)

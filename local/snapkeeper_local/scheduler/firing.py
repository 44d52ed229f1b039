"""The cron loop: a thread that fires each enabled job at its scheduleTime.

It sleeps on an Event until the earliest scheduleTime (or until a job changes, or stop),
so it neither polls busily nor misses a job created while it sleeps.
"""

from __future__ import annotations

import logging
import threading

from .backend import SchedulerBackend

log = logging.getLogger(__name__)

# Upper bound of one sleep: also bounds the effect of a wall-clock jump.
MAX_SLEEP_SECONDS = 30.0
# Lower bound: an Event can wake a hair before the due time; don't spin until then.
MIN_SLEEP_SECONDS = 0.01
STOP_TIMEOUT_SECONDS = 10.0


class CronLoop:
    def __init__(self, backend: SchedulerBackend) -> None:
        self._backend = backend
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-scheduler-cron", daemon=True)
        backend.add_listener(self._wakeup.set)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        self._stop.set()
        self._wakeup.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.warning("the cron loop did not stop within %.0f s", timeout)

    def wake(self) -> None:
        """Re-check due jobs now (e.g. after a test clock jumped ahead)."""
        self._wakeup.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wakeup.clear()
            try:
                self._backend.fire_due()
            except Exception:  # the loop must outlive any one bad step
                log.exception("fake Cloud Scheduler: firing due jobs failed")
            self._wakeup.wait(self._sleep_seconds())

    def _sleep_seconds(self) -> float:
        due = self._backend.next_schedule_time()
        if due is None:
            return MAX_SLEEP_SECONDS
        seconds = (due - self._backend.now()).total_seconds()
        return min(max(seconds, MIN_SLEEP_SECONDS), MAX_SLEEP_SECONDS)

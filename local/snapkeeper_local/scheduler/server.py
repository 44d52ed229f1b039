"""`SchedulerServer`: the fake API on a free loopback port plus its cron loop."""

from __future__ import annotations

import os
import time
from typing import Self

from ..httpserver import ServedFake, ServerThread
from ..jsonapi import RequestLog
from .admin import SchedulerAdmin
from .app import create_app
from .backend import Clock, SchedulerBackend, utc_now
from .firing import CronLoop
from .publisher import EmulatorPublisher

READY_TIMEOUT_SECONDS = 10.0


class SchedulerServer(ServedFake):
    """The fake Cloud Scheduler, firing into the Pub/Sub emulator at
    `pubsub_emulator_host` (default: PUBSUB_EMULATOR_HOST; with neither, attempts fail
    with FAILED_PRECONDITION rather than reach Google).

    `run_cron=False` leaves firing to `backend.fire_due(now)` only."""

    def __init__(
        self,
        pubsub_emulator_host: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = utc_now,
        run_cron: bool = True,
    ) -> None:
        emulator = pubsub_emulator_host or os.environ.get("PUBSUB_EMULATOR_HOST") or None
        self.pubsub_emulator_host = emulator
        self.backend = SchedulerBackend(EmulatorPublisher(emulator), clock=clock)
        self.request_log = RequestLog()
        self._server = ServerThread(create_app(self.backend, self.request_log), host, port)
        self._cron = CronLoop(self.backend) if run_cron else None
        self.admin = SchedulerAdmin(self._server.url)
        self._started = False

    @property
    def cron_alive(self) -> bool:
        """Whether the cron loop thread runs (False with run_cron=False or after stop)."""
        return self._cron is not None and self._cron.alive

    def start(self, timeout: float = READY_TIMEOUT_SECONDS) -> Self:
        self._server.start()
        self._started = True
        deadline = time.monotonic() + timeout
        while not self.admin.healthy():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the fake Cloud Scheduler at {self.url} did not answer")
            time.sleep(0.05)
        if self._cron is not None:
            self._cron.start()
        return self

    def stop(self) -> None:
        """Stop the cron loop (joined), the HTTP server and the Pub/Sub client."""
        if self._cron is not None:
            self._cron.stop()
        if self._started:
            self._server.stop()
            self._started = False
        self.admin.close()
        self.backend.close()

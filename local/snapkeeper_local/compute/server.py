"""The fake Compute Engine served over HTTP: in a thread (tests, demo) or as a command."""

from __future__ import annotations

import os

from ..httpserver import StartedFake
from .admin import ComputeAdmin
from .backend import Backend
from .responses import ComputeApp


class ComputeServer(StartedFake[ComputeAdmin]):
    """A started, ready fake on `host:port` (port 0: a free one) until `stop()`.

    With `state_path`, state is loaded from that JSON file when it exists and saved to it
    on `stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_path: str | os.PathLike[str] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.backend = backend or Backend()
        self.state_path = os.fspath(state_path) if state_path is not None else None
        if self.state_path and os.path.exists(self.state_path):
            self.backend.load_file(self.state_path)
        self.admin = ComputeAdmin(self._serve(ComputeApp(self.backend), host, port))

    def save(self) -> None:
        if self.state_path:
            self.backend.save_file(self.state_path)

    def _after_stop(self) -> None:
        self.save()

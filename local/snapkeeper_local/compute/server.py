"""The fake Compute Engine served over HTTP: in a thread (tests, demo) or as a command."""

from __future__ import annotations

import logging
import os

from ..httpserver import ServedFake, ServerThread
from .admin import ComputeAdmin
from .backend import Backend
from .responses import ComputeApp


def quiet_werkzeug() -> None:
    """werkzeug logs every request to stderr; the fake keeps its own request log. A level
    someone set explicitly is left alone."""
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class ComputeServer(ServedFake):
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
        quiet_werkzeug()
        self.backend = backend or Backend()
        self.state_path = os.fspath(state_path) if state_path is not None else None
        if self.state_path and os.path.exists(self.state_path):
            self.backend.load_file(self.state_path)
        # make_server binds in the constructor, so the port accepts connections at once.
        self._server = ServerThread(ComputeApp(self.backend), host, port).start()
        self.admin = ComputeAdmin(self._server.url)
        self._stopped = False

    def save(self) -> None:
        if self.state_path:
            self.backend.save_file(self.state_path)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self.admin.close()
        self.save()

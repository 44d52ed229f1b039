"""`ResourceManagerServer`: the fake API on a free loopback port."""

from __future__ import annotations

from ..compute.server import quiet_werkzeug
from ..httpserver import ServedFake, ServerThread
from ..jsonapi import RequestLog
from .admin import ResourceManagerAdmin
from .app import create_app
from .backend import ResourceManagerBackend


class ResourceManagerServer(ServedFake):
    """Started and answering once constructed (the port is bound at once); `stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backend: ResourceManagerBackend | None = None,
    ) -> None:
        quiet_werkzeug()
        self.backend = backend or ResourceManagerBackend()
        self.request_log = RequestLog()
        self._server = ServerThread(create_app(self.backend, self.request_log), host, port)
        self._server.start()
        self.admin = ResourceManagerAdmin(self._server.url)
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self.admin.close()

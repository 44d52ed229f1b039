"""`ResourceManagerServer`: the fake API on a free loopback port."""

from __future__ import annotations

from ..httpserver import StartedFake
from ..jsonapi import RequestLog
from .admin import ResourceManagerAdmin
from .app import create_app
from .backend import ResourceManagerBackend


class ResourceManagerServer(StartedFake[ResourceManagerAdmin]):
    """Started and answering once constructed (the port is bound at once); `stop()`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backend: ResourceManagerBackend | None = None,
    ) -> None:
        self.backend = backend or ResourceManagerBackend()
        self.request_log = RequestLog()
        app = create_app(self.backend, self.request_log)
        self.admin = ResourceManagerAdmin(self._serve(app, host, port))

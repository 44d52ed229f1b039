"""`AssetServer`: the fake API on a free loopback port, over a fake Compute Engine's
backend and a fake Resource Manager's (in this process)."""

from __future__ import annotations

from ..compute.server import quiet_werkzeug
from ..httpserver import ServedFake, ServerThread
from ..jsonapi import RequestLog
from ..resourcemanager.backend import ResourceManagerBackend
from .admin import AssetAdmin
from .app import create_app
from .backend import AssetBackend, ComputeSource


class AssetServer(ServedFake):
    """Started and answering once constructed (the port is bound at once); `stop()`."""

    def __init__(
        self,
        compute: ComputeSource,
        hierarchy: ResourceManagerBackend | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        quiet_werkzeug()
        self.backend = AssetBackend(compute, hierarchy)
        self.request_log = RequestLog()
        self._server = ServerThread(create_app(self.backend, self.request_log), host, port)
        self._server.start()
        self.admin = AssetAdmin(self._server.url)
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self.admin.close()

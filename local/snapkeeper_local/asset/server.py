"""`AssetServer`: the fake API on a free loopback port, over a fake Compute Engine's
backend and a fake Resource Manager's (in this process)."""

from __future__ import annotations

from ..httpserver import StartedFake
from ..jsonapi import RequestLog
from ..resourcemanager.backend import ResourceManagerBackend
from .admin import AssetAdmin
from .app import create_app
from .backend import AssetBackend, ComputeSource


class AssetServer(StartedFake[AssetAdmin]):
    """Started and answering once constructed (the port is bound at once); `stop()`."""

    def __init__(
        self,
        compute: ComputeSource,
        hierarchy: ResourceManagerBackend | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.backend = AssetBackend(compute, hierarchy)
        self.request_log = RequestLog()
        self.admin = AssetAdmin(self._serve(create_app(self.backend, self.request_log), host, port))

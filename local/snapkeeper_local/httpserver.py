"""A threaded WSGI server on a free loopback port, for the fakes.

Started in a background thread (tests, demo) or in the foreground (`snapkeeper-local`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, Self, TypeVar

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from snapkeeper_local.lifecycle import Service

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

STOP_TIMEOUT_SECONDS = 10.0


def quiet_werkzeug() -> None:
    """werkzeug logs every request to stderr; the fakes keep their own request logs. A
    level someone set explicitly is left alone."""
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


class ServerThread(Service):
    """Serve `app` on `host:port` (port 0 picks a free one) until `stop()`."""

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-{self.port}", daemon=True
        )

    @property
    def host(self) -> str:
        """host:port, the form the *_EMULATOR_HOST variables take."""
        return f"{self._server.host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS)


class ServedFake(Service):
    """A fake whose HTTP server is the `ServerThread` in `_server`: its address is the
    server's."""

    _server: ServerThread

    @property
    def host(self) -> str:
        """host:port, the value of the fake's *_EMULATOR_HOST variable."""
        return self._server.host

    @property
    def url(self) -> str:
        return self._server.url


class Closable(Protocol):
    def close(self) -> None: ...


AdminT = TypeVar("AdminT", bound=Closable)


class StartedFake(ServedFake, Generic[AdminT]):
    """A fake that serves from its construction (`_serve`: make_server binds in the
    constructor, so the port accepts connections at once) with an admin client in
    `admin`; `stop()` stops the server and closes the client, once."""

    admin: AdminT
    _stopped = False

    def _serve(self, app: WSGIApp, host: str, port: int) -> str:
        """Start serving `app`; the server's URL, for the admin client."""
        quiet_werkzeug()
        self._server = ServerThread(app, host, port).start()
        return self._server.url

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stop()
        self.admin.close()
        self._after_stop()

    def _after_stop(self) -> None:
        """What the fake does once its server is stopped (nothing unless overridden)."""


class DispatchingApp:
    """A WSGI application that answers each request with `dispatch(request)`."""

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.dispatch(Request(environ))
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        raise NotImplementedError


__all__ = [
    "DispatchingApp",
    "Request",
    "Response",
    "ServedFake",
    "ServerThread",
    "StartedFake",
    "WSGIApp",
    "quiet_werkzeug",
]

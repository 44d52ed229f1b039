"""The shared front of the fakes of Google's JSON APIs (google.rpc errors): route a
request through the routes table, call a thin handler, answer JSON; a request log of
what clients really asked; and the admin client's plumbing.

A fake is a routes table, a handler per API method id (taking the parsed `Call`), admin
handlers and a backend the handlers close over.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import requests
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map

from .httpserver import DispatchingApp, Request, Response
from .routing import Route, RouteTable, rules, url_map
from .rpc import HTTP_ERROR_STATUS, Internal, InvalidArgument, RpcError

log = logging.getLogger(__name__)

MAX_REQUESTS_LOGGED = 20_000
ADMIN_PREFIX = "/_fake/"
DEFAULT_ADMIN_TIMEOUT_SECONDS = 10.0


class RequestLog:
    """API method, path and query of the latest requests, and a count per method."""

    def __init__(self, limit: int = MAX_REQUESTS_LOGGED) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, str]] = deque(maxlen=limit)
        self._counts: Counter[str] = Counter()

    def add(self, api_method: str, method: str, path: str, query: str) -> None:
        with self._lock:
            self._entries.append(
                {"api_method": api_method, "method": method, "path": path, "query": query}
            )
            self._counts[api_method] += 1

    def entries(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._entries)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()


@dataclass(frozen=True)
class Call:
    """One API call as the handlers see it: path parameters and the request."""

    args: Mapping[str, str]
    request: Request

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.args

    def query_list(self, name: str) -> list[str]:
        """A repeated query parameter (`assetTypes=a&assetTypes=b`)."""
        return list(self.request.args.getlist(name))

    @property
    def enums_as_ints(self) -> bool:
        # The Python clients send `$alt=json;enum-encoding=int`; others want enum names.
        return "enum-encoding=int" in self.query.get("$alt", "")

    def body(self) -> Any:
        raw = self.request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidArgument(f"Invalid JSON payload received. {error}") from error

    def integer(self, name: str, default: int = 0) -> int:
        raw = self.query.get(name, "")
        if raw == "":
            return default
        try:
            return int(raw)
        except ValueError as error:
            raise InvalidArgument(f"Invalid value at '{name}' (TYPE_INT32), \"{raw}\"") from error

    def boolean(self, name: str) -> bool:
        raw = self.query.get(name, "false").lower()
        if raw not in ("true", "false"):
            raise InvalidArgument(f"Invalid value at '{name}' (TYPE_BOOL), \"{raw}\"")
        return raw == "true"


Handler = Callable[[Call], Any]


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class JsonApiApp(DispatchingApp):
    """Serves `api` handlers (endpoint kind "api") and admin handlers (kind "admin"): the
    common ones (health, reset, requests) and the fake's own, `admin`. `reset` clears the
    backend, the request log is cleared with it."""

    def __init__(
        self,
        name: str,
        url_map: Map,
        api: Mapping[str, Handler],
        admin: Mapping[str, Handler],
        reset: Callable[[], None],
        request_log: RequestLog,
    ) -> None:
        self.name = name
        self.url_map = url_map
        self.api = api
        self.admin = {**common_admin(request_log, reset), **admin}
        self.request_log = request_log

    def dispatch(self, request: Request) -> Response:
        try:
            (kind, name), args = self.url_map.bind_to_environ(request.environ).match()
            call = Call(args, request)
            if kind == "admin":
                return _json(self.admin[name](call))
            self.request_log.add(
                name, request.method, request.path, unquote(request.query_string.decode())
            )
            return _json(self.api[name](call))
        except RpcError as error:
            return _json(error.to_json(), error.http_status)
        except HTTPException as error:
            code = error.code or 500
            status = HTTP_ERROR_STATUS.get(code, "UNKNOWN")
            message = f"{request.method} {request.path}: {error.description}"
            return _json({"error": {"code": code, "message": message, "status": status}}, code)
        except Exception as error:
            log.exception("fake %s: unhandled error", self.name)
            wrapped = Internal(f"Internal error in the local fake: {error}")
            return _json(wrapped.to_json(), wrapped.http_status)


class AdminClient:
    """The admin API's HTTP plumbing, in moto's spirit: health, reset, requests."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_ADMIN_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}{ADMIN_PREFIX}{path}", json=body, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()

    def healthy(self) -> bool:
        try:
            return bool(self.call("GET", "health").get("ok"))
        except requests.RequestException:
            return False

    def reset(self) -> None:
        self.call("POST", "reset")

    def requests(self) -> list[dict[str, str]]:
        """The latest API requests (api_method, method, path, query), oldest first."""
        return list(self.call("GET", "requests")["requests"])

    def request_counts(self) -> dict[str, int]:
        """Requests per API method since the last reset or clear."""
        return dict(self.call("GET", "requests")["counts"])

    def clear_requests(self) -> None:
        self.call("DELETE", "requests")

    def close(self) -> None:
        self._session.close()


def admin_routes(*own: Route) -> RouteTable:
    """The admin routes every such fake has, and the fake's `own` (paths under
    ADMIN_PREFIX)."""
    return (
        (ADMIN_PREFIX + "health", "GET", "health"),
        (ADMIN_PREFIX + "reset", "POST", "reset"),
        (ADMIN_PREFIX + "requests", "GET", "requests"),
        (ADMIN_PREFIX + "requests", "DELETE", "clear_requests"),
        *((ADMIN_PREFIX + path, method, name) for path, method, name in own),
    )


def api_map(
    prefix: str, api: RouteTable, admin: RouteTable, *, colon_ends_segment: bool = False
) -> Map:
    """The URL map of a fake: its API routes under the version `prefix`, its admin routes."""
    return url_map(
        rules(api, prefix=prefix) + rules(admin, kind="admin"),
        colon_ends_segment=colon_ends_segment,
    )


def common_admin(request_log: RequestLog, reset: Callable[[], None]) -> dict[str, Handler]:
    def do_reset(call: Call) -> dict[str, Any]:
        reset()
        request_log.clear()
        return {}

    def clear(call: Call) -> dict[str, Any]:
        request_log.clear()
        return {}

    return {
        "health": lambda call: {"ok": True},
        "reset": do_reset,
        "requests": lambda call: {
            "requests": request_log.entries(),
            "counts": request_log.counts(),
        },
        "clear_requests": clear,
    }

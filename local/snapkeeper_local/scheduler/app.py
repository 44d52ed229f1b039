"""The WSGI app: route a request, call the backend through a thin handler, answer JSON.

Handlers pick path parameters, query and body and hand them to the backend (`wire`
converts the JSON); errors answer in the API's google.rpc shape.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from ..httpserver import DispatchingApp
from . import wire
from .backend import Job, SchedulerBackend, parse_timestamp
from .errors import Internal, InvalidArgument, NotFound, SchedulerError
from .routes import ADMIN_PREFIX, JOB_METHODS, build_map

log = logging.getLogger(__name__)

MAX_REQUESTS_LOGGED = 1000
# Werkzeug's own HTTP errors (unknown path, wrong verb) in google.rpc terms.
HTTP_ERROR_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
}


class RequestLog:
    """Method, path and query of the latest requests: what gcloud really asked."""

    def __init__(self, limit: int = MAX_REQUESTS_LOGGED) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, str]] = deque(maxlen=limit)

    def add(self, method: str, path: str, query: str) -> None:
        with self._lock:
            self._entries.append({"method": method, "path": path, "query": query})

    def entries(self) -> list[dict[str, str]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True)
class Call:
    """One API call as the handlers see it: path parameters and the request."""

    args: Mapping[str, str]
    request: Request

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.args

    def body(self) -> Any:
        """The JSON body; parsed only by the methods that take one, as the real front end."""
        raw = self.request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidArgument(f"Invalid JSON payload received. {error}") from error

    @property
    def parent(self) -> str:
        return f"projects/{self.args['project']}/locations/{self.args['location']}"

    @property
    def job_name(self) -> str:
        return f"{self.parent}/jobs/{self.args['job']}"

    def page_size(self) -> int:
        raw = self.query.get("pageSize", "0")
        try:
            return int(raw)
        except ValueError as error:
            raise InvalidArgument(f"Invalid value for pageSize: {raw!r}.") from error

    def job_json(self, job: Job) -> dict[str, Any]:
        # The Python client sends `$alt=json;enum-encoding=int`; gcloud wants enum names.
        return wire.job_to_json(job, "enum-encoding=int" in self.query.get("$alt", ""))


ApiHandler = Callable[[SchedulerBackend, Call], Any]


def _list_jobs(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    jobs, next_token = backend.list_jobs(
        call.parent, call.page_size(), call.query.get("pageToken", "")
    )
    payload: dict[str, Any] = {}
    if jobs:
        payload["jobs"] = [call.job_json(job) for job in jobs]
    if next_token:
        payload["nextPageToken"] = next_token
    return payload


def _patch_job(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    body = call.body()
    if isinstance(body, dict) and body.get("name", call.job_name) != call.job_name:
        raise InvalidArgument("The job name in the body does not match the URL.")
    mask = wire.parse_update_mask(call.query.get("updateMask", call.query.get("update_mask")))
    job = backend.update_job(call.job_name, lambda current: wire.apply_patch(current, body, mask))
    return call.job_json(job)


def _delete_job(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    backend.delete_job(call.job_name)
    return {}


def _job_verb(action: Callable[[SchedulerBackend, str], Job]) -> ApiHandler:
    """pause, resume and run: a custom method on a job, answering the job."""

    def handler(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
        call.body()  # validated like the real front end, though these bodies carry nothing
        return call.job_json(action(backend, call.job_name))

    return handler


def _list_locations(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    locations, next_token = backend.list_locations(
        call.args["project"], call.page_size(), call.query.get("pageToken", "")
    )
    payload: dict[str, Any] = {"locations": [wire.location_to_json(x) for x in locations]}
    if next_token:
        payload["nextPageToken"] = next_token
    return payload


def _no_app_engine_app(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    # gcloud looks for an App Engine app to pick a default --location. The local stack
    # has none, so answer as App Engine does for a project without an app.
    raise NotFound(f'Could not find Application "{call.args["app"]}".')


API_HANDLERS: Mapping[str, ApiHandler] = {
    f"{JOB_METHODS}.list": _list_jobs,
    f"{JOB_METHODS}.create": lambda b, c: c.job_json(
        b.create_job(c.parent, wire.job_from_json(c.body()))
    ),
    f"{JOB_METHODS}.get": lambda b, c: c.job_json(b.get_job(c.job_name)),
    f"{JOB_METHODS}.patch": _patch_job,
    f"{JOB_METHODS}.delete": _delete_job,
    f"{JOB_METHODS}.pause": _job_verb(SchedulerBackend.pause_job),
    f"{JOB_METHODS}.resume": _job_verb(SchedulerBackend.resume_job),
    f"{JOB_METHODS}.run": _job_verb(SchedulerBackend.run_job),
    "cloudscheduler.projects.locations.list": _list_locations,
    "cloudscheduler.projects.locations.get": lambda b, c: wire.location_to_json(
        b.get_location(c.args["project"], c.args["location"])
    ),
    "appengine.apps.get": _no_app_engine_app,
}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


class SchedulerApp(DispatchingApp):
    """WSGI application serving the Cloud Scheduler API and the admin API of one backend."""

    def __init__(self, backend: SchedulerBackend, request_log: RequestLog) -> None:
        self.backend = backend
        self.request_log = request_log
        self.url_map = build_map()
        self.admin_handlers: Mapping[str, Callable[[Call], Any]] = {
            "health": lambda _: {"ok": True},
            "reset": self._reset,
            "attempts": lambda _: {"attempts": [a.to_json() for a in backend.attempts()]},
            "requests": lambda _: {"requests": request_log.entries()},
            "fire": self._fire,
        }

    def dispatch(self, request: Request) -> Response:
        if not request.path.startswith(ADMIN_PREFIX):
            self.request_log.add(
                request.method, request.path, unquote(request.query_string.decode())
            )
        try:
            (kind, name), args = self.url_map.bind_to_environ(request.environ).match()
            call = Call(args, request)
            if kind == "admin":
                return _json(self.admin_handlers[name](call))
            return _json(API_HANDLERS[name](self.backend, call))
        except SchedulerError as error:
            return _json(error.to_json(), error.http_status)
        except HTTPException as error:
            code = error.code or 500
            status = HTTP_ERROR_STATUS.get(code, "UNKNOWN")
            message = f"{request.method} {request.path}: {error.description}"
            return _json({"error": {"code": code, "message": message, "status": status}}, code)
        except Exception as error:
            log.exception("fake Cloud Scheduler: unhandled error")
            wrapped = Internal(f"Internal error in the local fake: {error}")
            return _json(wrapped.to_json(), wrapped.http_status)

    def _reset(self, call: Call) -> dict[str, Any]:
        self.backend.reset()
        self.request_log.clear()
        return {}

    def _fire(self, call: Call) -> dict[str, Any]:
        body = call.body()
        now = parse_timestamp(body["now"]) if isinstance(body, dict) and "now" in body else None
        return {"attempts": [attempt.to_json() for attempt in self.backend.fire_due(now)]}


def create_app(backend: SchedulerBackend, request_log: RequestLog | None = None) -> SchedulerApp:
    return SchedulerApp(backend, request_log or RequestLog())

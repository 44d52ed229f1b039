"""Routes and thin handlers: HTTP in, backend call, JSON out.

Paths are those of the `google-cloud-scheduler` REST transport (and of gcloud):
`/v1/projects/{p}/locations/{l}/jobs[/{id}[:pause|:resume|:run]]`, the locations mixin,
App Engine's `apps.get` (gcloud asks it for a default location), and `/_fake/*` for
tests and the demo.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from . import wire
from .backend import SchedulerBackend, parse_timestamp
from .errors import Internal, InvalidArgument, NotFound, SchedulerError

log = logging.getLogger(__name__)

MAX_REQUESTS_LOGGED = 1000
ADMIN_PREFIX = "/_fake/"
JOBS = "/v1/projects/<project>/locations/<location>/jobs"
# Custom methods after the job id (`jobs/ID:run`), and the backend call each makes.
JOB_VERBS: dict[str, Callable[[SchedulerBackend, str], Any]] = {
    "pause": SchedulerBackend.pause_job,
    "resume": SchedulerBackend.resume_job,
    "run": SchedulerBackend.run_job,
}
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


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _body() -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidArgument(f"Invalid JSON payload received. {error}") from error


def _int_enums() -> bool:
    # The Python client sends `$alt=json;enum-encoding=int`; gcloud wants enum names.
    return "enum-encoding=int" in request.args.get("$alt", "")


def _page_size() -> int:
    raw = request.args.get("pageSize", "0")
    try:
        return int(raw)
    except ValueError as error:
        raise InvalidArgument(f"Invalid value for pageSize: {raw!r}.") from error


def _job_name(project: str, location: str, job_id: str) -> str:
    return f"projects/{project}/locations/{location}/jobs/{job_id}"


def create_app(backend: SchedulerBackend, requests_log: RequestLog | None = None) -> Flask:
    app = Flask(__name__)
    app.url_map.strict_slashes = False
    seen = requests_log or RequestLog()

    @app.before_request
    def log_request() -> None:
        if not request.path.startswith(ADMIN_PREFIX):
            seen.add(request.method, request.path, unquote(request.query_string.decode()))

    @app.errorhandler(SchedulerError)
    def api_error(error: SchedulerError) -> Response:
        return _json(error.to_json(), error.http_status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        status = HTTP_ERROR_STATUS.get(code, "UNKNOWN")
        message = f"{request.method} {request.path}: {error.description}"
        return _json({"error": {"code": code, "message": message, "status": status}}, code)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("fake Cloud Scheduler: unhandled error")
        wrapped = Internal(f"Internal error in the local fake: {error}")
        return _json(wrapped.to_json(), wrapped.http_status)

    # -- jobs -------------------------------------------------------------------

    @app.get(JOBS)
    def list_jobs(project: str, location: str) -> Response:
        parent = f"projects/{project}/locations/{location}"
        page_token = request.args.get("pageToken", "")
        jobs, next_token = backend.list_jobs(parent, _page_size(), page_token)
        payload: dict[str, Any] = {}
        if jobs:
            payload["jobs"] = [wire.job_to_json(job, _int_enums()) for job in jobs]
        if next_token:
            payload["nextPageToken"] = next_token
        return _json(payload)

    @app.post(JOBS)
    def create_job(project: str, location: str) -> Response:
        parent = f"projects/{project}/locations/{location}"
        job = backend.create_job(parent, wire.job_from_json(_body()))
        return _json(wire.job_to_json(job, _int_enums()))

    @app.get(JOBS + "/<job_id>")
    def get_job(project: str, location: str, job_id: str) -> Response:
        job = backend.get_job(_job_name(project, location, job_id))
        return _json(wire.job_to_json(job, _int_enums()))

    @app.patch(JOBS + "/<job_id>")
    def update_job(project: str, location: str, job_id: str) -> Response:
        name = _job_name(project, location, job_id)
        body = _body()
        if isinstance(body, dict) and body.get("name", name) != name:
            raise InvalidArgument("The job name in the body does not match the URL.")
        mask = wire.parse_update_mask(
            request.args.get("updateMask", request.args.get("update_mask"))
        )
        job = backend.update_job(name, lambda current: wire.apply_patch(current, body, mask))
        return _json(wire.job_to_json(job, _int_enums()))

    @app.delete(JOBS + "/<job_id>")
    def delete_job(project: str, location: str, job_id: str) -> Response:
        backend.delete_job(_job_name(project, location, job_id))
        return _json({})

    @app.post(JOBS + "/<job_id>")
    def job_verb(project: str, location: str, job_id: str) -> Response:
        job_id, _, verb = job_id.partition(":")
        action = JOB_VERBS.get(verb)
        if action is None:
            raise NotFound(f"Unknown method {verb!r} on a job.")
        _body()  # validated like the real front end, though these bodies carry nothing
        job = action(backend, _job_name(project, location, job_id))
        return _json(wire.job_to_json(job, _int_enums()))

    # -- locations mixin, and the App Engine lookup gcloud makes -------------------

    @app.get("/v1/projects/<project>/locations")
    def list_locations(project: str) -> Response:
        page_token = request.args.get("pageToken", "")
        locations, next_token = backend.list_locations(project, _page_size(), page_token)
        payload: dict[str, Any] = {"locations": [wire.location_to_json(x) for x in locations]}
        if next_token:
            payload["nextPageToken"] = next_token
        return _json(payload)

    @app.get("/v1/projects/<project>/locations/<location>")
    def get_location(project: str, location: str) -> Response:
        return _json(wire.location_to_json(backend.get_location(project, location)))

    @app.get("/v1/apps/<app_id>")
    def get_app_engine_app(app_id: str) -> Response:
        # gcloud looks for an App Engine app to pick a default --location. The local
        # stack has none, so answer as App Engine does for a project without an app.
        raise NotFound(f'Could not find Application "{app_id}".')

    # -- admin API ----------------------------------------------------------------

    @app.get("/_fake/health")
    def health() -> Response:
        return _json({"ok": True})

    @app.post("/_fake/reset")
    def reset() -> Response:
        backend.reset()
        seen.clear()
        return _json({})

    @app.get("/_fake/attempts")
    def attempts() -> Response:
        return _json({"attempts": [attempt.to_json() for attempt in backend.attempts()]})

    @app.get("/_fake/requests")
    def requests_seen() -> Response:
        return _json({"requests": seen.entries()})

    @app.post("/_fake/fire")
    def fire() -> Response:
        body = _body()
        now = parse_timestamp(body["now"]) if isinstance(body, dict) and "now" in body else None
        fired = backend.fire_due(now)
        return _json({"attempts": [attempt.to_json() for attempt in fired]})

    return app

"""Thin handlers: path parameters, query and body to the backend (`wire` converts the
JSON), jobs back to JSON; `..jsonapi` routes, logs and answers errors in the API's
google.rpc shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..jsonapi import Call, Handler, JsonApiApp, RequestLog
from . import wire
from .backend import Job, SchedulerBackend, parse_timestamp
from .errors import InvalidArgument, NotFound
from .routes import JOB_METHODS, build_map


def _parent(call: Call) -> str:
    return f"projects/{call.args['project']}/locations/{call.args['location']}"


def _job_name(call: Call) -> str:
    return f"{_parent(call)}/jobs/{call.args['job']}"


def _job_json(call: Call, job: Job) -> dict[str, Any]:
    return wire.job_to_json(job, call.enums_as_ints)


ApiHandler = Callable[[SchedulerBackend, Call], Any]


def _list_jobs(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    jobs, next_token = backend.list_jobs(
        _parent(call), call.integer("pageSize"), call.query.get("pageToken", "")
    )
    payload: dict[str, Any] = {}
    if jobs:
        payload["jobs"] = [_job_json(call, job) for job in jobs]
    if next_token:
        payload["nextPageToken"] = next_token
    return payload


def _patch_job(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    body = call.body()
    if isinstance(body, dict) and body.get("name", _job_name(call)) != _job_name(call):
        raise InvalidArgument("The job name in the body does not match the URL.")
    mask = wire.parse_update_mask(call.query.get("updateMask", call.query.get("update_mask")))
    job = backend.update_job(_job_name(call), lambda current: wire.apply_patch(current, body, mask))
    return _job_json(call, job)


def _delete_job(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    backend.delete_job(_job_name(call))
    return {}


def _job_verb(action: Callable[[SchedulerBackend, str], Job]) -> ApiHandler:
    """pause, resume and run: a custom method on a job, answering the job."""

    def handler(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
        call.body()  # validated like the real front end, though these bodies carry nothing
        return _job_json(call, action(backend, _job_name(call)))

    return handler


def _list_locations(backend: SchedulerBackend, call: Call) -> dict[str, Any]:
    locations, next_token = backend.list_locations(
        call.args["project"], call.integer("pageSize"), call.query.get("pageToken", "")
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
    f"{JOB_METHODS}.create": lambda b, c: _job_json(
        c, b.create_job(_parent(c), wire.job_from_json(c.body()))
    ),
    f"{JOB_METHODS}.get": lambda b, c: _job_json(c, b.get_job(_job_name(c))),
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


def admin_handlers(backend: SchedulerBackend) -> Mapping[str, Handler]:
    def fire(call: Call) -> dict[str, Any]:
        body = call.body()
        now = parse_timestamp(body["now"]) if isinstance(body, dict) and "now" in body else None
        return {"attempts": [attempt.to_json() for attempt in backend.fire_due(now)]}

    return {
        "attempts": lambda call: {"attempts": [a.to_json() for a in backend.attempts()]},
        "fire": fire,
    }


def create_app(backend: SchedulerBackend, request_log: RequestLog | None = None) -> JsonApiApp:
    """API handlers take the backend first; the app's handlers take the call alone."""
    api = {name: _bound(handler, backend) for name, handler in API_HANDLERS.items()}
    log = request_log or RequestLog()
    return JsonApiApp(
        "Cloud Scheduler", build_map(), api, admin_handlers(backend), backend.reset, log
    )


def _bound(handler: ApiHandler, backend: SchedulerBackend) -> Handler:
    return lambda call: handler(backend, call)

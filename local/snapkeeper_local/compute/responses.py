"""The WSGI app: route a request, apply fault rules, call the backend, log the call.

Handlers stay thin: they pick path parameters, query and body, and hand them to the
backend, which owns every rule of the API.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from ..httpserver import DispatchingApp
from . import errors
from .backend import Backend
from .faults import FaultRule
from .routes import build_map

JSON_TYPE = "application/json; charset=UTF-8"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One API call as the handlers see it."""

    args: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    fail_snapshot: FaultRule | None = None
    unreachable: tuple[str, ...] = ()  # scopes an aggregated list leaves out (faults)

    @property
    def request_id(self) -> str | None:
        return self.query.get("requestId") or None


ApiHandler = Callable[[Backend, Call], dict[str, Any]]


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _disk_scope(call: Call) -> str:
    return f"zones/{call.args['zone']}" if "zone" in call.args else f"regions/{call.args['region']}"


def _op_scope(call: Call) -> str:
    if "zone" in call.args:
        return f"zones/{call.args['zone']}"
    if "region" in call.args:
        return f"regions/{call.args['region']}"
    return "global"


def _delete_disk(api_method: str) -> ApiHandler:
    def handler(backend: Backend, call: Call) -> dict[str, Any]:
        return backend.delete_disk(
            call.args["project"], _disk_scope(call), call.args["disk"], call.request_id, api_method
        )

    return handler


def _set_disk_labels(api_method: str) -> ApiHandler:
    def handler(backend: Backend, call: Call) -> dict[str, Any]:
        return backend.set_disk_labels(
            call.args["project"],
            _disk_scope(call),
            call.args["resource"],
            call.body,
            call.request_id,
            api_method,
        )

    return handler


def _create_disk_snapshot(backend: Backend, call: Call) -> dict[str, Any]:
    return backend.create_disk_snapshot(
        call.args["project"],
        _disk_scope(call),
        call.args["disk"],
        call.body,
        call.request_id,
        _flag(call.query.get("guestFlush")),
        call.fail_snapshot,
    )


API_HANDLERS: Mapping[str, ApiHandler] = {
    "compute.projects.get": lambda b, c: b.get_project(c.args["project"]),
    "compute.disks.aggregatedList": lambda b, c: b.aggregated_disks(
        c.args["project"], c.query, c.unreachable
    ),
    "compute.disks.list": lambda b, c: b.list_disks(
        c.args["project"], _disk_scope(c), c.query, "compute.disks.list"
    ),
    "compute.regionDisks.list": lambda b, c: b.list_disks(
        c.args["project"], _disk_scope(c), c.query, "compute.regionDisks.list"
    ),
    "compute.disks.get": lambda b, c: b.get_disk(
        c.args["project"], _disk_scope(c), c.args["disk"], "compute.disks.get"
    ),
    "compute.regionDisks.get": lambda b, c: b.get_disk(
        c.args["project"], _disk_scope(c), c.args["disk"], "compute.regionDisks.get"
    ),
    "compute.disks.insert": lambda b, c: b.insert_disk(
        c.args["project"], _disk_scope(c), c.body, c.request_id, "compute.disks.insert"
    ),
    "compute.regionDisks.insert": lambda b, c: b.insert_disk(
        c.args["project"], _disk_scope(c), c.body, c.request_id, "compute.regionDisks.insert"
    ),
    "compute.disks.delete": _delete_disk("compute.disks.delete"),
    "compute.regionDisks.delete": _delete_disk("compute.regionDisks.delete"),
    "compute.disks.setLabels": _set_disk_labels("compute.disks.setLabels"),
    "compute.regionDisks.setLabels": _set_disk_labels("compute.regionDisks.setLabels"),
    "compute.instances.aggregatedList": lambda b, c: b.aggregated_instances(
        c.args["project"], c.query, c.unreachable
    ),
    "compute.instances.list": lambda b, c: b.list_instances(
        c.args["project"], c.args["zone"], c.query
    ),
    "compute.instances.get": lambda b, c: b.get_instance(
        c.args["project"], c.args["zone"], c.args["instance"]
    ),
    "compute.snapshots.list": lambda b, c: b.list_snapshots(c.args["project"], c.query),
    "compute.snapshots.get": lambda b, c: b.get_snapshot(c.args["project"], c.args["snapshot"]),
    "compute.snapshots.insert": lambda b, c: b.insert_snapshot(
        c.args["project"], c.body, c.request_id, _flag(c.query.get("guestFlush")), c.fail_snapshot
    ),
    "compute.disks.createSnapshot": _create_disk_snapshot,
    "compute.regionDisks.createSnapshot": _create_disk_snapshot,
    "compute.snapshots.delete": lambda b, c: b.delete_snapshot(
        c.args["project"], c.args["snapshot"], c.request_id
    ),
    "compute.snapshots.setLabels": lambda b, c: b.set_snapshot_labels(
        c.args["project"], c.args["snapshot"], c.body, c.request_id
    ),
}


def _get_operation(api_method: str) -> ApiHandler:
    def handler(backend: Backend, call: Call) -> dict[str, Any]:
        return backend.get_operation(
            call.args["project"], _op_scope(call), call.args["operation"], api_method
        )

    return handler


def _wait_operation(api_method: str) -> ApiHandler:
    def handler(backend: Backend, call: Call) -> dict[str, Any]:
        return backend.wait_operation(
            call.args["project"], _op_scope(call), call.args["operation"], api_method
        )

    return handler


OPERATION_HANDLERS: Mapping[str, ApiHandler] = {
    f"compute.{api}.{verb}": factory(f"compute.{api}.{verb}")
    for api in ("globalOperations", "zoneOperations", "regionOperations")
    for verb, factory in (("get", _get_operation), ("wait", _wait_operation))
}
HANDLERS: Mapping[str, ApiHandler] = {**API_HANDLERS, **OPERATION_HANDLERS}


# --- admin API ------------------------------------------------------------------------

AdminHandler = Callable[[Backend, Any], Any]


def _each(body: Any) -> list[Mapping[str, Any]]:
    """Seeding takes one object or a list of them."""
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(item, Mapping) for item in items):
        raise errors.Invalid("Expected a JSON object or a list of objects.")
    return items


def _seed_project(backend: Backend, spec: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(spec) - {"name", "accessible", "deniedPermissions"}
    if unknown:
        raise errors.Invalid.field("project", sorted(unknown), "Unknown fields.")
    denied = spec.get("deniedPermissions", [])
    if not isinstance(denied, list):
        raise errors.Invalid.field("deniedPermissions", denied, "Must be a list of permissions.")
    return backend.seed_project(str(spec.get("name")), bool(spec.get("accessible", True)), denied)


def _empty(action: Callable[[], None]) -> dict[str, Any]:
    action()
    return {}


def _set_clock(backend: Backend, body: Mapping[str, Any]) -> dict[str, Any]:
    if "advanceSeconds" in body:
        backend.advance_clock(float(body["advanceSeconds"]))
    elif "time" in body:
        when = datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise errors.Invalid.field("time", body["time"], "The time needs an offset.")
        backend.set_clock(when.timestamp(), bool(body.get("frozen", False)))
    elif "frozen" in body:
        backend.freeze_clock(bool(body["frozen"]))
    return backend.clock_json()


ADMIN_HANDLERS: Mapping[str, AdminHandler] = {
    "reset": lambda b, _: _empty(b.reset),
    "seed_projects": lambda b, body: [_seed_project(b, spec) for spec in _each(body)],
    "seed_disks": lambda b, body: [b.seed_disk(spec) for spec in _each(body)],
    "seed_instances": lambda b, body: [b.seed_instance(spec) for spec in _each(body)],
    "seed_snapshots": lambda b, body: [b.seed_snapshot(spec) for spec in _each(body)],
    "all_snapshots": lambda b, _: {"snapshots": b.all_snapshots()},
    "get_clock": lambda b, _: b.clock_json(),
    "set_clock": _set_clock,
    "get_config": lambda b, _: b.configure({}),
    "set_config": lambda b, body: b.configure(body),
    "list_faults": lambda b, _: {"faults": b.fault_rules()},
    "add_fault": lambda b, body: b.add_fault(body),
    "clear_faults": lambda b, _: _empty(b.clear_faults),
    "get_quotas": lambda b, _: b.quotas_json(),
    "set_quotas": lambda b, body: b.set_quotas(body),
    "list_requests": lambda b, _: {"requests": b.request_log(), "counts": b.request_counts()},
    "clear_requests": lambda b, _: _empty(b.clear_requests),
}


def _json_response(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status=status, content_type=JSON_TYPE)


def _parse_body(request: Request) -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.ComputeError(
            f"Invalid JSON payload received. {exc}", code=400, reason="parseError"
        ) from exc


class ComputeApp(DispatchingApp):
    """WSGI application serving the Compute API and the admin API of one backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url_map = build_map()

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            (kind, name), args = adapter.match()
        except (NotFound, MethodNotAllowed):
            error = errors.MethodNotFound(
                f"The requested URL {request.path} was not found on this server."
            )
            self.backend.record(request.method, request.path, request.args.to_dict(), None, 404)
            return _json_response(error.code, error.to_json())
        if kind == "admin":
            return self._admin(name, request)
        return self._api(name, args, request)

    def _admin(self, name: str, request: Request) -> Response:
        try:
            return _json_response(200, ADMIN_HANDLERS[name](self.backend, _parse_body(request)))
        except errors.ComputeError as exc:
            return _json_response(exc.code, exc.to_json())
        except (TypeError, ValueError) as exc:  # a malformed seed or rule
            return _json_response(400, errors.Invalid(str(exc)).to_json())

    def _api(self, api_method: str, args: Mapping[str, str], request: Request) -> Response:
        query = request.args.to_dict()
        raw_body = request.get_data(as_text=True)
        decision = self.backend.decide_faults(request.method, request.path, api_method, raw_body)
        if decision.latency_seconds:
            time.sleep(decision.latency_seconds)  # outside the lock: other calls go on
        try:
            if decision.error is not None:
                raise decision.error
            self.backend.charge_quota(api_method, args)
            body = _parse_body(request)
            if not isinstance(body, Mapping):
                raise errors.Invalid("The request body must be a JSON object.")
            call = Call(args, query, body, decision.fail_snapshot, decision.unreachable)
            response = _json_response(200, HANDLERS[api_method](self.backend, call))
        except errors.ComputeError as exc:
            response = _json_response(exc.code, exc.to_json())
        except Exception:  # a bug in the fake: still answer in the API's error shape
            log.exception("fake Compute Engine failed on %s %s", request.method, request.path)
            error = errors.ComputeError("Internal error in the fake Compute Engine.")
            response = _json_response(error.code, error.to_json())
        self.backend.record(request.method, request.path, query, api_method, response.status_code)
        return response

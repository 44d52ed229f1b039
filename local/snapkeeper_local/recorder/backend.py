"""What every recorded API shares: the state it remembers, the one create/read/update/
delete helper over it, the errors, and long-running operations answered as done."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from ..routing import RouteTable

Json = dict[str, Any]


class ApiError(Exception):
    """An error in the google.rpc shape every recorded API answers with."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def to_json(self) -> Json:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def already_exists(what: str) -> ApiError:
    return ApiError(409, "ALREADY_EXISTS", f"{what} already exists")


def project_number(project: str) -> str:
    """A stable, plausible project number for a project id."""
    return str(int(hashlib.sha256(project.encode()).hexdigest()[:10], 16) % 10**12 + 10**11)


def etag(n: int) -> str:
    """Etags are base64 (gcloud decodes them)."""
    return base64.b64encode(n.to_bytes(8, "big")).decode()


@dataclass
class State:
    """Everything the recorder has been told to create, by resource name."""

    enabled: dict[str, set[str]] = field(default_factory=dict)  # project -> services
    accounts: dict[str, Json] = field(default_factory=dict)  # email -> account
    roles: dict[str, Json] = field(default_factory=dict)  # projects/P/roles/R -> role
    policies: dict[str, Json] = field(default_factory=dict)  # api:resource -> IAM policy
    functions: dict[str, Json] = field(default_factory=dict)
    triggers: dict[str, Json] = field(default_factory=dict)
    metrics: dict[str, Json] = field(default_factory=dict)
    alert_policies: dict[str, Json] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)  # object -> zip
    operations: dict[str, Json] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    """Create, read, update and delete of one kind of resource, kept by name in `items`."""

    items: dict[str, Json]
    kind: str  # what messages call it: "Role", "Metric", ...

    def get(self, name: str) -> Json:
        if name not in self.items:
            raise not_found(f"{self.kind} {name}")
        return self.items[name]

    def create(self, name: str, resource: Json) -> Json:
        if name in self.items:
            raise already_exists(f"{self.kind} {name}")
        self.items[name] = resource
        return resource

    def update(self, name: str, body: Json, mask: str | None) -> Json:
        """The fields `mask` names (default: those in `body`) set from `body`; a masked
        field the body leaves out is cleared."""
        resource = self.get(name)
        for path in mask.split(",") if mask else list(body):
            set_path(resource, path, get_path(body, path))
        return resource

    def replace(self, name: str, resource: Json) -> Json:
        self.get(name)
        self.items[name] = resource
        return resource

    def delete(self, name: str) -> Json:
        resource = self.get(name)
        del self.items[name]
        return resource


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it."""

    api: str  # the path prefix: which API gcloud meant
    args: Mapping[str, str]  # path parameters
    request: Request
    body: Any  # parsed JSON, raw bytes for uploads, None when empty

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.args

    def json(self) -> Json:
        return self.body if isinstance(self.body, dict) else {}


@dataclass(frozen=True)
class Raw:
    """A reply passed through as it came (the Pub/Sub emulator's)."""

    status: int
    body: bytes


@dataclass
class Backend:
    """The state, and what the handlers need besides it (all under the recorder's lock)."""

    base_url: Callable[[], str]  # where the recorder serves (upload URLs point there)
    pubsub_emulator_host: str | None
    trigger_ack_deadline_seconds: int
    state: State = field(default_factory=State)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self) -> int:
        return next(self.ids)

    def operation(self, prefix: str, response: Json | None = None, verb: str = "") -> Json:
        """A finished long-running operation (kept, so that polling it finds it done)."""
        name = f"{prefix}/operations/op-{self.new_id()}"
        operation: Json = {"name": name, "done": True, "response": response or {}}
        if prefix.startswith("projects/"):  # Cloud Functions reports its stages
            operation["metadata"] = {
                "@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata",
                "target": (response or {}).get("name", ""),
                "verb": verb,
                "stages": [
                    {"name": stage, "state": "COMPLETE", "message": ""}
                    for stage in ("BUILD", "SERVICE", "TRIGGER")
                ],
            }
            if response:
                operation["response"] = {
                    "@type": "type.googleapis.com/google.cloud.functions.v2.Function",
                    **response,
                }
        self.state.operations[name] = copy.deepcopy(operation)
        return operation


Handler = Callable[[Backend, Call], Any]
# (path, HTTP method, API method id, handler)
Method = tuple[str, str, str, Handler]


def served(*methods: Method) -> tuple[RouteTable, dict[str, Handler]]:
    """A module's ROUTES and HANDLERS from one table, so each method id is written once."""
    return tuple((path, verb, id_) for path, verb, id_, _ in methods), {
        id_: handler for _, _, id_, handler in methods
    }


@dataclass(frozen=True)
class Resources:
    """One kind of resource an API keeps in the state, named in request paths by `path`
    ("projects/{project}/metrics/{metric}", filled in from the path parameters): its
    Collection, and the handlers such APIs answer alike."""

    kind: str  # what messages call it: "Role", "Metric", ...
    items: Callable[[State], dict[str, Json]]
    path: str

    def of(self, backend: Backend) -> Collection:
        return Collection(self.items(backend.state), self.kind)

    def name(self, call: Call) -> str:
        return self.path.format(**call.args)

    def get(self, backend: Backend, call: Call) -> Json:
        return self.of(backend).get(self.name(call))

    def replace(self, backend: Backend, call: Call) -> Json:
        return self.of(backend).replace(self.name(call), call.json())

    def delete(self, backend: Backend, call: Call) -> Json:
        """Delete, answered with an empty body (as IAM, Logging and Monitoring do)."""
        self.of(backend).delete(self.name(call))
        return {}


def get_path(data: Any, path: str) -> Any:
    """The value at a field mask path ("serviceConfig.timeoutSeconds"), or None."""
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(_camel(part))
    return data


def set_path(data: Json, path: str, value: Any) -> None:
    """Set (None: remove) the value at a field mask path."""
    parts = [_camel(p) for p in path.split(".")]
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    if value is None:
        data.pop(parts[-1], None)
    else:
        data[parts[-1]] = copy.deepcopy(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)

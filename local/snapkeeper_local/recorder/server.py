"""`Recorder`: serves every recorded API on one loopback port, each under a path prefix
of its own, and records each request with the API it was meant for."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any, Self

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from ..httpserver import ServedFake, ServerThread
from ..routing import rules, url_map
from . import functions, policies, pubsub
from .backend import ApiError, Backend, Call, Handler, Json, Raw, State, not_found

# One module per recorded API: its path prefix (API), ROUTES and HANDLERS.
API_MODULES: tuple[ModuleType, ...] = tuple(
    import_module(f"{__package__}.{name}")
    for name in (
        "cloudbuild",
        "eventarc",
        "functions",
        "iam",
        "logging_metrics",
        "monitoring",
        "pubsub",
        "resourcemanager",
        "serviceusage",
    )
)
# The prefixes gcloud is pointed at, so that no call of deploy.sh reaches Google: Cloud Run
# serves IAM policies only (`policies`), Artifact Registry nothing (its calls are recorded
# and answered 404).
APIS = (
    "artifactregistry",
    "cloudbuild",
    "cloudfunctions",
    "cloudresourcemanager",
    "eventarc",
    "iam",
    "logging",
    "monitoring",
    "pubsub",
    "run",
    "serviceusage",
)
# The ack deadline of a trigger's subscription as made: Pub/Sub's longest by default.
TRIGGER_ACK_DEADLINE_SECONDS = 600


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived (path without the API prefix)."""

    api: str
    method: str
    path: str
    query: str
    body: Any  # parsed JSON, raw bytes for uploads, None when empty
    status: int

    @property
    def mutating(self) -> bool:
        """Whether the request changes something (reads, including getIamPolicy, do not)."""
        if self.method in ("GET", "HEAD"):
            return False
        return not self.path.endswith((":getIamPolicy", ":testIamPermissions")) and not (
            self.path.endswith(":queryTestablePermissions")
            or self.path.startswith("v1/permissions:")
            or self.path.startswith("v1/roles:")
        )


def build_map() -> Map:
    table = [
        rule for module in API_MODULES for rule in rules(module.ROUTES, prefix=f"/{module.API}")
    ]
    table += rules(functions.UPLOAD_ROUTES, prefix=f"/{functions.UPLOAD_API}")
    table += [
        rule
        for api in policies.READ_METHODS
        for rule in rules(policies.routes(api), prefix=f"/{api}")
    ]
    # Ids stop at a colon, so `RESOURCE:getIamPolicy` never reads as a get of RESOURCE.
    return url_map(table, colon_ends_segment=True)


HANDLERS: Mapping[str, Handler] = {
    **{name: handler for module in API_MODULES for name, handler in module.HANDLERS.items()},
    **policies.HANDLERS,
}


def _parse_body(api: str, raw: bytes) -> Any:
    if api == functions.UPLOAD_API:
        return raw
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Recorder(ServedFake):
    """The recording endpoint on a free loopback port (see the package docstring)."""

    def __init__(
        self,
        pubsub_emulator_host: str | None = None,
        *,
        trigger_ack_deadline_seconds: int = TRIGGER_ACK_DEADLINE_SECONDS,
    ) -> None:
        self.pubsub_emulator_host = pubsub_emulator_host
        self.trigger_ack_deadline_seconds = trigger_ack_deadline_seconds
        self.backend = Backend(lambda: self.url, pubsub_emulator_host, trigger_ack_deadline_seconds)
        self.requests: list[Recorded] = []
        self._lock = threading.RLock()
        self._url_map = build_map()
        self._server = ServerThread(self._wsgi)

    @property
    def state(self) -> State:
        return self.backend.state

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def gcloud_env(self, apis: Iterable[str] = APIS) -> dict[str, str]:
        """The CLOUDSDK_API_ENDPOINT_OVERRIDES_* variables that send gcloud here."""
        return {
            f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}": f"{self.url}/{api}/" for api in apis
        }

    # -- what tests read -----------------------------------------------------------------------

    def calls(self, api: str | None = None, *, mutating: bool | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (api is None or r.api == api) and (mutating is None or r.mutating == mutating)
            ]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def function(self, function: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._function(function))

    def source_archive(self, function: str) -> bytes:
        """The zip gcloud uploaded for the function's current source."""
        with self._lock:
            storage = self._function(function)["buildConfig"]["source"]["storageSource"]
            return self.state.uploads[storage["object"]]

    def _function(self, function: str) -> Json:
        for name, fn in self.state.functions.items():
            if name.rsplit("/", 1)[-1] == function:
                return fn
        raise KeyError(f"no function {function} was deployed")

    def seed_metric(self, project: str, metric: Json) -> None:
        """A log-based metric that exists before deploy.sh runs (made by someone else, or by
        an earlier deploy.sh)."""
        with self._lock:
            name = f"projects/{project}/metrics/{metric['name']}"
            self.state.metrics[name] = copy.deepcopy(metric)

    def policy(self, api: str, resource: str) -> Json:
        """The IAM policy last set on `resource` (e.g. "projects/p/topics/t")."""
        with self._lock:
            return copy.deepcopy(self.state.policies.get(f"{api}:{resource}", {}))

    def policies(self) -> dict[str, Json]:
        with self._lock:
            return copy.deepcopy(self.state.policies)

    # -- WSGI ----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self._dispatch(Request(environ))(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        api, _, path = request.path.lstrip("/").partition("/")
        body = _parse_body(api, request.get_data())
        try:
            status, payload = self._handle(request, api, path, body)
        except ApiError as exc:
            status, payload = exc.code, exc.to_json()
        with self._lock:
            self.requests.append(
                Recorded(api, request.method, path, request.query_string.decode(), body, status)
            )
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(data, status=status, content_type="application/json")

    def _handle(self, request: Request, api: str, path: str, body: Any) -> tuple[int, Any]:
        try:
            (_, name), args = self._url_map.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed):
            raise not_found(f"{request.method} {api}/{path} (not served by the recorder)") from None
        call = Call(api, args, request, body)
        if name == pubsub.FORWARD:  # outside the lock: the emulator may take its time
            result = HANDLERS[name](self.backend, call)
        else:
            with self._lock:
                result = HANDLERS[name](self.backend, call)
        if isinstance(result, Raw):
            return result.status, result.body
        return 200, result

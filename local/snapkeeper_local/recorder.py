"""A recording stand-in for the Google Cloud control-plane APIs that deploy.sh drives.

The real gcloud talks to it through `CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>`, each API
under a path prefix of its own (`http://127.0.0.1:PORT/<api>/`), so every request is
recorded with the API it was meant for. It answers Cloud Functions v2, IAM, Resource
Manager, Service Usage, Cloud Build, Cloud Run, Eventarc, Cloud Logging and Cloud
Monitoring with plausible JSON and remembers what was created, so a second deploy sees
the first one's resources (long-running operations are answered as done).

Pub/Sub (`/pubsub/`) is forwarded to the real emulator, except the IAM methods, which the
emulator does not implement. Deploying a function also creates its Eventarc trigger and
the trigger's subscription in the emulator, as Eventarc does, so deploy.sh has a real
subscription to put the retry and dead-letter policy and the ack deadline on (the ack
deadline Eventarc gives it is a constructor argument, so a test can make it too short).

`functions deploy` uploads its source archive to the URL generateUploadUrl returns; that
URL points here, and the archive is kept (`source_archive(name)`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

from werkzeug.wrappers import Request, Response

from snapkeeper_local.httpserver import ServerThread
from snapkeeper_local.lifecycle import Service

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
UPLOAD_PREFIX = "upload"
PROXY_TIMEOUT_SECONDS = 30.0
# The ack deadline of a trigger's subscription as made: Pub/Sub's longest by default.
TRIGGER_ACK_DEADLINE_SECONDS = 600
Json = dict[str, Any]
_ANY_PROJECT_ACCOUNT = re.compile(r"^projects/[^/]+/serviceAccounts/")


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


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def project_number(project: str) -> str:
    """A stable, plausible project number for a project id."""
    return str(int(hashlib.sha256(project.encode()).hexdigest()[:10], 16) % 10**12 + 10**11)


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


Handler = Callable[[Request, re.Match[str]], Any]


class Recorder(Service):
    """The recording endpoint on a free loopback port (see the module docstring)."""

    def __init__(
        self,
        pubsub_emulator_host: str | None = None,
        *,
        trigger_ack_deadline_seconds: int = TRIGGER_ACK_DEADLINE_SECONDS,
    ) -> None:
        self.pubsub_emulator_host = pubsub_emulator_host
        self.trigger_ack_deadline_seconds = trigger_ack_deadline_seconds
        self.state = State()
        self.requests: list[Recorded] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server = ServerThread(self._wsgi)
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []
        self._register()

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

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

    # -- what tests read -------------------------------------------------------------------------

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

    def source_archive(self, function: str) -> bytes:
        """The zip gcloud uploaded for the function's current source."""
        with self._lock:
            for name, fn in self.state.functions.items():
                if name.rsplit("/", 1)[-1] == function:
                    storage = fn["buildConfig"]["source"]["storageSource"]
                    return self.state.uploads[storage["object"]]
        raise KeyError(f"no function {function} was deployed")

    def seed_metric(self, project: str, metric: Json) -> None:
        """A log-based metric that exists before deploy.sh runs (made by someone else, or by
        an earlier deploy.sh)."""
        with self._lock:
            self.state.metrics[f"projects/{project}/metrics/{metric['name']}"] = copy.deepcopy(
                metric
            )

    def function(self, function: str) -> Json:
        with self._lock:
            for name, fn in self.state.functions.items():
                if name.rsplit("/", 1)[-1] == function:
                    return copy.deepcopy(fn)
        raise KeyError(f"no function {function} was deployed")

    # -- WSGI --------------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        api, _, path = request.path.lstrip("/").partition("/")
        raw = request.get_data()
        body: Any = None
        if api == UPLOAD_PREFIX:
            body = raw
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        query = request.query_string.decode()
        try:
            status, payload = self._handle(api, request, path, body)
        except ApiError as exc:
            status = exc.code
            payload = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
        with self._lock:
            self.requests.append(Recorded(api, request.method, path, query, body, status))
        if isinstance(payload, bytes):
            return Response(payload, status=status, content_type="application/json")
        return Response(json.dumps(payload), status=status, content_type="application/json")

    def _handle(self, api: str, request: Request, path: str, body: Any) -> tuple[int, Any]:
        if api == UPLOAD_PREFIX:
            if request.method != "PUT":
                raise ApiError(405, "METHOD_NOT_ALLOWED", "uploads are PUT")
            with self._lock:
                self.state.uploads[path] = body
            return 200, {}
        if path.endswith((":getIamPolicy", ":setIamPolicy")):
            return 200, self._iam(api, path, body)
        for route_api, method, pattern, handler in self._routes:
            if route_api != api or method != request.method:
                continue
            match = pattern.fullmatch(path)
            if match:
                with self._lock:
                    return 200, handler(_with_body(request, body), match)
        if api == "pubsub" and self.pubsub_emulator_host:
            return self._forward(request, path)
        raise not_found(f"{request.method} {api}/{path} (not served by the recorder)")

    def _forward(self, request: Request, path: str) -> tuple[int, Any]:
        url = f"http://{self.pubsub_emulator_host}/{path}"
        if request.query_string:
            url += "?" + request.query_string.decode()
        forwarded = urllib.request.Request(
            url,
            data=request.get_data() or None,
            method=request.method,
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=PROXY_TIMEOUT_SECONDS) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _route(self, api: str, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((api, method, re.compile(pattern), handler))
            return handler

        return register

    # -- IAM policies (any resource of any API) ---------------------------------------------------

    def _iam(self, api: str, path: str, body: Any) -> Json:
        resource, _, method = path.rpartition(":")
        resource = resource.split("/", 1)[-1]  # without the version
        # A service account is the same resource under any project ("-" or its own).
        resource = re.sub(
            r"^projects/[^/]+/serviceAccounts/", "projects/-/serviceAccounts/", resource
        )
        key = f"{api}:{resource}"
        with self._lock:
            if method == "setIamPolicy":
                policy = copy.deepcopy((body or {}).get("policy", {}))
                policy["etag"] = _etag(next(self._ids))
                policy.setdefault("version", 1)
                self.state.policies[key] = policy
            return copy.deepcopy(self.state.policies.get(key, {"version": 1, "etag": _etag(0)}))

    def policy(self, api: str, resource: str) -> Json:
        """The IAM policy last set on `resource` (e.g. "projects/p/topics/t")."""
        with self._lock:
            return copy.deepcopy(self.state.policies.get(f"{api}:{resource}", {}))

    def policies(self) -> dict[str, Json]:
        with self._lock:
            return copy.deepcopy(self.state.policies)

    # -- operations --------------------------------------------------------------------------------

    def _operation(self, prefix: str, response: Json | None = None, verb: str = "") -> Json:
        """A finished long-running operation (kept, so that polling it finds it done)."""
        name = f"{prefix}/operations/op-{next(self._ids)}"
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

    # -- routes ------------------------------------------------------------------------------------

    def _register(self) -> None:
        state = self.state
        route = self._route

        # Service Usage
        @route("serviceusage", "GET", r"v1/projects/([^/]+)/services")
        def list_services(request: Request, m: re.Match[str]) -> Json:
            project = m.group(1)
            enabled = sorted(state.enabled.get(project, set()))
            return {"services": [_service(project, s, "ENABLED") for s in enabled]}

        @route("serviceusage", "GET", r"v1/projects/([^/]+)/services/([^/:]+)")
        def get_service(request: Request, m: re.Match[str]) -> Json:
            project, service = m.groups()
            on = service in state.enabled.get(project, set())
            return _service(project, service, "ENABLED" if on else "DISABLED")

        @route("serviceusage", "POST", r"v1/projects/([^/]+)/services:batchEnable")
        def batch_enable(request: Request, m: re.Match[str]) -> Json:
            services = _body(request).get("serviceIds", [])
            state.enabled.setdefault(m.group(1), set()).update(services)
            return self._operation("v1", {"services": []})

        @route("serviceusage", "POST", r"v1/projects/([^/]+)/services/([^/:]+):enable")
        def enable(request: Request, m: re.Match[str]) -> Json:
            state.enabled.setdefault(m.group(1), set()).add(m.group(2))
            return self._operation("v1")

        @route("serviceusage", "GET", r"v1/operations/(.+)")
        def usage_operation(request: Request, m: re.Match[str]) -> Json:
            return {"name": f"operations/{m.group(1)}", "done": True, "response": {}}

        # Resource Manager
        @route("cloudresourcemanager", "GET", r"v1/projects/([^/:]+)")
        def get_project_v1(request: Request, m: re.Match[str]) -> Json:
            project = m.group(1)
            return {
                "projectId": project,
                "projectNumber": project_number(project),
                "name": project,
                "lifecycleState": "ACTIVE",
            }

        @route("cloudresourcemanager", "GET", r"v3/projects/([^/:]+)")
        def get_project_v3(request: Request, m: re.Match[str]) -> Json:
            project = m.group(1)
            return {
                "name": f"projects/{project_number(project)}",
                "projectId": project,
                "state": "ACTIVE",
            }

        # Cloud Build: the default build service account (the legacy Cloud Build one, so
        # gcloud does not go on to check the Compute default account's roles).
        @route("cloudbuild", "GET", r"v1/projects/([^/]+)/locations/([^/]+)/defaultServiceAccount")
        def build_account(request: Request, m: re.Match[str]) -> Json:
            number = project_number(m.group(1))
            return {
                "name": f"projects/{m.group(1)}/locations/{m.group(2)}/defaultServiceAccount",
                "serviceAccountEmail": f"projects/{m.group(1)}/serviceAccounts/"
                f"{number}@cloudbuild.gserviceaccount.com",
            }

        # IAM: service accounts
        @route("iam", "GET", r"v1/projects/([^/]+)/serviceAccounts")
        def list_accounts(request: Request, m: re.Match[str]) -> Json:
            project = m.group(1)
            return {"accounts": [a for a in state.accounts.values() if a["projectId"] == project]}

        @route("iam", "POST", r"v1/projects/([^/]+)/serviceAccounts")
        def create_account(request: Request, m: re.Match[str]) -> Json:
            project, body = m.group(1), _body(request)
            email = f"{body['accountId']}@{project}.iam.gserviceaccount.com"
            if email in state.accounts:
                raise ApiError(409, "ALREADY_EXISTS", f"Service account {email} already exists")
            account = {
                **body.get("serviceAccount", {}),
                "name": f"projects/{project}/serviceAccounts/{email}",
                "projectId": project,
                "uniqueId": str(10**20 + next(self._ids)),
                "email": email,
                "oauth2ClientId": str(10**20 + next(self._ids)),
            }
            state.accounts[email] = account
            return account

        @route("iam", "GET", r"v1/projects/([^/]+)/serviceAccounts/([^/:]+)")
        def get_account(request: Request, m: re.Match[str]) -> Json:
            if m.group(2) not in state.accounts:
                raise not_found(
                    f"Service account projects/{m.group(1)}/serviceAccounts/{m.group(2)}"
                )
            return state.accounts[m.group(2)]

        @route("iam", "DELETE", r"v1/projects/([^/]+)/serviceAccounts/([^/:]+)")
        def delete_account(request: Request, m: re.Match[str]) -> Json:
            if state.accounts.pop(m.group(2), None) is None:
                raise not_found(f"Service account {m.group(2)}")
            return {}

        # IAM: custom roles
        @route("iam", "GET", r"v1/(projects/[^/]+/roles/[^/:]+)")
        def get_role(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.roles:
                raise not_found(f"Role {m.group(1)}")
            return state.roles[m.group(1)]

        @route("iam", "POST", r"v1/(projects/[^/]+)/roles")
        def create_role(request: Request, m: re.Match[str]) -> Json:
            body = _body(request)
            name = f"{m.group(1)}/roles/{body['roleId']}"
            if name in state.roles:
                raise ApiError(409, "ALREADY_EXISTS", f"Role {name} already exists")
            role = {**body.get("role", {}), "name": name, "etag": _etag(next(self._ids))}
            state.roles[name] = role
            return role

        @route("iam", "PATCH", r"v1/(projects/[^/]+/roles/[^/:]+)")
        def update_role(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.roles:
                raise not_found(f"Role {m.group(1)}")
            role = state.roles[m.group(1)]
            body = _body(request)
            mask = request.args.get("updateMask")
            fields = mask.split(",") if mask else list(body)
            for key in fields:
                if key in body:
                    role[key] = body[key]
            role["etag"] = _etag(next(self._ids))
            return role

        @route("iam", "POST", r"v1/(projects/[^/]+/roles/[^/:]+):undelete")
        def undelete_role(request: Request, m: re.Match[str]) -> Json:
            role = state.roles[m.group(1)]
            role.pop("deleted", None)
            return role

        @route("iam", "DELETE", r"v1/(projects/[^/]+/roles/[^/:]+)")
        def delete_role(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.roles:
                raise not_found(f"Role {m.group(1)}")
            state.roles[m.group(1)]["deleted"] = True
            return state.roles[m.group(1)]

        @route("iam", "POST", r"v1/permissions:queryTestablePermissions")
        def testable(request: Request, m: re.Match[str]) -> Json:
            # Every permission a role asks for is one custom roles support.
            wanted = sorted(
                {p for r in state.roles.values() for p in r.get("includedPermissions", [])}
            )
            return {
                "permissions": [
                    {"name": p, "customRolesSupportLevel": "SUPPORTED", "stage": "GA"}
                    for p in wanted
                ]
            }

        # Cloud Functions v2
        fn_parent = r"v2/(projects/([^/]+)/locations/([^/]+))"

        @route("cloudfunctions", "GET", fn_parent + r"/runtimes")
        def runtimes(request: Request, m: re.Match[str]) -> Json:
            return {
                "runtimes": [
                    {"name": name, "displayName": name, "stage": "GA", "environment": "GEN_2"}
                    for name in ("python310", "python311", "python312", "python313")
                ]
            }

        @route("cloudfunctions", "POST", fn_parent + r"/functions:generateUploadUrl")
        def upload_url(request: Request, m: re.Match[str]) -> Json:
            obj = f"{m.group(2)}-{next(self._ids)}.zip"
            return {
                "uploadUrl": f"{self.url}/{UPLOAD_PREFIX}/{obj}",
                "storageSource": {"bucket": f"gcf-v2-uploads-{m.group(2)}", "object": obj},
            }

        @route("cloudfunctions", "GET", fn_parent + r"/functions/([^/:]+)")
        def get_function(request: Request, m: re.Match[str]) -> Json:
            name = f"{m.group(1)}/functions/{m.group(4)}"
            if name not in state.functions:
                raise not_found(f"Resource '{name}' was")
            return state.functions[name]

        @route("cloudfunctions", "POST", fn_parent + r"/functions")
        def create_function(request: Request, m: re.Match[str]) -> Json:
            function_id = request.args.get("functionId") or ""
            name = f"{m.group(1)}/functions/{function_id}"
            if name in state.functions:
                raise ApiError(409, "ALREADY_EXISTS", f"Function {name} already exists")
            function = {**_body(request), "name": name}
            self._settle_function(function, m.group(2), m.group(3), function_id)
            state.functions[name] = function
            return self._operation(m.group(1), function, "create")

        @route("cloudfunctions", "PATCH", fn_parent + r"/functions/([^/:]+)")
        def update_function(request: Request, m: re.Match[str]) -> Json:
            name = f"{m.group(1)}/functions/{m.group(4)}"
            if name not in state.functions:
                raise not_found(f"Function {name}")
            function = state.functions[name]
            body = _body(request)
            mask = request.args.get("updateMask")
            for path in mask.split(",") if mask else list(body):
                _set_path(function, path, _get_path(body, path))
            self._settle_function(function, m.group(2), m.group(3), m.group(4))
            return self._operation(m.group(1), function, "update")

        @route("cloudfunctions", "DELETE", fn_parent + r"/functions/([^/:]+)")
        def delete_function(request: Request, m: re.Match[str]) -> Json:
            name = f"{m.group(1)}/functions/{m.group(4)}"
            function = state.functions.pop(name, None)
            if function is None:
                raise not_found(f"Function {name}")
            trigger = state.triggers.pop(function["eventTrigger"].get("trigger", ""), None)
            if trigger and self.pubsub_emulator_host:
                _emulator(
                    self.pubsub_emulator_host,
                    "DELETE",
                    trigger["transport"]["pubsub"]["subscription"],
                )
            return self._operation(m.group(1), None, "delete")

        @route("cloudfunctions", "GET", r"v2/(projects/[^/]+/locations/[^/]+/operations/[^/]+)")
        def function_operation(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.operations:
                raise not_found(f"Operation {m.group(1)}")
            return state.operations[m.group(1)]

        # Eventarc
        @route("eventarc", "GET", r"v1/(projects/[^/]+/locations/[^/]+/triggers/[^/:]+)")
        def get_trigger(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.triggers:
                raise not_found(f"Trigger {m.group(1)}")
            return state.triggers[m.group(1)]

        # Cloud Logging: log-based metrics
        @route("logging", "GET", r"v2/(projects/[^/]+/metrics/[^/]+)")
        def get_metric(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.metrics:
                raise not_found(f"Metric {m.group(1)}")
            return state.metrics[m.group(1)]

        @route("logging", "POST", r"v2/(projects/[^/]+)/metrics")
        def create_metric(request: Request, m: re.Match[str]) -> Json:
            body = _body(request)
            name = f"{m.group(1)}/metrics/{body['name']}"
            if name in state.metrics:
                raise ApiError(409, "ALREADY_EXISTS", f"Metric {body['name']} already exists")
            state.metrics[name] = body
            return body

        @route("logging", "PUT", r"v2/(projects/[^/]+/metrics/[^/]+)")
        def update_metric(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.metrics:
                raise not_found(f"Metric {m.group(1)}")
            state.metrics[m.group(1)] = _body(request)
            return state.metrics[m.group(1)]

        @route("logging", "DELETE", r"v2/(projects/[^/]+/metrics/[^/]+)")
        def delete_metric(request: Request, m: re.Match[str]) -> Json:
            if state.metrics.pop(m.group(1), None) is None:
                raise not_found(f"Metric {m.group(1)}")
            return {}

        # Cloud Monitoring: alert policies
        @route("monitoring", "GET", r"v3/projects/([^/]+)/alertPolicies")
        def list_policies(request: Request, m: re.Match[str]) -> Json:
            prefix = f"projects/{m.group(1)}/alertPolicies/"
            found = [p for n, p in state.alert_policies.items() if n.startswith(prefix)]
            return {"alertPolicies": found, "totalSize": len(found)}

        @route("monitoring", "POST", r"v3/projects/([^/]+)/alertPolicies")
        def create_policy(request: Request, m: re.Match[str]) -> Json:
            name = f"projects/{m.group(1)}/alertPolicies/{10**15 + next(self._ids)}"
            policy = {**_body(request), "name": name}
            state.alert_policies[name] = policy
            return policy

        @route("monitoring", "GET", r"v3/(projects/[^/]+/alertPolicies/[^/]+)")
        def get_policy(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.alert_policies:
                raise not_found(f"Alert policy {m.group(1)}")
            return state.alert_policies[m.group(1)]

        @route("monitoring", "PATCH", r"v3/(projects/[^/]+/alertPolicies/[^/]+)")
        def update_policy(request: Request, m: re.Match[str]) -> Json:
            if m.group(1) not in state.alert_policies:
                raise not_found(f"Alert policy {m.group(1)}")
            body = _body(request)
            mask = request.args.get("updateMask")
            policy = state.alert_policies[m.group(1)]
            if mask:
                for path in mask.split(","):
                    _set_path(policy, path, _get_path(body, path))
            else:
                policy = {**body, "name": m.group(1)}
            state.alert_policies[m.group(1)] = policy
            return policy

        @route("monitoring", "DELETE", r"v3/(projects/[^/]+/alertPolicies/[^/]+)")
        def delete_policy(request: Request, m: re.Match[str]) -> Json:
            if state.alert_policies.pop(m.group(1), None) is None:
                raise not_found(f"Alert policy {m.group(1)}")
            return {}

    def _settle_function(self, function: Json, project: str, location: str, name: str) -> None:
        """Fill in what Cloud Functions adds: state, service, URL, the Eventarc trigger."""
        function["state"] = "ACTIVE"
        function["environment"] = "GEN_2"
        service = function.setdefault("serviceConfig", {})
        service["service"] = f"projects/{project}/locations/{location}/services/{name}"
        service["uri"] = f"https://{name}-{project_number(project)}.{location}.run.app"
        trigger = function.get("eventTrigger")
        if not trigger or trigger.get("trigger"):
            return
        trigger_id = f"{name}-{next(self._ids):06d}"
        trigger_name = f"projects/{project}/locations/{location}/triggers/{trigger_id}"
        sub_id = f"eventarc-{location}-{trigger_id}-sub-{next(self._ids)}"
        subscription = f"projects/{project}/subscriptions/{sub_id}"
        trigger["trigger"] = trigger_name
        topic = trigger.get("pubsubTopic", "")
        self.state.triggers[trigger_name] = {
            "name": trigger_name,
            "uid": hashlib.sha256(trigger_name.encode()).hexdigest()[:36],
            "serviceAccount": trigger.get("serviceAccountEmail", ""),
            "destination": {"cloudRun": {"service": name, "region": location, "path": "/"}},
            "transport": {"pubsub": {"topic": topic, "subscription": subscription}},
            "eventFilters": [{"attribute": "type", "value": trigger.get("eventType", "")}],
        }
        if self.pubsub_emulator_host and topic:
            # As Eventarc: a subscription of its own on the topic, with no retry or
            # dead-letter policy (deploy.sh adds those, and raises a short ack deadline).
            _emulator(
                self.pubsub_emulator_host,
                "PUT",
                subscription,
                {"topic": topic, "ackDeadlineSeconds": self.trigger_ack_deadline_seconds},
            )


def _etag(n: int) -> str:
    """Etags are base64 (gcloud decodes them)."""
    return base64.b64encode(n.to_bytes(8, "big")).decode()


def _service(project: str, service: str, state: str) -> Json:
    return {
        "name": f"projects/{project_number(project)}/services/{service}",
        "config": {"name": service},
        "state": state,
        "parent": f"projects/{project_number(project)}",
    }


def _body(request: Request) -> Json:
    body = getattr(request, "recorded_body", None)
    return body if isinstance(body, dict) else {}


def _with_body(request: Request, body: Any) -> Request:
    request.recorded_body = body  # type: ignore[attr-defined]
    return request


def _get_path(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(_camel(part))
    return data


def _set_path(data: Json, path: str, value: Any) -> None:
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


def _emulator(host: str, method: str, resource: str, body: Json | None = None) -> None:
    request = urllib.request.Request(
        f"http://{host}/v1/{resource}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=PROXY_TIMEOUT_SECONDS) as response:
        response.read()

"""Cloud Functions v2: what `gcloud functions deploy|describe|delete` calls, the source
upload to the URL generateUploadUrl hands out, and the function's Eventarc trigger.

Operations are answered done at once, so gcloud never waits.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from . import eventarc
from .backend import Backend, Call, Collection, Handler, Json, Resources, project_number

API = "cloudfunctions"
UPLOAD_API = "upload"  # the path prefix of upload URLs: not a Google API
RUNTIMES = ("python310", "python311", "python312", "python313")
LOCATION = "/v2/projects/<project>/locations/<location>"
FUNCTION = LOCATION + "/functions/<function>"
METHOD = "cloudfunctions.projects.locations"
ROUTES: RouteTable = (
    (LOCATION + "/runtimes", "GET", f"{METHOD}.runtimes.list"),
    (LOCATION + "/functions:generateUploadUrl", "POST", f"{METHOD}.functions.generateUploadUrl"),
    (LOCATION + "/functions", "POST", f"{METHOD}.functions.create"),
    (FUNCTION, "GET", f"{METHOD}.functions.get"),
    (FUNCTION, "PATCH", f"{METHOD}.functions.patch"),
    (FUNCTION, "DELETE", f"{METHOD}.functions.delete"),
    (LOCATION + "/operations/<operation>", "GET", f"{METHOD}.operations.get"),
)
UPLOAD_ROUTES: RouteTable = (("/<path:object>", "PUT", "upload.put"),)


_functions = Resources(
    "Function",
    lambda state: state.functions,
    "projects/{project}/locations/{location}/functions/{function}",
)


def _parent(call: Call) -> str:
    return "projects/{project}/locations/{location}".format(**call.args)


def runtimes(backend: Backend, call: Call) -> Json:
    return {
        "runtimes": [
            {"name": name, "displayName": name, "stage": "GA", "environment": "GEN_2"}
            for name in RUNTIMES
        ]
    }


def upload_url(backend: Backend, call: Call) -> Json:
    project = call.args["project"]
    obj = f"{project}-{backend.new_id()}.zip"
    return {
        "uploadUrl": f"{backend.base_url()}/{UPLOAD_API}/{obj}",
        "storageSource": {"bucket": f"gcf-v2-uploads-{project}", "object": obj},
    }


def upload(backend: Backend, call: Call) -> Json:
    backend.state.uploads[call.args["object"]] = call.body
    return {}


def create_function(backend: Backend, call: Call) -> Json:
    function_id = call.query.get("functionId") or ""
    name = f"{_parent(call)}/functions/{function_id}"
    function = {**call.json(), "name": name}
    _functions.of(backend).create(name, function)
    _settle(backend, function, call.args["project"], call.args["location"], function_id)
    return backend.operation(_parent(call), function, "create")


def update_function(backend: Backend, call: Call) -> Json:
    function = _functions.of(backend).update(
        _functions.name(call), call.json(), call.query.get("updateMask")
    )
    _settle(backend, function, call.args["project"], call.args["location"], call.args["function"])
    return backend.operation(_parent(call), function, "update")


def delete_function(backend: Backend, call: Call) -> Json:
    function = _functions.of(backend).delete(_functions.name(call))
    eventarc.delete_trigger(backend, function["eventTrigger"].get("trigger", ""))
    return backend.operation(_parent(call), None, "delete")


def _settle(backend: Backend, function: Json, project: str, location: str, name: str) -> None:
    """Fill in what Cloud Functions adds: state, service, URL, the Eventarc trigger."""
    function["state"] = "ACTIVE"
    function["environment"] = "GEN_2"
    service = function.setdefault("serviceConfig", {})
    service["service"] = f"projects/{project}/locations/{location}/services/{name}"
    service["uri"] = f"https://{name}-{project_number(project)}.{location}.run.app"
    trigger = function.get("eventTrigger")
    if trigger and not trigger.get("trigger"):
        trigger["trigger"] = eventarc.create_trigger(backend, project, location, name, trigger)


def get_operation(backend: Backend, call: Call) -> Json:
    name = f"{_parent(call)}/operations/{call.args['operation']}"
    return Collection(backend.state.operations, "Operation").get(name)


HANDLERS: Mapping[str, Handler] = {
    f"{METHOD}.runtimes.list": runtimes,
    f"{METHOD}.functions.generateUploadUrl": upload_url,
    f"{METHOD}.functions.create": create_function,
    f"{METHOD}.functions.get": _functions.get,
    f"{METHOD}.functions.patch": update_function,
    f"{METHOD}.functions.delete": delete_function,
    f"{METHOD}.operations.get": get_operation,
    "upload.put": upload,
}

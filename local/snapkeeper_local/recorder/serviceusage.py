"""Service Usage: which APIs a project has enabled (`gcloud services list|enable`)."""

from __future__ import annotations

from .backend import Backend, Call, Json, project_number, served

API = "serviceusage"
SERVICES = "/v1/projects/<project>/services"


def _service(project: str, service: str, state: str) -> Json:
    return {
        "name": f"projects/{project_number(project)}/services/{service}",
        "config": {"name": service},
        "state": state,
        "parent": f"projects/{project_number(project)}",
    }


def list_services(backend: Backend, call: Call) -> Json:
    project = call.args["project"]
    enabled = sorted(backend.state.enabled.get(project, set()))
    return {"services": [_service(project, s, "ENABLED") for s in enabled]}


def get_service(backend: Backend, call: Call) -> Json:
    project, service = call.args["project"], call.args["service"]
    on = service in backend.state.enabled.get(project, set())
    return _service(project, service, "ENABLED" if on else "DISABLED")


def enable(backend: Backend, call: Call) -> Json:
    backend.state.enabled.setdefault(call.args["project"], set()).add(call.args["service"])
    return backend.operation("v1")


def batch_enable(backend: Backend, call: Call) -> Json:
    services = call.json().get("serviceIds", [])
    backend.state.enabled.setdefault(call.args["project"], set()).update(services)
    return backend.operation("v1", {"services": []})


ROUTES, HANDLERS = served(
    (SERVICES, "GET", "serviceusage.services.list", list_services),
    (SERVICES + "/<service>", "GET", "serviceusage.services.get", get_service),
    (SERVICES + "/<service>:enable", "POST", "serviceusage.services.enable", enable),
    (SERVICES + ":batchEnable", "POST", "serviceusage.services.batchEnable", batch_enable),
)

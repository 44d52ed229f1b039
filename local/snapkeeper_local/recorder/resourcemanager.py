"""Resource Manager: a project by id (gcloud reads its number). Project IAM policies are
served by `policies`."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Handler, project_number

API = "cloudresourcemanager"
ROUTES: RouteTable = (("/v1/projects/<project>", "GET", "cloudresourcemanager.projects.get"),)

HANDLERS: Mapping[str, Handler] = {
    "cloudresourcemanager.projects.get": lambda backend, call: {
        "projectId": call.args["project"],
        "projectNumber": project_number(call.args["project"]),
        "name": call.args["project"],
        "lifecycleState": "ACTIVE",
    },
}

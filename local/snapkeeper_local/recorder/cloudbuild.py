"""Cloud Build: the default build service account that `gcloud functions deploy` checks.

It answers the legacy Cloud Build account, so gcloud does not go on to check the roles of
the Compute default account.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, project_number

API = "cloudbuild"
ROUTES: RouteTable = (
    (
        "/v1/projects/<project>/locations/<location>/defaultServiceAccount",
        "GET",
        "cloudbuild.projects.locations.getDefaultServiceAccount",
    ),
)


def default_service_account(backend: Backend, call: Call) -> Json:
    project, location = call.args["project"], call.args["location"]
    return {
        "name": f"projects/{project}/locations/{location}/defaultServiceAccount",
        "serviceAccountEmail": f"projects/{project}/serviceAccounts/"
        f"{project_number(project)}@cloudbuild.gserviceaccount.com",
    }


HANDLERS: Mapping[str, Handler] = {
    "cloudbuild.projects.locations.getDefaultServiceAccount": default_service_account,
}

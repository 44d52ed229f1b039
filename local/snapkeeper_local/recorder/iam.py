"""IAM: service accounts and custom roles. IAM policies are served by `policies`."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, Resources, etag

API = "iam"
ACCOUNTS = "/v1/projects/<project>/serviceAccounts"
ROLES = "/v1/projects/<project>/roles"
ROUTES: RouteTable = (
    (ACCOUNTS, "GET", "iam.projects.serviceAccounts.list"),
    (ACCOUNTS, "POST", "iam.projects.serviceAccounts.create"),
    (ACCOUNTS + "/<email>", "GET", "iam.projects.serviceAccounts.get"),
    (ACCOUNTS + "/<email>", "DELETE", "iam.projects.serviceAccounts.delete"),
    (ROLES, "POST", "iam.projects.roles.create"),
    (ROLES + "/<role>", "GET", "iam.projects.roles.get"),
    (ROLES + "/<role>", "PATCH", "iam.projects.roles.patch"),
    (ROLES + "/<role>", "DELETE", "iam.projects.roles.delete"),
    (ROLES + "/<role>:undelete", "POST", "iam.projects.roles.undelete"),
)


_accounts = Resources("Service account", lambda state: state.accounts, "{email}")
_roles = Resources("Role", lambda state: state.roles, "projects/{project}/roles/{role}")


def list_accounts(backend: Backend, call: Call) -> Json:
    project = call.args["project"]
    return {"accounts": [a for a in backend.state.accounts.values() if a["projectId"] == project]}


def create_account(backend: Backend, call: Call) -> Json:
    project, body = call.args["project"], call.json()
    email = f"{body['accountId']}@{project}.iam.gserviceaccount.com"
    account = {
        **body.get("serviceAccount", {}),
        "name": f"projects/{project}/serviceAccounts/{email}",
        "projectId": project,
        "uniqueId": str(10**20 + backend.new_id()),
        "email": email,
        "oauth2ClientId": str(10**20 + backend.new_id()),
    }
    return _accounts.of(backend).create(email, account)


def create_role(backend: Backend, call: Call) -> Json:
    body = call.json()
    name = f"projects/{call.args['project']}/roles/{body['roleId']}"
    role = {**body.get("role", {}), "name": name, "etag": etag(backend.new_id())}
    return _roles.of(backend).create(name, role)


def update_role(backend: Backend, call: Call) -> Json:
    role = _roles.of(backend).update(_roles.name(call), call.json(), call.query.get("updateMask"))
    role["etag"] = etag(backend.new_id())
    return role


def delete_role(backend: Backend, call: Call) -> Json:
    # As IAM does: a deleted custom role is kept, marked, and can be undeleted for a while.
    role = _roles.get(backend, call)
    role["deleted"] = True
    return role


def undelete_role(backend: Backend, call: Call) -> Json:
    role = _roles.get(backend, call)
    role.pop("deleted", None)
    return role


HANDLERS: Mapping[str, Handler] = {
    "iam.projects.serviceAccounts.list": list_accounts,
    "iam.projects.serviceAccounts.create": create_account,
    "iam.projects.serviceAccounts.get": _accounts.get,
    "iam.projects.serviceAccounts.delete": _accounts.delete,
    "iam.projects.roles.create": create_role,
    "iam.projects.roles.get": _roles.get,
    "iam.projects.roles.patch": update_role,
    "iam.projects.roles.delete": delete_role,
    "iam.projects.roles.undelete": undelete_role,
}

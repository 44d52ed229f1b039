"""IAM: service accounts and custom roles (of a project, or of an organization, which
can be granted on its folders). IAM policies are served by `policies`."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, Resources, etag

API = "iam"
ACCOUNTS = "/v1/projects/<project>/serviceAccounts"
# Where custom roles are defined: the kind in the path, its parameter.
ROLE_PARENTS = {"projects": "project", "organizations": "organization"}


def _role_routes(kind: str, arg: str) -> RouteTable:
    roles = f"/v1/{kind}/<{arg}>/roles"
    return (
        (roles, "POST", f"iam.{kind}.roles.create"),
        (roles + "/<role>", "GET", f"iam.{kind}.roles.get"),
        (roles + "/<role>", "PATCH", f"iam.{kind}.roles.patch"),
        (roles + "/<role>", "DELETE", f"iam.{kind}.roles.delete"),
        (roles + "/<role>:undelete", "POST", f"iam.{kind}.roles.undelete"),
    )


ROUTES: RouteTable = (
    (ACCOUNTS, "GET", "iam.projects.serviceAccounts.list"),
    (ACCOUNTS, "POST", "iam.projects.serviceAccounts.create"),
    (ACCOUNTS + "/<email>", "GET", "iam.projects.serviceAccounts.get"),
    (ACCOUNTS + "/<email>", "DELETE", "iam.projects.serviceAccounts.delete"),
    *(route for kind, arg in ROLE_PARENTS.items() for route in _role_routes(kind, arg)),
)


_accounts = Resources("Service account", lambda state: state.accounts, "{email}")
_ROLES = {
    kind: Resources("Role", lambda state: state.roles, f"{kind}/{{{arg}}}/roles/{{role}}")
    for kind, arg in ROLE_PARENTS.items()
}


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


def _role_handlers(kind: str) -> dict[str, Handler]:
    roles = _ROLES[kind]

    def create(backend: Backend, call: Call) -> Json:
        body = call.json()
        name = roles.path.format(**call.args, role=body["roleId"])
        role = {**body.get("role", {}), "name": name, "etag": etag(backend.new_id())}
        return roles.of(backend).create(name, role)

    def update(backend: Backend, call: Call) -> Json:
        role = roles.of(backend).update(roles.name(call), call.json(), call.query.get("updateMask"))
        role["etag"] = etag(backend.new_id())
        return role

    def delete(backend: Backend, call: Call) -> Json:
        # As IAM does: a deleted custom role is kept, marked, and can be undeleted a while.
        role = roles.get(backend, call)
        role["deleted"] = True
        return role

    def undelete(backend: Backend, call: Call) -> Json:
        role = roles.get(backend, call)
        role.pop("deleted", None)
        return role

    return {
        f"iam.{kind}.roles.create": create,
        f"iam.{kind}.roles.get": roles.get,
        f"iam.{kind}.roles.patch": update,
        f"iam.{kind}.roles.delete": delete,
        f"iam.{kind}.roles.undelete": undelete,
    }


HANDLERS: Mapping[str, Handler] = {
    "iam.projects.serviceAccounts.list": list_accounts,
    "iam.projects.serviceAccounts.create": create_account,
    "iam.projects.serviceAccounts.get": _accounts.get,
    "iam.projects.serviceAccounts.delete": _accounts.delete,
    **{name: h for kind in ROLE_PARENTS for name, h in _role_handlers(kind).items()},
}

"""Cloud Monitoring: alert policies (`gcloud alpha monitoring policies ...`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Collection, Handler, Json

API = "monitoring"
POLICIES = "/v3/projects/<project>/alertPolicies"
ROUTES: RouteTable = (
    (POLICIES, "GET", "monitoring.projects.alertPolicies.list"),
    (POLICIES, "POST", "monitoring.projects.alertPolicies.create"),
    (POLICIES + "/<policy>", "PATCH", "monitoring.projects.alertPolicies.patch"),
    (POLICIES + "/<policy>", "DELETE", "monitoring.projects.alertPolicies.delete"),
)


def _policies(backend: Backend) -> Collection:
    return Collection(backend.state.alert_policies, "Alert policy")


def _name(call: Call) -> str:
    return "projects/{project}/alertPolicies/{policy}".format(**call.args)


def list_policies(backend: Backend, call: Call) -> Json:
    prefix = f"projects/{call.args['project']}/alertPolicies/"
    found = [p for n, p in backend.state.alert_policies.items() if n.startswith(prefix)]
    return {"alertPolicies": found, "totalSize": len(found)}


def create_policy(backend: Backend, call: Call) -> Json:
    name = f"projects/{call.args['project']}/alertPolicies/{10**15 + backend.new_id()}"
    return _policies(backend).create(name, {**call.json(), "name": name})


def update_policy(backend: Backend, call: Call) -> Json:
    mask = call.query.get("updateMask")
    if mask:
        return _policies(backend).update(_name(call), call.json(), mask)
    return _policies(backend).replace(_name(call), {**call.json(), "name": _name(call)})


def delete_policy(backend: Backend, call: Call) -> Json:
    _policies(backend).delete(_name(call))
    return {}


HANDLERS: Mapping[str, Handler] = {
    "monitoring.projects.alertPolicies.list": list_policies,
    "monitoring.projects.alertPolicies.create": create_policy,
    "monitoring.projects.alertPolicies.patch": update_policy,
    "monitoring.projects.alertPolicies.delete": delete_policy,
}

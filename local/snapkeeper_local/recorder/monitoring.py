"""Cloud Monitoring: alert policies (`gcloud alpha monitoring policies ...`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, Resources

API = "monitoring"
POLICIES = "/v3/projects/<project>/alertPolicies"
ROUTES: RouteTable = (
    (POLICIES, "GET", "monitoring.projects.alertPolicies.list"),
    (POLICIES, "POST", "monitoring.projects.alertPolicies.create"),
    (POLICIES + "/<policy>", "PATCH", "monitoring.projects.alertPolicies.patch"),
    (POLICIES + "/<policy>", "DELETE", "monitoring.projects.alertPolicies.delete"),
)


_policies = Resources(
    "Alert policy", lambda state: state.alert_policies, "projects/{project}/alertPolicies/{policy}"
)


def list_policies(backend: Backend, call: Call) -> Json:
    prefix = f"projects/{call.args['project']}/alertPolicies/"
    found = [p for n, p in backend.state.alert_policies.items() if n.startswith(prefix)]
    return {"alertPolicies": found, "totalSize": len(found)}


def create_policy(backend: Backend, call: Call) -> Json:
    name = f"projects/{call.args['project']}/alertPolicies/{10**15 + backend.new_id()}"
    return _policies.of(backend).create(name, {**call.json(), "name": name})


def update_policy(backend: Backend, call: Call) -> Json:
    name, mask = _policies.name(call), call.query.get("updateMask")
    if mask:
        return _policies.of(backend).update(name, call.json(), mask)
    return _policies.of(backend).replace(name, {**call.json(), "name": name})


HANDLERS: Mapping[str, Handler] = {
    "monitoring.projects.alertPolicies.list": list_policies,
    "monitoring.projects.alertPolicies.create": create_policy,
    "monitoring.projects.alertPolicies.patch": update_policy,
    "monitoring.projects.alertPolicies.delete": _policies.delete,
}

"""IAM policies (`RESOURCE:getIamPolicy`, `RESOURCE:setIamPolicy`) of the resources
deploy.sh grants on: projects (Resource Manager), service accounts (IAM), topics and
subscriptions (Pub/Sub, whose emulator has no IAM) and Cloud Run services.

A policy is kept by API and resource path, so `Recorder.policy(api, resource)` reads
what deploy.sh last set.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, etag

# The HTTP method each API reads a policy with (setIamPolicy is always a POST).
READ_METHODS: Mapping[str, str] = {
    "cloudresourcemanager": "POST",
    "iam": "POST",
    "pubsub": "GET",
    "run": "GET",
}
GET, SET = "getIamPolicy", "setIamPolicy"
# A service account is the same resource under any project ("-" or its own).
_ANY_PROJECT_ACCOUNT = re.compile(r"^projects/[^/]+/serviceAccounts/")


def routes(api: str) -> RouteTable:
    return (
        (f"/<version>/<path:resource>:{GET}", READ_METHODS[api], f"{api}.{GET}"),
        (f"/<version>/<path:resource>:{SET}", "POST", f"{api}.{SET}"),
    )


def _key(api: str, resource: str) -> str:
    return f"{api}:{_ANY_PROJECT_ACCOUNT.sub('projects/-/serviceAccounts/', resource)}"


def get_policy(backend: Backend, call: Call) -> Json:
    policy = backend.state.policies.get(_key(call.api, call.args["resource"]))
    return copy.deepcopy(policy or {"version": 1, "etag": etag(0)})


def set_policy(backend: Backend, call: Call) -> Json:
    policy = copy.deepcopy(call.json().get("policy", {}))
    policy["etag"] = etag(backend.new_id())
    policy.setdefault("version", 1)
    backend.state.policies[_key(call.api, call.args["resource"])] = policy
    return copy.deepcopy(policy)


HANDLERS: Mapping[str, Handler] = {
    f"{api}.{verb}": handler
    for api in READ_METHODS
    for verb, handler in ((GET, get_policy), (SET, set_policy))
}

"""Each fake's package docstring lists exactly the API methods its route table serves."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

import snapkeeper_local.asset
import snapkeeper_local.compute
import snapkeeper_local.recorder
import snapkeeper_local.resourcemanager
import snapkeeper_local.scheduler
from snapkeeper_local.asset import app as asset_app
from snapkeeper_local.asset import routes as asset_routes
from snapkeeper_local.compute import responses
from snapkeeper_local.compute import routes as compute_routes
from snapkeeper_local.recorder import functions, policies, pubsub, server
from snapkeeper_local.resourcemanager import app as crm_app
from snapkeeper_local.resourcemanager import backend as crm_backend
from snapkeeper_local.resourcemanager import routes as crm_routes
from snapkeeper_local.routing import RouteTable
from snapkeeper_local.scheduler import app
from snapkeeper_local.scheduler import routes as scheduler_routes

# Most ids have three parts or more; Cloud Asset's top-level methods have two.
METHOD_ID = re.compile(r"^([a-z]+(\.[A-Za-z]+){2,}|cloudasset\.[A-Za-z]+)$")


def listed_methods(package: ModuleType) -> set[str]:
    """Method ids in the docstring's bullet list: `a.b.c.get, .list` lists a.b.c.get and
    a.b.c.list."""
    listed: set[str] = set()
    prefix = ""
    in_list = False
    for line in (package.__doc__ or "").splitlines():
        if line.startswith("- "):
            in_list = True
        elif not line.startswith("  "):
            in_list = False
        if not in_list:
            continue
        for token in re.findall(r"\.?[\w.]+", line):
            token = token.rstrip(".")
            if token.startswith(".") and prefix:
                listed.add(prefix + token)
            elif METHOD_ID.match(token):
                listed.add(token)
                prefix = token.rsplit(".", 1)[0]
    return listed


def served(table: RouteTable) -> set[str]:
    return {method_id for _, _, method_id in table}


@pytest.mark.parametrize(
    ("package", "table"),
    [
        (snapkeeper_local.compute, compute_routes.API_ROUTES),
        (snapkeeper_local.scheduler, scheduler_routes.API_ROUTES),
        (snapkeeper_local.resourcemanager, crm_routes.API_ROUTES),
        (snapkeeper_local.asset, asset_routes.API_ROUTES),
        (
            snapkeeper_local.recorder,
            tuple(
                route
                for module in server.API_MODULES
                if module is not pubsub  # forwarded as a whole, not method by method
                for route in module.ROUTES
            ),
        ),
    ],
    ids=["compute", "scheduler", "resourcemanager", "asset", "recorder"],
)
def test_the_docstring_lists_what_the_routes_serve(package: ModuleType, table: RouteTable) -> None:
    assert listed_methods(package) == served(table)


def test_every_route_has_a_handler() -> None:
    recorder_table = [
        route
        for module in (*server.API_MODULES, functions)
        for route in (*module.ROUTES, *getattr(module, "UPLOAD_ROUTES", ()))
    ] + [route for api in policies.READ_METHODS for route in policies.routes(api)]
    assert served(compute_routes.API_ROUTES) <= set(responses.HANDLERS)
    assert {name for _, _, name in compute_routes.ADMIN_ROUTES} <= set(responses.ADMIN_HANDLERS)
    assert served(scheduler_routes.API_ROUTES) <= set(app.API_HANDLERS)
    assert served(tuple(recorder_table)) <= set(server.HANDLERS)
    crm_handlers = crm_app.api_handlers(crm_backend.ResourceManagerBackend())
    assert served(crm_routes.API_ROUTES) <= set(crm_handlers)
    assert served(asset_routes.API_ROUTES) <= set(asset_app.api_handlers(None))  # type: ignore[arg-type]

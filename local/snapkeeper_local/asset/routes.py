"""URL map of the fake: the Cloud Asset v1 REST path of searchAllResources (as the
`google-cloud-asset` REST transport calls it) and the admin API."""

from __future__ import annotations

from werkzeug.routing import Map

from ..jsonapi import ADMIN_PREFIX, admin_routes
from ..routing import RouteTable, rules, url_map

PREFIX = "/v1"
SEARCH = "cloudasset.searchAllResources"

# (path, HTTP method, API method id as in the real discovery document)
API_ROUTES: RouteTable = (("/<kind>/<scope>:searchAllResources", "GET", SEARCH),)

ADMIN_ROUTES: RouteTable = (
    *admin_routes(),
    (ADMIN_PREFIX + "staleness", "POST", "staleness"),
    (ADMIN_PREFIX + "sync", "POST", "sync"),
)


def build_map() -> Map:
    return url_map(
        rules(API_ROUTES, prefix=PREFIX) + rules(ADMIN_ROUTES, kind="admin"),
        colon_ends_segment=True,
    )

"""URL map of the fake: the Cloud Asset v1 REST path of searchAllResources (as the
`google-cloud-asset` REST transport calls it) and the admin API."""

from __future__ import annotations

from werkzeug.routing import Map

from ..jsonapi import admin_routes, api_map
from ..routing import RouteTable

PREFIX = "/v1"
SEARCH = "cloudasset.searchAllResources"

# (path, HTTP method, API method id as in the real discovery document)
API_ROUTES: RouteTable = (("/<kind>/<scope>:searchAllResources", "GET", SEARCH),)

ADMIN_ROUTES = admin_routes(("staleness", "POST", "staleness"), ("sync", "POST", "sync"))


def build_map() -> Map:
    return api_map(PREFIX, API_ROUTES, ADMIN_ROUTES, colon_ends_segment=True)

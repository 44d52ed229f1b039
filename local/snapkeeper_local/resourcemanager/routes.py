"""URL map of the fake: each Cloud Resource Manager v3 REST path names its API method
(the paths of the `google-cloud-resource-manager` REST transport), plus the admin API."""

from __future__ import annotations

from werkzeug.routing import Map

from ..jsonapi import admin_routes, api_map
from ..routing import RouteTable

PREFIX = "/v3"

# (path, HTTP method, API method id as in the real discovery document)
API_ROUTES: RouteTable = (
    ("/projects", "GET", "cloudresourcemanager.projects.list"),
    ("/projects:search", "GET", "cloudresourcemanager.projects.search"),
    ("/projects/<project>", "GET", "cloudresourcemanager.projects.get"),
    ("/folders", "GET", "cloudresourcemanager.folders.list"),
    ("/folders/<folder>", "GET", "cloudresourcemanager.folders.get"),
    ("/organizations/<organization>", "GET", "cloudresourcemanager.organizations.get"),
)

ADMIN_ROUTES = admin_routes(
    ("organizations", "POST", "seed_organization"),
    ("folders", "POST", "seed_folder"),
    ("projects", "POST", "seed_project"),
    ("state", "POST", "set_state"),
)


def build_map() -> Map:
    # A colon ends a segment, so `projects:search` is not a project named "projects:search".
    return api_map(PREFIX, API_ROUTES, ADMIN_ROUTES, colon_ends_segment=True)

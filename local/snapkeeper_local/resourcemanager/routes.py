"""URL map of the fake: each Cloud Resource Manager v3 REST path names its API method
(the paths of the `google-cloud-resource-manager` REST transport), plus the admin API."""

from __future__ import annotations

from werkzeug.routing import Map

from ..jsonapi import ADMIN_PREFIX, admin_routes
from ..routing import RouteTable, rules, url_map

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

ADMIN_ROUTES: RouteTable = (
    *admin_routes(),
    (ADMIN_PREFIX + "organizations", "POST", "seed_organization"),
    (ADMIN_PREFIX + "folders", "POST", "seed_folder"),
    (ADMIN_PREFIX + "projects", "POST", "seed_project"),
    (ADMIN_PREFIX + "state", "POST", "set_state"),
)


def build_map() -> Map:
    # A colon ends a segment, so `projects:search` is not a project named "projects:search".
    return url_map(
        rules(API_ROUTES, prefix=PREFIX) + rules(ADMIN_ROUTES, kind="admin"),
        colon_ends_segment=True,
    )

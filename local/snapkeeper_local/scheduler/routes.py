"""URL map of the fake: each REST path of Cloud Scheduler v1 names its API method.

Paths are those the `google-cloud-scheduler` REST transport and gcloud use, plus App
Engine's `apps.get` (gcloud asks it for a default location) and the admin API.
"""

from __future__ import annotations

from werkzeug.routing import Map

from ..jsonapi import admin_routes, api_map
from ..routing import RouteTable

PREFIX = "/v1"
JOBS = "/projects/<project>/locations/<location>/jobs"
JOB_METHODS = "cloudscheduler.projects.locations.jobs"

# (path, HTTP method, API method id as in the real discovery document)
API_ROUTES: RouteTable = (
    (JOBS, "GET", f"{JOB_METHODS}.list"),
    (JOBS, "POST", f"{JOB_METHODS}.create"),
    (JOBS + "/<job>", "GET", f"{JOB_METHODS}.get"),
    (JOBS + "/<job>", "PATCH", f"{JOB_METHODS}.patch"),
    (JOBS + "/<job>", "DELETE", f"{JOB_METHODS}.delete"),
    (JOBS + "/<job>:pause", "POST", f"{JOB_METHODS}.pause"),
    (JOBS + "/<job>:resume", "POST", f"{JOB_METHODS}.resume"),
    (JOBS + "/<job>:run", "POST", f"{JOB_METHODS}.run"),
    ("/projects/<project>/locations", "GET", "cloudscheduler.projects.locations.list"),
    ("/projects/<project>/locations/<location>", "GET", "cloudscheduler.projects.locations.get"),
    ("/apps/<app>", "GET", "appengine.apps.get"),
)

ADMIN_ROUTES = admin_routes(("attempts", "GET", "attempts"), ("fire", "POST", "fire"))


def build_map() -> Map:
    return api_map(PREFIX, API_ROUTES, ADMIN_ROUTES)

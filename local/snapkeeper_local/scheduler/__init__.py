"""A local fake of the Cloud Scheduler v1 REST API that fires Pub/Sub targets on cron, in
the compute fake's shape: `routes` (the route table) → `app` (thin handlers; `wire` turns
the JSON into the backend's dataclasses) → `backend` (jobs, attempts, firing) → `errors`
(google.rpc codes); `cron` reads schedules, `firing` runs the cron loop and `publisher`
publishes to the Pub/Sub emulator.

Unmodified clients work against it: `google-cloud-scheduler` with transport="rest" and
`client_options={"api_endpoint": f"http://{CLOUD_SCHEDULER_EMULATOR_HOST}"}`, and gcloud
with CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER=http://HOST:PORT/.

API methods served (jobs with a Pub/Sub target only):

- cloudscheduler.projects.locations.jobs.list, .create, .get, .patch, .delete, .pause,
  .resume, .run
- cloudscheduler.projects.locations.list, .get
- appengine.apps.get, answered 404 as for a project without an App Engine app (gcloud
  asks it for a default location)

The admin API under `/_fake/` (health, reset, requests, attempts, fire) has a Python
client, `SchedulerAdmin`.
"""

from __future__ import annotations

from .admin import SchedulerAdmin
from .backend import Attempt, Job, JobState, SchedulerBackend, Trigger
from .server import SchedulerServer

__all__ = [
    "Attempt",
    "Job",
    "JobState",
    "SchedulerAdmin",
    "SchedulerBackend",
    "SchedulerServer",
    "Trigger",
]

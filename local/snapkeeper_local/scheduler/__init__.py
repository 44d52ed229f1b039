"""A local fake of the Cloud Scheduler v1 REST API that fires Pub/Sub targets on cron.

Unmodified clients work against it: `google-cloud-scheduler` with transport="rest" and
`client_options={"api_endpoint": f"http://{CLOUD_SCHEDULER_EMULATOR_HOST}"}`, and gcloud
with CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER=http://HOST:PORT/.
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

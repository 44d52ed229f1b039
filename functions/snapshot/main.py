"""Cloud Function (2nd gen, Pub/Sub trigger on snapkeeper-work, with retry and a
dead-letter policy): one disk in, its snapshot made and its old ones pruned. All logic
lives in the snapkeeper library."""

import functions_framework
from cloudevents.http import CloudEvent

from snapkeeper.handlers import handle_work


@functions_framework.cloud_event
def snapshot_disk(cloud_event: CloudEvent) -> None:
    handle_work(cloud_event)

"""Cloud Function (2nd gen, Pub/Sub trigger on snapkeeper-ticks): one tick in, one work
message per labelled disk out. All logic lives in the snapkeeper library."""

import functions_framework
from cloudevents.http import CloudEvent

from snapkeeper.handlers import handle_tick


@functions_framework.cloud_event
def enumerate_disks(cloud_event: CloudEvent) -> None:
    handle_tick(cloud_event)

"""The Pub/Sub topology of a deployment, applied to the emulator for the local stack:
ticks -> push to the enumerator; work -> push to the snapshot function with a retry and a
dead-letter policy; dead letters -> a pull subscription operators read."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.protobuf.duration_pb2 import Duration

from snapkeeper.config import Config

TICKS_SUBSCRIPTION = "snapkeeper-ticks-enumerator"
WORK_SUBSCRIPTION = "snapkeeper-work-snapshot"
TIMEOUT = 30.0


@dataclass(frozen=True)
class RetrySettings:
    minimum_backoff_seconds: int = 1  # production uses 10 s .. 600 s
    maximum_backoff_seconds: int = 5
    ack_deadline_seconds: int = 60


LOCAL_RETRY = RetrySettings()


def apply(
    config: Config,
    enumerator_endpoint: str,
    snapshot_endpoint: str,
    retry: RetrySettings | None = None,
) -> None:
    """Create what is missing; idempotent."""
    retry = retry or LOCAL_RETRY
    publisher, subscriber = PublisherClient(), SubscriberClient()
    project = config.host_project
    for topic in (config.tick_topic, config.work_topic, config.dead_letter_topic):
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(name=publisher.topic_path(project, topic), timeout=TIMEOUT)
    # Both push subscriptions retry with backoff and end in the dead-letter topic: a tick
    # that keeps failing is as worth knowing about as a disk.
    policies = {
        "retry_policy": {
            "minimum_backoff": Duration(seconds=retry.minimum_backoff_seconds),
            "maximum_backoff": Duration(seconds=retry.maximum_backoff_seconds),
        },
        "dead_letter_policy": {
            "dead_letter_topic": publisher.topic_path(project, config.dead_letter_topic),
            "max_delivery_attempts": config.max_delivery_attempts,
        },
    }
    subscriptions = [
        {
            "name": subscriber.subscription_path(project, config.dead_letter_subscription),
            "topic": publisher.topic_path(project, config.dead_letter_topic),
            "ack_deadline_seconds": retry.ack_deadline_seconds,
        },
        {
            "name": subscriber.subscription_path(project, TICKS_SUBSCRIPTION),
            "topic": publisher.topic_path(project, config.tick_topic),
            "push_config": {"push_endpoint": enumerator_endpoint},
            "ack_deadline_seconds": retry.ack_deadline_seconds,
            **policies,
        },
        {
            "name": subscriber.subscription_path(project, WORK_SUBSCRIPTION),
            "topic": publisher.topic_path(project, config.work_topic),
            "push_config": {"push_endpoint": snapshot_endpoint},
            "ack_deadline_seconds": retry.ack_deadline_seconds,
            **policies,
        },
    ]
    for request in subscriptions:
        with contextlib.suppress(gexc.AlreadyExists):
            subscriber.create_subscription(request=request, timeout=TIMEOUT)

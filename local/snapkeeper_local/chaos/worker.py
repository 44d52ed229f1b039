"""A pull worker: the snapshot function's handler driven by a streaming-pull subscriber,
as Cloud Functions' fan-out would drive it (the emulator's push delivers about two at a
time). Each message becomes the CloudEvent Eventarc would send, `deliveryAttempt`
included; a return acks it, an exception nacks it, as the function's HTTP answer does.

    python -m snapkeeper_local.chaos.worker SUBSCRIPTION [--concurrency N]

Settings come from the environment, as the function's do. Runs until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import argparse
import base64
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cloudevents.http import CloudEvent
from google.cloud.pubsub_v1 import SubscriberClient
from google.cloud.pubsub_v1.subscriber.message import Message
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.cloud.pubsub_v1.types import FlowControl

from snapkeeper.handlers import handle_work

EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"


def as_cloud_event(message: Message, subscription: str) -> CloudEvent:
    publish_time = message.publish_time.isoformat()
    data: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "messageId": message.message_id,
            "publishTime": publish_time,
            "attributes": dict(message.attributes),
        },
        "subscription": subscription,
    }
    if message.delivery_attempt:
        data["deliveryAttempt"] = message.delivery_attempt
    attributes = {
        "type": EVENT_TYPE,
        "source": f"//pubsub.googleapis.com/{subscription}",
        "id": message.message_id,
        "time": publish_time,
    }
    return CloudEvent(attributes, data)


def handle(message: Message, subscription: str) -> None:
    try:
        handle_work(as_cloud_event(message, subscription))
    except Exception:  # the function's 500: Pub/Sub redelivers with backoff
        message.nack()
        return
    message.ack()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subscription", help="projects/P/subscriptions/S")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    subscriber = SubscriberClient()
    future = subscriber.subscribe(
        args.subscription,
        lambda message: handle(message, args.subscription),
        flow_control=FlowControl(max_messages=args.concurrency),
        scheduler=ThreadScheduler(ThreadPoolExecutor(max_workers=args.concurrency)),
    )
    print(f"worker pulling {args.subscription}", file=sys.stderr, flush=True)
    stop.wait()
    future.cancel()
    future.result(timeout=30)


if __name__ == "__main__":
    main()

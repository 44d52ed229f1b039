"""A pull worker: the snapshot function's handler driven from a pull subscription, as
Cloud Functions' fan-out would drive it (the emulator's push delivers about two at a
time). Each message becomes the CloudEvent Eventarc would send, `deliveryAttempt`
included; a return acks it, an exception nacks it, as the function's HTTP answer does.

Synchronous pull, so that a worker killed mid-message leaves nothing behind but leases
that run out: the message comes back on its own, as it would to another instance.

    python -m snapkeeper_local.chaos.worker SUBSCRIPTION [--concurrency N]

Settings come from the environment, as the function's do. Runs until SIGTERM or SIGKILL.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cloudevents.http import CloudEvent
from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import SubscriberClient
from google.pubsub_v1.types import ReceivedMessage

from snapkeeper.handlers import handle_work

EVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
PULL_TIMEOUT = 10.0
ACKED = "acked "  # the line a worker writes for each message it acknowledged


def as_cloud_event(received: ReceivedMessage, subscription: str) -> CloudEvent:
    message = received.message
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
    if received.delivery_attempt:
        data["deliveryAttempt"] = received.delivery_attempt
    attributes = {
        "type": EVENT_TYPE,
        "source": f"//pubsub.googleapis.com/{subscription}",
        "id": message.message_id,
        "time": publish_time,
    }
    return CloudEvent(attributes, data)


def say_acked(message_id: str) -> None:
    """The line the soak reads, in one write: print() writes the text and its newline
    apart, and the log lines of other threads land between them."""
    sys.stdout.write(f"{ACKED}{message_id}\n")
    sys.stdout.flush()


class Worker:
    def __init__(self, subscription: str, concurrency: int) -> None:
        self.subscription = subscription
        self.subscriber = SubscriberClient()
        self.slots = threading.Semaphore(concurrency)
        self.pool = ThreadPoolExecutor(max_workers=concurrency)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.slots.acquire()
            self.slots.release()
            try:
                response = self.subscriber.pull(
                    subscription=self.subscription, max_messages=1, timeout=PULL_TIMEOUT
                )
            except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
                continue
            for received in response.received_messages:
                self.slots.acquire()
                self.pool.submit(self.handle, received)
        self.pool.shutdown(wait=True)

    def handle(self, received: ReceivedMessage) -> None:
        try:
            handle_work(as_cloud_event(received, self.subscription))
        except Exception:  # the function's 500: Pub/Sub redelivers with backoff
            # If the nack fails, the lease runs out instead: redelivered all the same.
            with contextlib.suppress(gexc.GoogleAPICallError):
                self.subscriber.modify_ack_deadline(
                    subscription=self.subscription,
                    ack_ids=[received.ack_id],
                    ack_deadline_seconds=0,
                )
        else:
            # Done, whatever becomes of the ack: a late ack (the lease ran out) only means
            # one more delivery, which finds the work done.
            say_acked(received.message.message_id)
            try:
                self.subscriber.acknowledge(
                    subscription=self.subscription, ack_ids=[received.ack_id]
                )
            except gexc.GoogleAPICallError as exc:
                sys.stdout.write(f"ack of {received.message.message_id} failed: {exc}\n")
                sys.stdout.flush()
        finally:
            self.slots.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subscription", help="projects/P/subscriptions/S")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    worker = Worker(args.subscription, args.concurrency)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    print(f"worker pulling {args.subscription}", file=sys.stderr, flush=True)
    worker.run()


if __name__ == "__main__":
    main()

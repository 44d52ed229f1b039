"""The pipeline's cost and fan-out on the local stack. Prints figures; asserts nothing.

1. Compute calls per disk in a steady-state tick, and aggregatedList pages per project.
2. Disks per second through the emulator's push (concurrency about 2: it proves
   behaviour, not scale) against the same snapshot handler driven by a streaming-pull
   subscriber with C concurrent callbacks, as Cloud Functions' fan-out would. Here the
   fake Compute Engine, the callbacks and the Pub/Sub client share one process (and its
   GIL) on a small machine, so the ratios are a floor, not Cloud Functions' scaling.

    python benchmarks/pipeline_scale.py [--disks N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from cloudevents.http import CloudEvent
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler
from google.cloud.pubsub_v1.types import FlowControl

from snapkeeper.compute import ComputeGateway
from snapkeeper.enumerator import plan_tick
from snapkeeper.handlers import handle_work
from snapkeeper.messages import Tick
from snapkeeper_local.stack import LocalStack

PROJECT = "bench-project"
ZONE = "us-central1-a"
START = datetime(2027, 5, 1, 3, tzinfo=UTC)
CONCURRENCY = (1, 4, 16)


def tick(day: int) -> Tick:
    return Tick("daily", "0 3 * * *", "Etc/UTC", START + timedelta(days=day))


def steady_state_costs(stack: LocalStack, disks: int) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    for day in range(3):
        admin.set_clock(START + timedelta(days=day))
        stack.run_tick(tick(day))
    admin.clear_requests()
    admin.set_clock(START + timedelta(days=3))
    started = time.monotonic()
    report = stack.run_tick(tick(3), timeout=600)
    push_seconds = time.monotonic() - started
    calls = Counter(r["api_method"] for r in admin.requests())
    # Every call of the snapshot function (the enumerator's aggregated lists aside).
    per_disk = sum(n for m, n in calls.items() if "aggregatedList" not in m) / disks
    function_seconds = sum(e.get("duration_seconds", 0) for e in report.outcomes.values())
    print(f"steady-state tick over {disks} disks (keep 2):")
    for method, count in sorted(calls.items()):
        print(f"  {method:<36} {count:>6}")
    print(f"  Compute calls per disk by the snapshot function: {per_disk:.2f}")
    print(f"  snapshot function seconds per disk (final attempt): {function_seconds / disks:.2f}")
    pages = calls["compute.disks.aggregatedList"]
    print(f"  disks.aggregatedList pages for {disks} disks in one project: {pages}")
    print(f"  through the emulator's push: {disks / push_seconds:.1f} disks/s")
    return None


def pull_fan_out(stack: LocalStack, disks: int, concurrency: int, day: int) -> float:
    """Publish one tick's work to a private topic, then drain it with C callbacks."""
    config = stack.config
    topic_id, sub_id = f"bench-work-{concurrency}", f"bench-work-{concurrency}-sub"
    publisher, subscriber = PublisherClient(), SubscriberClient()
    topic = publisher.topic_path(config.host_project, topic_id)
    subscription = subscriber.subscription_path(config.host_project, sub_id)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)
    stack.compute.admin.set_clock(START + timedelta(days=day))  # type: ignore[union-attr]
    plan = plan_tick(tick(day), START, config, ComputeGateway.for_config(config))
    for future in [publisher.publish(topic, item.to_json()) for item in plan.work]:
        future.result(timeout=60)

    done = threading.Semaphore(0)

    def callback(message: object) -> None:
        event = CloudEvent(
            {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//bench"},
            {
                "message": {
                    "data": _b64(message.data),
                    "messageId": message.message_id,  # type: ignore[attr-defined]
                    "publishTime": START.isoformat(),
                }
            },
        )
        try:
            handle_work(event)
            message.ack()  # type: ignore[attr-defined]
        except Exception:
            message.nack()  # type: ignore[attr-defined]
            return
        done.release()

    started = time.monotonic()
    executor = ThreadPoolExecutor(max_workers=concurrency)
    future = subscriber.subscribe(
        subscription,
        callback,
        flow_control=FlowControl(max_messages=concurrency),
        scheduler=ThreadScheduler(executor),
    )
    for _ in range(len(plan.work)):
        done.acquire(timeout=300)
    elapsed = time.monotonic() - started
    future.cancel()
    future.result(timeout=30)
    return len(plan.work) / elapsed


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disks", type=int, default=200)
    args = parser.parse_args()
    with LocalStack([PROJECT], host_project="snapkeeper-bench") as stack:
        os.environ.update(stack.env)  # the in-process handler reads its config here
        admin = stack.compute.admin  # type: ignore[union-attr]
        admin.seed_project(PROJECT)
        # Each snapshot takes about a second to become READY, which the handler waits
        # for: waiting is I/O, which is what concurrent callbacks (and gen2 concurrency)
        # overlap.
        admin.configure(rate_limit_seconds=0, creating_seconds=0.5, uploading_seconds=0.5)
        admin.seed_disks(
            {
                "project": PROJECT,
                "name": f"disk-{i:04d}",
                "zone": ZONE,
                "labels": {"snapshot-daily": "2"},
            }
            for i in range(args.disks)
        )
        steady_state_costs(stack, args.disks)
        print("streaming-pull fan-out, same handler, in this process:")
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's own log lines
            rates = {
                c: pull_fan_out(stack, args.disks, c, 10 + i) for i, c in enumerate(CONCURRENCY)
            }
        for concurrency, rate in rates.items():
            ratio = rate / rates[CONCURRENCY[0]]
            print(f"  C={concurrency:<3} {rate:7.1f} disks/s  ({ratio:.1f}x C=1)")


if __name__ == "__main__":
    main()

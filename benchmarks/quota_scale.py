"""One tick of a large fleet under Compute Engine's quotas. Prints figures; asserts nothing.

Two runs over the same fleet (default 10,000 disks over 100 projects, one earlier
snapshot per disk, so each disk costs an insert and a delete):

1. fleet: no quota pressure, snapshots in each disk's own project, C concurrent handler
   runs. Calls per disk, tick time against calls x latency / C, and the enumerator: its
   time against the slowest project's listing, its peak memory, publish requests.
2. vault: every snapshot lands in one project (SNAPSHOT_PROJECT) whose write quota is set
   to a quarter (--pressure) of what the handlers would ask for unthrottled (measured in
   run 1). Tick time against the quota-bound time (writes / quota), rate-limit errors as a
   share of writes, re-queues and dead letters.

The snapshot function runs as it does in the cloud: subscribers of the real Pub/Sub
emulator in --processes worker processes (standing in for function instances; one process
shares one GIL), C handler runs at once in all, each pulling its next message when it is
free, as a push goes to an instance with room (the emulator's streaming pull ignores flow
control: it hands a stream a hundred messages at once, and left the other processes idle
while one worked through them). Messages carry the enumerator's labels, as in the cloud,
so first deliveries skip the disk read. The fake Compute Engine runs in a
process of its own with --latency added to every call and its clock --time-scale times
faster than the wall clock, so quota windows and operation times shrink together (a
375-per-minute quota at scale 8 is 50 writes per real second). The snapshot function's
settings are given in real time (COMPUTE_WRITE_QUOTA_PER_MINUTE = quota x scale).

    python benchmarks/quota_scale.py [--disks N --projects P --processes W
        --concurrency C --pressure-concurrency C2 --latency S --time-scale X --pressure K]
    python benchmarks/quota_scale.py --disks 600 --projects 12   # a quick run
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.types import DeadLetterPolicy, RetryPolicy

HOST = "bench-host"
VAULT = "bench-vault"
ZONE = "us-central1-a"
START = datetime(2027, 5, 1, 3, tzinfo=UTC)
SCHEDULE = "daily"
BATCH = 1000  # disks and snapshots seeded per admin call
MAX_ATTEMPTS = 10
PROGRESS_SECONDS = 60.0
PULL_TIMEOUT = 10.0  # seconds one pull waits for a message
LISTING_SAMPLE = 4  # projects whose listing is timed alone
WRITES = ("compute.snapshots.insert", "compute.snapshots.delete")
POLLS = ("compute.globalOperations.wait", "compute.globalOperations.get")
ENUMERATOR_CALLS = ("compute.disks.aggregatedList", "compute.instances.aggregatedList")


@dataclass
class Settings:
    disks: int
    projects: int
    processes: int
    concurrency: int
    pressure_concurrency: int
    latency: float
    listing_latency: float  # added to each aggregatedList (a real one takes seconds)
    time_scale: float
    pressure: float
    operation_seconds: float  # fake-clock seconds an insert runs


@dataclass
class Run:
    name: str
    disks: int
    concurrency: int
    tick_seconds: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    quota_per_minute: int | None = None  # of the fake clock, in the vault
    enumerator: dict[str, float] = field(default_factory=dict)

    def count(self, *methods: str) -> int:
        return sum(self.calls.get(m, 0) for m in methods)

    @property
    def function_calls(self) -> int:
        """Every Compute call of the snapshot function (the enumerator's aside)."""
        return sum(n for m, n in self.calls.items() if m not in ENUMERATOR_CALLS)


# -- worker processes: the snapshot function behind a pull per handler slot --------------


class _Counting:
    """stdout of a worker: counts the handler's JSON lines by what they say."""

    def __init__(self, counters: dict[str, Any], finished: Any) -> None:
        self.counters = counters
        self.finished = finished  # the disks whose message ended (done or dead-lettered)
        self._buffer = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            lines = self._buffer.split("\n")
            self._buffer = lines.pop()
        for line in lines:
            self._count(line)
        return len(text)

    def _count(self, line: str) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            return
        message = str(entry.get("message", ""))
        kind = (
            "done"
            if entry.get("action")
            else "dead"
            if message.startswith("dead-lettered")
            else "requeued"
            if message.startswith("re-queued")
            else "retried"
            if message.startswith("will retry")
            else None
        )
        if kind:
            with self.counters[kind].get_lock():
                self.counters[kind].value += 1
        if kind in ("done", "dead"):
            self.finished.put(f"{entry.get('project')}/{entry.get('disk')}")
        if kind == "done":
            with self.counters["busy_ms"].get_lock():
                self.counters["busy_ms"].value += int(1000 * entry.get("duration_seconds", 0))

    def flush(self) -> None:
        pass


def worker(
    env: dict[str, str],
    subscription: str,
    concurrency: int,
    counters: dict[str, Any],
    finished: Any,
    ready: Any,
    stop: Any,
) -> None:
    os.environ.update(env)
    sys.stdout = _Counting(counters, finished)  # type: ignore[assignment]
    from cloudevents.http import CloudEvent
    from google.api_core import exceptions as gexc

    from snapkeeper.handlers import handle_work

    subscriber = SubscriberClient()

    def run(received: Any) -> bool:
        """One delivery through the function; False when it failed (redelivery)."""
        message = received.message
        data = {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": dict(message.attributes),
                "messageId": message.message_id,
                "publishTime": message.publish_time.isoformat(),
            },
            "deliveryAttempt": received.delivery_attempt,
        }
        event = CloudEvent(
            {"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//bench"}, data
        )
        try:
            handle_work(event)
        except Exception:  # the function failed: Pub/Sub redelivers
            return False
        return True

    def slot() -> None:
        """One handler run at a time, pulling its next message only when free (see the
        module's docstring)."""
        while not stop.is_set():
            try:
                response = subscriber.pull(
                    subscription=subscription, max_messages=1, timeout=PULL_TIMEOUT
                )
            except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
                continue
            for received in response.received_messages:
                if run(received):
                    subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
                else:
                    subscriber.modify_ack_deadline(
                        subscription=subscription, ack_ids=[received.ack_id], ack_deadline_seconds=0
                    )

    threads = [threading.Thread(target=slot, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.release()
    stop.wait()
    for thread in threads:
        thread.join(timeout=PULL_TIMEOUT + 30)


@contextmanager
def workers(
    settings: Settings, env: dict[str, str], subscription: str, concurrency: int
) -> Iterator[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    kinds = ("done", "dead", "requeued", "retried", "busy_ms")
    counters: dict[str, Any] = {k: context.Value("q", 0) for k in kinds}
    finished = context.Queue()
    ready, stop = context.Semaphore(0), context.Event()
    shares = [concurrency // settings.processes] * settings.processes
    for i in range(concurrency % settings.processes):
        shares[i] += 1
    processes = [
        context.Process(target=worker, args=(env, subscription, c, counters, finished, ready, stop))
        for c in shares
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            if not ready.acquire(timeout=120):
                raise RuntimeError("a worker process did not start")
        yield counters, finished
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)


# -- the fake Compute Engine in its own process ------------------------------------------


@contextmanager
def fake_compute() -> Iterator[Any]:
    from snapkeeper_local.compute import ComputeAdmin
    from snapkeeper_local.processes import start_in_group, stop_group

    process = start_in_group(
        [sys.executable, "-m", "snapkeeper_local.compute", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        host = process.stdout.readline().strip()
        if not host:
            raise RuntimeError("the fake Compute Engine did not start")
        admin = ComputeAdmin(f"http://{host}", timeout=300)
        yield admin
        admin.close()
    finally:
        stop_group(process)


def seed(admin: Any, settings: Settings, vault: bool) -> list[str]:
    """Projects, disks and one earlier managed snapshot per disk (so each disk's run
    deletes one); returns the projects."""
    from snapkeeper.labels import snapshot_labels
    from snapkeeper.slots import format_slot

    projects = [f"bench-project-{i:03d}" for i in range(settings.projects)]
    for project in [*projects, VAULT]:
        admin.seed_project(project)
    earlier = format_slot(START - timedelta(days=1))
    for first in range(0, settings.disks, BATCH):
        specs = [
            {
                "project": projects[i % len(projects)],
                "name": f"disk-{i:05d}",
                "zone": ZONE,
                "labels": {"snapshot-daily": "1"},
            }
            for i in range(first, min(first + BATCH, settings.disks))
        ]
        disks = admin.seed_disks(specs)
        admin.seed_snapshots(
            [
                {
                    "project": VAULT if vault else d["selfLink"].split("/")[-5],
                    "name": f"{d['name']}-{d['selfLink'].split('/')[-5][-3:]}-earlier",
                    "sourceDisk": d["selfLink"],
                    "creationTimestamp": (START - timedelta(days=1)).isoformat(),
                    "labels": snapshot_labels({}, str(d["id"]), SCHEDULE, earlier, "snapshot-"),
                }
                for d in disks
            ]
        )
    return projects


# -- one run -----------------------------------------------------------------------------


def pubsub_topology(name: str, settings: Settings) -> tuple[str, str]:
    """A work topic with its subscription (dead-letter policy and backoff scaled like
    the clock) and a dead-letter topic with one; returns both subscriptions."""
    publisher, subscriber = PublisherClient(), SubscriberClient()
    work = publisher.topic_path(HOST, f"bench-work-{name}")
    dlq = publisher.topic_path(HOST, f"bench-dlq-{name}")
    for topic in (work, dlq):
        publisher.create_topic(name=topic)
    work_sub = subscriber.subscription_path(HOST, f"bench-work-{name}-sub")
    dlq_sub = subscriber.subscription_path(HOST, f"bench-dlq-{name}-sub")
    subscriber.create_subscription(
        request={
            "name": work_sub,
            "topic": work,
            "ack_deadline_seconds": 600,
            "dead_letter_policy": DeadLetterPolicy(
                dead_letter_topic=dlq, max_delivery_attempts=MAX_ATTEMPTS
            ),
            "retry_policy": RetryPolicy(
                minimum_backoff=timedelta(seconds=max(1.0, 10 / settings.time_scale)),
                maximum_backoff=timedelta(seconds=max(1.0, 600 / settings.time_scale)),
            ),
        }
    )
    subscriber.create_subscription(name=dlq_sub, topic=dlq)
    return work_sub, dlq_sub


def count_messages(subscription: str) -> int:
    subscriber, total = SubscriberClient(), 0
    while True:
        response = subscriber.pull(
            subscription=subscription, max_messages=1000, return_immediately=True, timeout=30
        )
        if not response.received_messages:
            return total
        total += len(response.received_messages)
        subscriber.acknowledge(
            subscription=subscription, ack_ids=[m.ack_id for m in response.received_messages]
        )


def function_env(
    name: str, settings: Settings, admin: Any, projects: list[str], quota: int | None
) -> dict[str, str]:
    env = {
        "GOOGLE_CLOUD_PROJECT": HOST,
        "TARGET_PROJECTS": ",".join(projects),
        "COMPUTE_EMULATOR_HOST": admin.host,
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
        "WORK_TOPIC": f"bench-work-{name}",
        "DEAD_LETTER_TOPIC": f"bench-dlq-{name}",
        "MAX_DELIVERY_ATTEMPTS": str(MAX_ATTEMPTS),
        "READY_WAIT_SECONDS": "120",
        "MIN_KEEP": "1",
        "SNAPSHOT_MAX_INSTANCES": str(settings.processes),
        # Real seconds: the clock of the fake runs time_scale times faster.
        "PACE_MAX_WAIT_SECONDS": str(max(1, round(60 / settings.time_scale))),
        "COMPUTE_WRITE_QUOTA_PER_MINUTE": str(round((quota or 375) * settings.time_scale)),
    }
    if name == "vault":
        env["SNAPSHOT_PROJECT"] = VAULT
    return env


def enumerate_tick(projects: list[str], measure_listing: bool) -> dict[str, float]:
    """The enumerator's step, in this process: list every project, publish the work."""
    from snapkeeper import clients
    from snapkeeper.compute import ComputeGateway
    from snapkeeper.config import Config
    from snapkeeper.enumerator import discover, plan_tick, publish_work
    from snapkeeper.messages import Tick
    from snapkeeper.slots import format_slot

    config = Config.from_env()
    gateway = ComputeGateway.for_config(config)
    tick = Tick(SCHEDULE, "0 3 * * *", "Etc/UTC", START)
    figures: dict[str, float] = {}
    if measure_listing:
        slowest = 0.0
        # Each alone: the time the parallel listing is held to (a sample: every project
        # holds as many disks).
        for project in projects[:LISTING_SAMPLE]:
            started = time.monotonic()
            discover(project, tick, format_slot(START), config, gateway)
            slowest = max(slowest, time.monotonic() - started)
        figures["slowest_project_seconds"] = slowest
        tracemalloc.start()
        plan = plan_tick(tick, START, config, gateway)
        payloads = [item.to_json() for item in plan.work]
        figures["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del plan, payloads
    publisher = clients.publisher(config.endpoints.pubsub)
    requests = 0
    real_publish: Callable[..., Any] = publisher._gapic_publish

    def counting_publish(*args: Any, **kwargs: Any) -> Any:
        nonlocal requests
        requests += 1
        return real_publish(*args, **kwargs)

    publisher._gapic_publish = counting_publish  # type: ignore[method-assign]
    started = time.monotonic()
    figures["tick_started"] = started  # the tick itself, after the measurements above
    plan = plan_tick(tick, START, config, gateway)
    figures["listing_seconds"] = time.monotonic() - started
    published = publish_work(plan.work, config)
    figures["enumerator_seconds"] = time.monotonic() - started
    publisher._gapic_publish = real_publish  # type: ignore[method-assign]
    figures["published"] = published
    figures["publish_requests"] = requests
    return figures


def run(name: str, settings: Settings, admin: Any, concurrency: int, quota: int | None) -> Run:
    admin.reset()
    admin.set_clock(START)
    admin.configure(
        time_scale=settings.time_scale,
        creating_seconds=settings.operation_seconds / 2,
        uploading_seconds=settings.operation_seconds / 2,
        wait_seconds=5,
    )
    projects = seed(admin, settings, vault=name == "vault")
    admin.add_fault(kind="latency", latency_seconds=settings.latency)
    for method in ENUMERATOR_CALLS:
        admin.add_fault(kind="latency", api_method=method, latency_seconds=settings.listing_latency)
    if quota is not None:
        admin.set_quotas(VAULT, writes_per_minute=quota)
    admin.clear_requests()
    env = function_env(name, settings, admin, projects, quota)
    os.environ.update(env)
    work_sub, dlq_sub = pubsub_topology(name, settings)
    result = Run(name, settings.disks, concurrency, quota_per_minute=quota)
    with workers(settings, env, work_sub, concurrency) as (counters, finished):
        started = time.monotonic()
        result.enumerator = enumerate_tick(projects, measure_listing=name == "fleet")
        deadline, report_at = started + 3600, started + PROGRESS_SECONDS
        # Pub/Sub may deliver a message twice: a disk counts once, when its first ends.
        ended: set[str] = set()
        while len(ended) < settings.disks:
            with contextlib.suppress(queue.Empty):
                while True:
                    ended.add(finished.get_nowait())
            now = time.monotonic()
            if now > deadline:
                print(f"  {name}: gave up waiting after an hour", file=sys.stderr)
                break
            if now > report_at:
                report_at += PROGRESS_SECONDS
                print(f"  {name}: {len(ended)} of {settings.disks} disks done "
                      f"after {now - started:.0f} s", file=sys.stderr)  # fmt: skip
            time.sleep(0.2)
        result.tick_seconds = time.monotonic() - result.enumerator["tick_started"]
        result.outcomes = {k: v.value for k, v in counters.items()}
    state = admin.quotas()
    result.refused = dict(state["refused"])
    result.calls = dict(admin.counts())
    result.dead_letters = count_messages(dlq_sub)
    return result


# -- figures -----------------------------------------------------------------------------


def report_fleet(run_: Run, settings: Settings) -> float:
    """Print run 1's figures; returns the seconds one handler run takes per disk."""
    disks, polls = run_.disks, run_.count(*POLLS)
    calls = run_.function_calls
    non_poll = calls - polls
    bound = calls * settings.latency / run_.concurrency
    enum = run_.enumerator
    print(f"fleet: {disks} disks over {settings.projects} projects, no quota pressure")
    print(f"  C={run_.concurrency} handler runs in {settings.processes} processes, "
          f"latency {settings.latency * 1000:.0f} ms per call")  # fmt: skip
    _calls_table(run_)
    print(f"  Compute calls per disk: {non_poll / disks:.2f} plus {polls / disks:.2f} "
          "operation polls")  # fmt: skip
    print(f"  tick time {run_.tick_seconds:.1f} s; calls x latency / C = {bound:.1f} s; "
          f"ratio {run_.tick_seconds / bound:.2f} (target <= 1.3)")  # fmt: skip
    slowest = enum["slowest_project_seconds"]
    print(f"  enumerator: {enum['enumerator_seconds']:.2f} s in all; listing "
          f"{settings.projects} projects {enum['listing_seconds']:.2f} s against the slowest "
          f"project's {slowest:.2f} s alone (of {LISTING_SAMPLE}; aggregatedList latency "
          f"{settings.latency + settings.listing_latency:.1f} s): ratio "
          f"{enum['listing_seconds'] / slowest:.2f} (target <= 1.5)")  # fmt: skip
    print(f"  enumerator peak memory (traced Python allocations): {enum['peak_mib']:.1f} MiB")
    per_thousand = enum["publish_requests"] * 1000 / max(enum["published"], 1)
    print(f"  publish requests: {enum['publish_requests']:.0f} for {enum['published']:.0f} "
          f"disks, {per_thousand:.2f} per 1,000 disks (target <= 2)")  # fmt: skip
    _outcomes(run_)
    return run_.outcomes["busy_ms"] / 1000 / max(run_.outcomes["done"], 1)


def report_vault(run_: Run, settings: Settings, demand_writes_per_second: float) -> None:
    disks, polls = run_.disks, run_.count(*POLLS)
    writes = run_.count(*WRITES)
    limited = run_.refused.get("global_write", 0)
    accepted = writes - limited
    quota_per_second = (run_.quota_per_minute or 0) * settings.time_scale / 60
    bound = accepted / quota_per_second
    print(f"vault: {disks} disks, every snapshot in one project, write quota "
          f"{run_.quota_per_minute}/min of the fake clock (x{settings.time_scale:g}: "
          f"{quota_per_second:.1f} writes/s real)")  # fmt: skip
    print(f"  C={run_.concurrency}: unthrottled demand {demand_writes_per_second:.1f} writes/s, "
          f"{demand_writes_per_second / quota_per_second:.1f}x the quota")  # fmt: skip
    _calls_table(run_)
    print(f"  Compute calls per disk: {(run_.function_calls - polls) / disks:.2f} (with "
          f"retries) plus {polls / disks:.2f} operation polls")  # fmt: skip
    print(f"  rate-limit errors: {limited} of {writes} writes = {limited / max(writes, 1):.1%} "
          "(target <= 10%)")  # fmt: skip
    print(f"  tick time {run_.tick_seconds:.1f} s; quota-bound time (writes / quota) "
          f"{bound:.1f} s; ratio {run_.tick_seconds / bound:.2f} (target <= 1.3); "
          f"unscaled: {run_.tick_seconds * settings.time_scale / 60:.0f} min")  # fmt: skip
    _outcomes(run_)


def _calls_table(run_: Run) -> None:
    for method, count in sorted(run_.calls.items()):
        print(f"    {method:<36} {count:>8}")


def _outcomes(run_: Run) -> None:
    o = run_.outcomes
    busy = o["busy_ms"] / 1000
    print(f"  handler runs that ended well: {busy / max(o['done'], 1):.2f} s each; they kept "
          f"{busy / (run_.tick_seconds * run_.concurrency):.0%} of the C slots busy")  # fmt: skip
    print(f"  outcomes: {o['done']} done (duplicate deliveries included), {o['requeued']} "
          f"re-queues, {o['retried']} redeliveries asked, dead letters {run_.dead_letters} "
          "(target 0)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disks", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    # 32: at 128 a 2-core machine, not the quota, bounds the vault's tick.
    parser.add_argument("--pressure-concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--listing-latency", type=float, default=2.0)
    parser.add_argument("--time-scale", type=float, default=8.0)
    parser.add_argument("--pressure", type=float, default=4.0)
    parser.add_argument("--operation-seconds", type=float, default=0.8)
    parser.add_argument("--only", choices=("fleet", "vault"))
    args = parser.parse_args()
    settings = Settings(
        args.disks,
        args.projects,
        args.processes,
        args.concurrency,
        args.pressure_concurrency,
        args.latency,
        args.listing_latency,
        args.time_scale,
        args.pressure,
        args.operation_seconds,
    )
    from snapkeeper_local.pubsub_emulator import PubSubEmulator

    # SIGTERM stops the run as Ctrl-C does: the emulator, the fake and the workers with it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    with PubSubEmulator(project=HOST) as emulator, fake_compute() as admin:
        os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
        fleet = run("fleet", settings, admin, settings.concurrency, None)
        seconds_per_disk = report_fleet(fleet, settings)
        if args.only == "fleet":
            return
        writes_per_disk = fleet.count(*WRITES) / fleet.disks
        demand = settings.pressure_concurrency / seconds_per_disk * writes_per_disk
        quota = max(1, round(demand / settings.pressure * 60 / settings.time_scale))
        vault = run("vault", settings, admin, settings.pressure_concurrency, quota)
        report_vault(vault, settings, demand)


if __name__ == "__main__":
    main()

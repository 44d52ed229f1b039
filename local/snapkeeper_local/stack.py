"""The whole pipeline on one machine: the Pub/Sub emulator, the Compute Engine, Cloud
Scheduler, Resource Manager and Asset Inventory fakes, both functions under
functions-framework, and the topology between them.

Used by the end-to-end tests, the benchmarks and `make demo`. Everything it starts is
stopped by `stop()` (or leaving the `with` block), by process group or thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from snapkeeper.config import Config
from snapkeeper.handlers import ENUMERATOR, SNAPSHOTTER
from snapkeeper.messages import DRILL_KIND, DrillTick, Tick
from snapkeeper.snapshotter import Action
from snapkeeper_local.asset import AssetServer
from snapkeeper_local.compute import ComputeServer
from snapkeeper_local.functions import REPO_ROOT, FunctionServer
from snapkeeper_local.lifecycle import Service
from snapkeeper_local.processes import run_in_group
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.resourcemanager import ResourceManagerServer
from snapkeeper_local.scheduler import SchedulerServer

HOST_PROJECT = "snapkeeper-host"
# A second subscription on the dead-letter topic, so the stack can account for every
# dead letter without taking them from the operators' subscription.
AUDIT_SUBSCRIPTION = "snapkeeper-dead-letter-audit"
FINAL_ACTIONS = frozenset(action.value for action in Action)
DEFAULT_SETTLE_TIMEOUT = 120.0
DEPLOY_SCRIPT = REPO_ROOT / "deploy.sh"
DEPLOY_TIMEOUT_SECONDS = 120.0


@dataclass
class TickReport:
    """What one tick led to, once every work message it caused has a final outcome."""

    schedule: str
    slot: str
    summary: dict[str, Any]
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # disk key -> entry
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def by_action(self, action: str) -> list[dict[str, Any]]:
        return [e for e in self.outcomes.values() if e.get("action") == action]


@dataclass
class DrillReport:
    """What one drill tick led to: per disk its drill line or its dead-letter line."""

    slot: str
    summary: dict[str, Any]
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)  # disk key -> entry


def disk_key(fields: dict[str, Any]) -> str:
    location = fields.get("zone") or fields.get("region") or fields.get("location")
    return f"{fields.get('project')}/{location}/{fields.get('disk')}"


class LocalStack(Service):
    def __init__(
        self,
        target_projects: Iterable[str],
        *,
        host_project: str = HOST_PROJECT,
        snapshot_project: str | None = None,
        max_delivery_attempts: int = 5,
        ready_wait_seconds: int = 10,
        extra_env: dict[str, str] | None = None,
        emulator: PubSubEmulator | None = None,
        run_cron: bool = False,
        schedules: dict[str, tuple[str, str]] | None = None,
        compute: ComputeServer | None = None,
    ) -> None:
        self.target_projects = sorted(target_projects)
        self.host_project = host_project  # one per stack keeps stacks on one emulator apart
        self.snapshot_project = snapshot_project
        self.max_delivery_attempts = max_delivery_attempts
        self.ready_wait_seconds = ready_wait_seconds
        self.extra_env = extra_env or {}
        self._own_emulator = emulator is None
        self.emulator = emulator or PubSubEmulator(project=host_project)
        self.run_cron = run_cron
        self.schedules = schedules or {}  # name -> (cron, time zone): Scheduler jobs
        # A fake Compute Engine shared with another stack (a second deployment on the
        # same disks) is that stack's to stop.
        self._shared_compute = compute
        self.compute: ComputeServer | None = None
        self.scheduler: SchedulerServer | None = None
        # The organization's hierarchy and its Asset Inventory over this Compute fake.
        self.resource_manager: ResourceManagerServer | None = None
        self.assets: AssetServer | None = None
        self.enumerator: FunctionServer | None = None
        self.snapshotter: FunctionServer | None = None
        self._dead_letters: list[dict[str, Any]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        try:
            if self._own_emulator:
                self.emulator.start()
            self.compute = self._shared_compute or ComputeServer()
            self.scheduler = SchedulerServer(self.emulator.host, run_cron=self.run_cron).start()
            self.resource_manager = ResourceManagerServer()
            self.assets = AssetServer(self.compute.backend, self.resource_manager.backend)
            self.enumerator = FunctionServer(ENUMERATOR, self.env).start()
            self.snapshotter = FunctionServer(SNAPSHOTTER, self.env).start()
            self._deploy_topology()
            with _environment(self.env):
                self._subscriber().create_subscription(
                    name=self._subscription(AUDIT_SUBSCRIPTION),
                    topic=self.config.topic_path(self.config.dead_letter_topic),
                )
        except BaseException:
            self.stop()
            raise
        return self

    def _deploy_topology(self) -> None:
        """The production topology, applied to the emulator by `deploy.sh --local`."""
        assert self.enumerator is not None and self.snapshotter is not None
        assert self.scheduler is not None
        settings = {
            "HOST_PROJECT": self.host_project,
            "REGION": "us-central1",
            "TARGET_PROJECTS": ",".join(self.target_projects),
            "MAX_DELIVERY_ATTEMPTS": str(self.max_delivery_attempts),
            "READY_WAIT_SECONDS": str(self.ready_wait_seconds),
            # Production waits 10 s .. 600 s between deliveries; locally seconds will do.
            "MIN_RETRY_DELAY": "1s",
            "MAX_RETRY_DELAY": "5s",
        }
        with tempfile.TemporaryDirectory(prefix="snapkeeper-deploy-") as directory:
            config = Path(directory) / "local.env"
            lines = [f"{k}={v}" for k, v in settings.items()]
            lines += [
                f"SCHEDULE={name}|{cron}|{zone}" for name, (cron, zone) in self.schedules.items()
            ]
            config.write_text("\n".join(lines) + "\n")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")},
                "PUBSUB_EMULATOR_HOST": self.emulator.host,
                "CLOUD_SCHEDULER_EMULATOR_HOST": self.scheduler.host,
                "CLOUDSDK_CONFIG": directory,
                "ENUMERATOR_URL": self.enumerator.push_endpoint(
                    self.host_project, self.config.tick_topic
                ),
                "SNAPSHOT_URL": self.snapshotter.push_endpoint(
                    self.host_project, self.config.work_topic
                ),
            }
            try:
                result = run_in_group(
                    [str(DEPLOY_SCRIPT), "--config", str(config), "--local"],
                    env=env,
                    timeout=DEPLOY_TIMEOUT_SECONDS,
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError("deploy.sh --local did not finish in time") from None
        if result.returncode != 0:
            raise RuntimeError(f"deploy.sh --local failed:\n{result.stderr}")

    def stop(self) -> None:
        """Stop every part, in the reverse order of start, even if one of them fails to
        stop (its error is raised once all have been tried): a part left running, above
        all the emulator's Java process, would outlive the run."""
        with contextlib.ExitStack() as parts:  # callbacks run last-registered first
            if self._own_emulator:
                parts.callback(self.emulator.stop)
            if self.compute is not None and self._shared_compute is None:
                parts.callback(self.compute.stop)
            for part in (self.resource_manager, self.assets, self.scheduler,
                         self.snapshotter, self.enumerator):  # fmt: skip
                if part is not None:
                    parts.callback(part.stop)

    # -- settings ----------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment of the functions, and of a CLI pointed at this stack."""
        assert self.compute is not None and self.scheduler is not None
        env = {
            "GOOGLE_CLOUD_PROJECT": self.host_project,
            "TARGET_PROJECTS": ",".join(self.target_projects),
            "MAX_DELIVERY_ATTEMPTS": str(self.max_delivery_attempts),
            # Snapshots of the fake are READY in seconds; a test that slows one down
            # should not wait minutes for the function to ask for redelivery.
            "READY_WAIT_SECONDS": str(self.ready_wait_seconds),
            # One functions-framework process: the whole write quota is its share.
            "SNAPSHOT_MAX_INSTANCES": "1",
            "PUBSUB_EMULATOR_HOST": self.emulator.host,
            "COMPUTE_EMULATOR_HOST": self.compute.host,
            "CLOUD_SCHEDULER_EMULATOR_HOST": self.scheduler.host,
        }
        if self.resource_manager is not None and self.assets is not None:
            env["RESOURCE_MANAGER_EMULATOR_HOST"] = self.resource_manager.host
            env["CLOUD_ASSET_EMULATOR_HOST"] = self.assets.host
        if self.snapshot_project:
            env["SNAPSHOT_PROJECT"] = self.snapshot_project
        return env | self.extra_env

    @property
    def config(self) -> Config:
        return Config.from_env(self.env)

    def _subscriber(self) -> SubscriberClient:
        with _environment({"PUBSUB_EMULATOR_HOST": self.emulator.host}):
            return SubscriberClient()

    def _publisher(self) -> PublisherClient:
        with _environment({"PUBSUB_EMULATOR_HOST": self.emulator.host}):
            return PublisherClient()

    def _subscription(self, name: str) -> str:
        return f"projects/{self.host_project}/subscriptions/{name}"

    # -- driving it --------------------------------------------------------------------------

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        publisher = self._publisher()
        future = publisher.publish(self.config.topic_path(topic), data, **attributes)
        return str(future.result(timeout=30))

    def publish_tick(self, tick: Tick) -> str:
        """Publish a tick the way Cloud Scheduler does (the payload as the data)."""
        return self.publish(self.config.tick_topic, tick.to_json())

    def run_tick(self, tick: Tick, timeout: float = DEFAULT_SETTLE_TIMEOUT) -> TickReport:
        """Publish a tick and wait until each disk it queued has a final outcome."""
        message_id = self.publish_tick(tick)
        return self.settle_tick(message_id, timeout)

    def settle_tick(self, message_id: str, timeout: float = DEFAULT_SETTLE_TIMEOUT) -> TickReport:
        summary = wait_for(
            lambda: self.tick_summary(message_id), timeout, f"the summary of tick {message_id}"
        )
        report = TickReport(summary["schedule"], summary["slot"], summary)

        def settled() -> bool:
            report.outcomes = self.outcomes(summary["schedule"], summary["slot"])
            report.dead_letters = [
                d for d in self.dead_letters()
                if d["payload"].get("slot") == summary["slot"]
                and d["payload"].get("schedule") == summary["schedule"]
                and d["attributes"].get("function") != ENUMERATOR
            ]  # fmt: skip
            final = set(report.outcomes) | {disk_key(d["payload"]) for d in report.dead_letters}
            return len(final) >= summary["published"]

        wait_for(settled, timeout, f"every disk of tick {message_id} to finish")
        return report

    def run_drill(self, tick: DrillTick, timeout: float = DEFAULT_SETTLE_TIMEOUT) -> DrillReport:
        """Publish a drill tick and wait until each disk it picked has a final outcome:
        its drill line (drill_status) or its dead letter."""
        message_id = self.publish(self.config.tick_topic, tick.to_json())
        summary = wait_for(
            lambda: self.tick_summary(message_id), timeout, f"the summary of drill {message_id}"
        )
        report = DrillReport(summary["slot"], summary)
        assert self.snapshotter is not None

        def settled() -> bool:
            for entry in self.snapshotter.log_entries():  # type: ignore[union-attr]
                final = entry.get("drill_status") or entry.get("dead_letter_id")
                if final and entry.get("kind") == DRILL_KIND and entry.get("slot") == report.slot:
                    report.outcomes[disk_key(entry)] = entry
            return len(report.outcomes) >= summary["published"]

        wait_for(settled, timeout, f"every disk of drill {message_id} to finish")
        return report

    # -- reading what happened ---------------------------------------------------------------

    def tick_summary(self, message_id: str) -> dict[str, Any] | None:
        assert self.enumerator is not None
        for entry in self.enumerator.log_entries():
            if entry.get("message_id") == message_id and "published" in entry:
                return entry
        return None

    def outcomes(self, schedule: str, slot: str) -> dict[str, dict[str, Any]]:
        """The last final log entry of the snapshot function per disk for one slot."""
        assert self.snapshotter is not None
        found: dict[str, dict[str, Any]] = {}
        for entry in self.snapshotter.log_entries():
            final = entry.get("action") in FINAL_ACTIONS or entry.get("dead_letter_id")
            if final and entry.get("schedule") == schedule and entry.get("slot") == slot:
                found[disk_key(entry)] = entry
        return found

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter so far (read from the audit subscription, accumulated)."""
        subscriber = self._subscriber()
        while True:
            try:
                response = subscriber.pull(
                    subscription=self._subscription(AUDIT_SUBSCRIPTION),
                    max_messages=500,
                    return_immediately=True,
                    timeout=10,
                )
            except gexc.DeadlineExceeded:
                break
            if not response.received_messages:
                break
            for received in response.received_messages:
                self._dead_letters.append(_dead_letter_entry(received.message))
            subscriber.acknowledge(
                subscription=self._subscription(AUDIT_SUBSCRIPTION),
                ack_ids=[r.ack_id for r in response.received_messages],
            )
        return list(self._dead_letters)


def _dead_letter_entry(message: Any) -> dict[str, Any]:
    try:
        payload = json.loads(message.data)
    except (ValueError, UnicodeDecodeError):
        payload = None
    return {
        "message_id": message.message_id,
        "payload": payload
        if isinstance(payload, dict)
        else {"raw": message.data.decode(errors="replace")},
        "attributes": dict(message.attributes),
    }


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `condition` until it returns something truthy; TimeoutError names `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Any:
    """Set environment variables for a block (client constructors read them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

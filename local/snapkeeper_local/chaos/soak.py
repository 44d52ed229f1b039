"""The soak: ticks of a simulated month through the whole local pipeline while faults
drawn from a seed hit it, with the invariants checked after every tick.

Ticks go the production way (Pub/Sub emulator → push → the enumerator under
functions-framework, wired by `deploy.sh --local`). Work messages are pulled from the
same subscription, with its retry and dead-letter policies, by worker processes running
the snapshot function's handler (the emulator's push would deliver two at a time). The
fake Compute Engine's clock is set to each tick's time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import compute_v1
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from snapkeeper import clients, slots
from snapkeeper.deployrules import RATE_LIMIT_SECONDS
from snapkeeper.labels import DRILL_SCRATCH, DRILLED
from snapkeeper.messages import DRILL_KIND, DrillTick, Tick
from snapkeeper_local.chaos.checker import (
    KEEP_NEWEST,
    Checker,
    Expected,
    Round,
    Shot,
    Violation,
    letter_violations,
    read_shots,
    unresolved,
)
from snapkeeper_local.chaos.fleet import (
    OUTSIDER,
    PREFIX,
    SCHEDULES,
    VAULT,
    ZONES,
    DiskModel,
    Fleet,
    build_fleet,
    fire_times,
    mutate_labels,
)
from snapkeeper_local.chaos.worker import ACKED
from snapkeeper_local.functions import REPO_ROOT
from snapkeeper_local.processes import kill_group, stop_group
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.stack import LocalStack, _environment, wait_for

START = datetime(2027, 2, 1, tzinfo=UTC)
WORK_SUBSCRIPTION = "snapkeeper-work-snapshot"  # what deploy.sh --local names it
TAP_SUBSCRIPTION = "chaos-work-tap"
SETTLE_POLL = 0.2  # seconds between looks at a settling tick
WORK_ACK_DEADLINE = 20
PATIENCE = 60.0  # seconds of settling before it says what it waits for
FINAL_REPLAY_ROUNDS = 12
LOST_AFTER = 6 * WORK_ACK_DEADLINE  # unacknowledged this long, a message is not coming back
# A disk whose insert failed inside its operation takes no snapshot for 10 minutes. On
# the soak's short backoff its work dead-letters within seconds, but a copy published
# again for a lost message starts its attempts afresh and is retried until the limit
# lets it through (as a deployment's retries must be, deployconfig.retry_span): a tick
# may settle that late, plus a copy's turn or two.
SETTLE_TIMEOUT = RATE_LIMIT_SECONDS + 2 * LOST_AFTER + 60.0
# A failure report shows this many of the fake's requests for the disks it names.
CONTEXT_REQUESTS = 40
EMULATOR_LOG = "pubsub-emulator.log"  # kept with the workers' logs after a violation
DISK_NAME = re.compile(r"\bdisk-\d{5}\b")  # the fleet's disk names
COMPUTE_TIMEOUT = 1  # seconds: a "timeout" fault holds a request past it...
HELD_FOR = 1.5  # ...for this long
MIN_BACKOFF, MAX_BACKOFF = 0.1, 1  # seconds between deliveries of a message
FOR_GOOD = 0.2  # of the deleted disks, those that never come back
# The write quota of the one tick below demand: an hourly tick asks about two writes
# per project (an insert, a delete), so one a minute keeps the tick to minutes.
TIGHT_WRITES_PER_MINUTE = 1
# The soak's own calls (label changes, disk deletions) meet the fake's faults as any
# caller does, and retry them as a user's tool would.
OWN_RETRY = gretry.Retry(
    predicate=gretry.if_exception_type(
        gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway,
        gexc.ServiceUnavailable, gexc.GatewayTimeout,
    ),
    initial=0.1, maximum=1.0, timeout=60.0,
)  # fmt: skip
ACKED_LINE = ACKED.encode()
RETRY_LINE = b'"will retry'  # the snapshot function's log line of a delivery to retry
DEFERRED_FIELD = b"prune_deferred"  # a done line's deletes left to the next run
DRILL_STATUS = b"drill_status"  # the field of a drill's done line
SCRATCH, SCRATCH_ZONE = "chaos-scratch", ZONES[0]  # where drills restore
DRILL_SAMPLE = 3  # disks per drill
PATIENCE_EVERY = 10.0  # seconds between two "still waiting" lines


@dataclass(frozen=True)
class Rates:
    # The help of each is what `--NAME-rate` says it is a share of.
    transient: float = field(default=0.10, metadata={"help": "calls answered 5xx or 429"})
    timeout: float = field(default=0.02, metadata={"help": "calls held past the client's timeout"})
    failed_insert: float = field(
        default=0.01, metadata={"help": "inserts accepted, then FAILED inside the operation"}
    )
    duplicate: float = field(
        default=0.05, metadata={"help": "work messages and ticks published twice"}
    )
    disk_deleted: float = field(
        default=0.01, metadata={"help": "disks deleted between enumeration and snapshot"}
    )
    label_change: float = field(
        default=0.01, metadata={"help": "disks whose labels change, once a simulated day"}
    )


@dataclass(frozen=True)
class Settings:
    seed: int = 1
    disks: int = 1000
    projects: int = 10
    days: float = 30.0
    max_ticks: int | None = None
    hourly: float = 0.02  # the fraction of disks with an hourly schedule
    vault: bool = False
    workers: int = 2
    concurrency: int = 16
    rates: Rates = field(default_factory=Rates)
    orphan_policy: str = KEEP_NEWEST  # ORPHAN_POLICY of the run
    drills: bool = True  # a restore drill at the start of each simulated day after the first


@dataclass
class DayStats:
    ticks: int = 0
    created: int = 0
    pruned: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    redeliveries: int = 0
    dead_letters: int = 0
    violations: int = 0
    started: float = field(default_factory=time.monotonic)  # when the day's first tick began

    def faults_text(self) -> str:
        return ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items())) or "-"

    def line(self, day: int) -> str:
        """The day in one line, printed as it ends (a month's run takes hours)."""
        return (
            f"day {day + 1} ({time.monotonic() - self.started:.0f} s): {self.ticks} ticks, "
            f"{self.created} created, {self.pruned} pruned, "
            f"{self.redeliveries} redeliveries, {self.dead_letters} dead letters, "
            f"{self.violations} violations; faults: {self.faults_text()}"
        )


@dataclass
class Outcome:
    days: dict[int, DayStats]
    violations: list[Violation]
    disk_ticks: int
    context: str = ""  # the fake's request log around the first violation


class Soak:
    def __init__(
        self,
        settings: Settings,
        say: Callable[[str], None],
        emulator: PubSubEmulator | None = None,
        host_project: str = "snapkeeper-chaos",
    ) -> None:
        self.settings = settings
        self.emulator = emulator  # a running one to use, else the stack starts its own
        self.host_project = host_project  # its topics': one per soak on a shared emulator
        self.say = say
        self.rng = random.Random(settings.seed)
        self.fleet: Fleet = build_fleet(
            self.rng, settings.disks, settings.projects, settings.hourly
        )
        self.checker = Checker(orphan_policy=settings.orphan_policy)
        self.days: dict[int, DayStats] = {}
        self.violations: list[Violation] = []
        self.disk_ticks = 0
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: Path  # the workers' JSON-line logs, a folder made by run()
        self.letters_seen = 0
        self.pending: list[Expected] = []  # dead-lettered slots a replay must fill
        self.all_expected: list[Expected] = []
        self.gone: set[str] = set()
        self.revoked: set[str] = set()  # projects that refuse every call for now
        self._kill_due = False  # a worker is to be killed mid-prune at the next chance
        # Every work message published (seen on the tap) until a worker acknowledges it.
        self.copies: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.unacked: dict[str, float] = {}  # message id -> when the tap saw it
        self.log_offsets: dict[Path, int] = {}
        self._retries_read = 0  # "will retry" lines read from the workers' logs
        self._deferred: dict[tuple[str, str], int] = {}  # read from done lines, per series
        self._drilled: list[dict[str, str]] = []  # the done lines of drills that restored
        self._worker_count = 0
        self.stack: LocalStack

    # -- the run -------------------------------------------------------------------------

    def run(self) -> Outcome:
        s = self.settings
        targets = list(self.fleet.projects) + ([VAULT] if s.vault else [])
        stack = LocalStack(
            targets,
            host_project=self.host_project,
            snapshot_project=VAULT if s.vault else None,
            max_delivery_attempts=5,
            schedules=SCHEDULES,
            extra_env={
                "COMPUTE_TIMEOUT_SECONDS": str(COMPUTE_TIMEOUT),
                "ORPHAN_POLICY": s.orphan_policy,
                "SCRATCH_PROJECT": SCRATCH,
                "SCRATCH_ZONE": SCRATCH_ZONE,
                "DRILL_SAMPLE": str(DRILL_SAMPLE),
            },
            emulator=self.emulator,
        )
        with stack:
            self.stack = stack
            self.logs = Path(tempfile.mkdtemp(prefix="snapkeeper-chaos-"))
            self._pull_work()
            self._seed()
            self._start_workers(s.workers)
            try:
                self._ticks()
                if not self.violations:
                    self._final_catch_up()
                if self.days:  # the last day ends with the run
                    self.say(self.days[max(self.days)].line(max(self.days)))
                if self.violations:  # what Pub/Sub did, beside the workers' logs
                    stack.emulator.keep_log(self.logs / EMULATOR_LOG)
                context = self._context()
            except BaseException:  # Ctrl-C, SIGTERM or a bug: say where the logs so far are
                self.say(f"stopped early; the workers' logs are kept in {self.logs}")
                raise
            finally:
                for worker in self.workers:
                    stop_group(worker)
        if not self.violations:  # kept otherwise: the failure report names the folder
            shutil.rmtree(self.logs, ignore_errors=True)
        return Outcome(self.days, self.violations, self.disk_ticks, context)

    def _ticks(self) -> None:
        s = self.settings
        end = START + timedelta(days=s.days)
        ticks = fire_times(START, end)[: s.max_ticks]
        plan = one_offs(len(ticks))
        lost: tuple[datetime, str] | None = None
        day = -1
        for index, (at, schedule) in enumerate(ticks):
            if (at - START).days != day:
                day = (at - START).days
                self._new_day(day)
                if day and s.drills:
                    self._drill(at, self.days[day])
            stats = self.days[day]
            if index == plan.get("restore"):
                self._restore_permission(stats)
            if index == plan.get("catch_up") and lost:
                self._catch_up(*lost, stats)
            if index == plan.get("lost"):
                lost = (at, schedule)
                stats.faults["tick lost"] += 1
                continue
            if index == plan.get("revoke"):
                self._revoke_permission(stats)
            if index == plan.get("unreachable"):
                self._unreachable_zone(stats)
            if index == plan.get("kill"):
                self._kill_due = True  # at the first tick from here on that prunes
            if index >= plan.get("quota", len(ticks)) and schedule == "hourly":
                del plan["quota"]
                self._quota_below_demand(at, schedule, stats)
            else:
                self._tick(at, schedule, stats)
            if self.violations:
                return

    # -- set-up ----------------------------------------------------------------------------

    def _pull_work(self) -> None:
        """The work subscription keeps its policies but is pulled, by the workers."""
        with _environment({"PUBSUB_EMULATOR_HOST": self.stack.emulator.host}):
            subscriber = SubscriberClient()
            work = self._sub(WORK_SUBSCRIPTION)
            subscriber.modify_push_config(subscription=work, push_config={})
            # A killed worker's messages come back once their lease runs out; the live
            # workers extend theirs, so a short deadline only speeds that up. The retry
            # policy keeps its shape (a backoff that grows, attempts counted, the dead
            # letter at the last) on a shorter scale than deploy.sh --local's 1-5 s.
            subscriber.update_subscription(
                request={
                    "subscription": {
                        "name": work,
                        "ack_deadline_seconds": WORK_ACK_DEADLINE,
                        "retry_policy": {
                            "minimum_backoff": {"nanos": int(MIN_BACKOFF * 1e9)},
                            "maximum_backoff": {"seconds": MAX_BACKOFF},
                        },
                    },
                    "update_mask": {"paths": ["ack_deadline_seconds", "retry_policy"]},
                }
            )
            subscriber.create_subscription(
                name=self._sub(TAP_SUBSCRIPTION),
                topic=self.stack.config.topic_path(self.stack.config.work_topic),
            )

    def _sub(self, name: str) -> str:
        return f"projects/{self.stack.host_project}/subscriptions/{name}"

    def _seed(self) -> None:
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        admin.set_clock(START)
        # Snapshots take half a second: long enough to be seen in flight, short enough for
        # a month of ticks.
        admin.configure(creating_seconds=0.3, uploading_seconds=0.2)
        for project in (*self.fleet.projects, OUTSIDER, VAULT, SCRATCH):
            admin.seed_project(project)
        specs = [
            {"project": d.project, "name": d.name, "labels": d.labels}
            | ({"region": d.location} if d.regional else {"zone": d.location})
            for d in self.fleet.disks
        ]
        for disk, seeded in zip(self.fleet.disks, admin.seed_disks(specs), strict=True):
            disk.id = str(seeded["id"])
        for (project, name), labels in self.fleet.instances.items():
            attached = [d.name for d in self.fleet.disks if d.instance == name]
            zone = self.fleet.instance_zones[(project, name)]
            admin.seed_instance(project, name, zone=zone, labels=labels, disks=attached)
        self._seed_bystanders()
        rates = self.settings.rates
        seed = self.settings.seed
        half = rates.transient / 2
        admin.add_fault(status=503, probability=half, seed=seed)
        admin.add_fault(status=429, reason="rateLimitExceeded", probability=half, seed=seed + 1)
        admin.add_fault(
            kind="latency", latency_seconds=HELD_FOR,
            probability=rates.timeout, seed=seed + 2,
        )  # fmt: skip
        admin.add_fault(
            kind="fail_snapshot", api_method="compute.snapshots.insert",
            probability=rates.failed_insert, seed=seed + 3,
        )  # fmt: skip
        self.checker.baseline(read_shots(admin.snapshots()))

    def _create_disk(self, disk: DiskModel) -> None:
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        zone, region = (None, disk.location) if disk.regional else (disk.location, None)
        seeded = admin.seed_disk(
            disk.project, disk.name, zone=zone, region=region, labels=disk.labels
        )
        disk.id, disk.deleted = str(seeded["id"]), False

    def _seed_bystanders(self) -> None:
        """Unmanaged snapshots and pinned managed ones, on a twentieth of the disks: none
        may ever be deleted."""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        old = START - timedelta(days=400)
        for disk in self.fleet.disks[::20]:
            link = f"projects/{disk.project}/{'regions' if disk.regional else 'zones'}/"
            link += f"{disk.location}/disks/{disk.name}"
            admin.seed_snapshot(
                disk.project, f"by-hand-{disk.name}", source_disk=link,
                labels={"env": "prod"}, creation_timestamp=old,
            )  # fmt: skip
            admin.seed_snapshot(
                disk.project, f"pinned-{disk.name}", source_disk=link,
                creation_timestamp=old, source_disk_id=disk.id,
                labels={
                    "managed-by": "snapkeeper", "snapkeeper-disk-id": disk.id,
                    "snapkeeper-schedule": "daily", "snapkeeper-slot": "20260101-0300",
                    f"{PREFIX}keep": "true",
                },
            )  # fmt: skip

    def _start_workers(self, count: int) -> None:
        env = {**os.environ, **self.stack.env, "PYTHONPATH": str(REPO_ROOT)}
        for _ in range(count):
            self._worker_count += 1
            log = (self.logs / f"worker-{self._worker_count}.log").open("wb")
            self.workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "snapkeeper_local.chaos.worker",
                        self._sub(WORK_SUBSCRIPTION),
                        "--concurrency",
                        str(self.settings.concurrency),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def _signal_workers(self, sig: signal.Signals) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                kill_group(worker, sig)

    # -- one tick ----------------------------------------------------------------------------

    def _new_day(self, day: int) -> None:
        if day - 1 in self.days:
            self.say(self.days[day - 1].line(day - 1))
        self.days[day] = DayStats()
        if day == 0:
            return
        stats = self.days[day]
        for disk in self.fleet.disks:
            if disk.deleted and not disk.for_good:  # back: same name, a new id
                self._create_disk(disk)
                stats.faults["disk re-created"] += 1
            elif self._mutable(disk) and self.rng.random() < self.settings.rates.label_change:
                stats.faults[f"label {mutate_labels(self.rng, disk).split()[0]}"] += 1
                self._set_labels(disk)

    def _mutable(self, disk: DiskModel) -> bool:
        """Whether the soak may change the disk: one that exists, outside a project that
        refuses snapkeeper (the fake has one identity: it refuses the soak too)."""
        return not disk.deleted and disk.project not in (OUTSIDER, *self.revoked)

    def _set_labels(self, disk: DiskModel) -> None:
        compute = clients.compute(self.stack.compute.host)  # type: ignore[union-attr]
        if disk.regional:
            current = compute.region_disks.get(
                project=disk.project, region=disk.location, disk=disk.name, retry=OWN_RETRY
            )
            compute.region_disks.set_labels(
                project=disk.project, region=disk.location, resource=disk.name,
                region_set_labels_request_resource=compute_v1.RegionSetLabelsRequest(
                    labels=disk.labels, label_fingerprint=current.label_fingerprint
                ), retry=OWN_RETRY,
            )  # fmt: skip
        else:
            current = compute.disks.get(
                project=disk.project, zone=disk.location, disk=disk.name, retry=OWN_RETRY
            )
            compute.disks.set_labels(
                project=disk.project, zone=disk.location, resource=disk.name,
                zone_set_labels_request_resource=compute_v1.ZoneSetLabelsRequest(
                    labels=disk.labels, label_fingerprint=current.label_fingerprint
                ), retry=OWN_RETRY,
            )  # fmt: skip

    def _delete_disk(self, disk: DiskModel) -> None:
        compute = clients.compute(self.stack.compute.host)  # type: ignore[union-attr]
        if disk.regional:
            compute.region_disks.delete(
                project=disk.project, region=disk.location, disk=disk.name, retry=OWN_RETRY
            )
        else:
            compute.disks.delete(
                project=disk.project, zone=disk.location, disk=disk.name, retry=OWN_RETRY
            )
        disk.deleted = True
        self.gone.add(disk.id)

    def _expected(
        self, schedule: str, slot: str, projects: set[str] | None = None
    ) -> list[Expected]:
        found = []
        for disk in self.fleet.disks:
            keep = self.fleet.keep(disk, schedule)
            if keep is None or (projects is not None and disk.project not in projects):
                continue
            found.append(Expected(disk.id, disk.key, disk.project, schedule, slot, keep))
        return found

    def _tick(self, at: datetime, schedule: str, stats: DayStats) -> None:
        cron, zone = SCHEDULES[schedule]
        slot = slots.format_slot(slots.slot_for(at, cron, zone))
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        admin.set_clock(at)
        expected = self._expected(schedule, slot)
        gone_before = set(self.gone)
        hold = ""
        self._signal_workers(signal.SIGSTOP)  # hold the work between enumeration and snapshot
        try:
            tick = Tick(schedule, cron, zone, at)
            message_id = self.stack.publish_tick(tick)
            if self.rng.random() < self.settings.rates.duplicate:
                self.stack.publish_tick(tick)
                stats.faults["duplicate tick"] += 1
            wait_for(lambda: self.stack.tick_summary(message_id), 120, f"tick {schedule} {slot}")
            rates, disks = self.settings.rates, self.fleet.by_id()
            for item in expected:
                disk = disks.get(item.disk_id)
                if disk is None or disk.instance or not self._mutable(disk):
                    continue  # Compute refuses to delete an attached disk: only free ones go
                if self.rng.random() < rates.disk_deleted:
                    self._delete_disk(disk)
                    # Most come back the next day (a new id: the old one's are orphans).
                    disk.for_good = self.rng.random() < FOR_GOOD
                    stats.faults["disk deleted" + (" for good" if disk.for_good else "")] += 1
            stats.faults["duplicate work"] += self._duplicate_work()
            hold = self._hold_a_prune(expected) if self._kill_due else ""
        finally:
            self._signal_workers(signal.SIGCONT)
        if hold:
            self._kill_mid_prune(hold, stats)
        stats.ticks += 1
        self.disk_ticks += len(expected)
        self.say(f"{at:%Y-%m-%d %H:%M} {schedule}: {len(expected)} disks")
        self._settle_and_check(expected, stats, self.gone - gone_before, schedule)

    def _duplicate_work(self) -> int:
        """Publish again a share of the work messages the tick just queued."""
        chosen = [m for m in self._drain_tap() if self.rng.random() < self.settings.rates.duplicate]
        self._republish(chosen)
        return len(chosen)

    def _drain_tap(self) -> list[tuple[bytes, dict[str, str]]]:
        """The work messages published since the last drain (the tap subscription sees
        them all), each also kept by (disk id, schedule, slot)."""
        drained: list[tuple[bytes, dict[str, str]]] = []
        with _environment({"PUBSUB_EMULATOR_HOST": self.stack.emulator.host}):
            subscriber = SubscriberClient()
            while True:
                # Without return_immediately an empty pull holds on for its whole timeout.
                response = subscriber.pull(
                    subscription=self._sub(TAP_SUBSCRIPTION), max_messages=1000,
                    return_immediately=True, timeout=10,
                )  # fmt: skip
                if not response.received_messages:
                    return drained
                for received in response.received_messages:
                    data, attributes = received.message.data, dict(received.message.attributes)
                    self.unacked[received.message.message_id] = time.monotonic()
                    self.copies[received.message.message_id] = (data, attributes)
                    drained.append((data, attributes))
                subscriber.acknowledge(
                    subscription=self._sub(TAP_SUBSCRIPTION),
                    ack_ids=[r.ack_id for r in response.received_messages],
                )

    def _republish(self, messages: list[tuple[bytes, dict[str, str]]]) -> None:
        with _environment({"PUBSUB_EMULATOR_HOST": self.stack.emulator.host}):
            publisher = PublisherClient()
            topic = self.stack.config.topic_path(self.stack.config.work_topic)
            for data, attributes in messages:
                publisher.publish(topic, data, **attributes).result(30)

    def _recover_lost(self, stats: DayStats) -> None:
        """Pub/Sub redelivers a message whose lease ran out (a killed worker's). Should
        the emulator ever keep one for good, a message not acknowledged within
        LOST_AFTER is published again from the tap's copy, and counted, so the soak
        tests snapkeeper rather than the emulator (a copy is harmless: snapkeeper is
        idempotent). Runs since the workers' ack lines are written whole count none."""
        now = time.monotonic()
        lost = [m for m, seen in self.unacked.items() if now - seen > LOST_AFTER]
        for message_id in lost:
            del self.unacked[message_id]
        self._republish([self.copies[m] for m in lost])
        if lost:
            stats.faults["not acknowledged in time, published again"] += len(lost)

    def _read_acks(self) -> None:
        """Work message ids the workers have acknowledged (done, gone or dead-lettered),
        and how many deliveries asked for a retry; each log is read on from where the
        last look ended (they grow to tens of megabytes over a month)."""
        for path in sorted(self.logs.glob("worker-*.log")):
            with path.open("rb") as log:
                log.seek(self.log_offsets.get(path, 0))
                text = log.read()
            complete = text[: text.rfind(b"\n") + 1]
            self.log_offsets[path] = self.log_offsets.get(path, 0) + len(complete)
            self._retries_read += complete.count(RETRY_LINE)
            for line in complete.splitlines():
                if line.startswith(ACKED_LINE):
                    self.unacked.pop(line[len(ACKED_LINE) :].decode().strip(), None)
                elif DRILL_STATUS in line:
                    done = json.loads(line)
                    if done[DRILL_STATUS.decode()] == "OK":
                        self._drilled.append(done)
                elif DEFERRED_FIELD in line:
                    done = json.loads(line)
                    series = (str(done["disk_id"]), done["schedule"])
                    count = int(done[DEFERRED_FIELD.decode()])
                    self._deferred[series] = max(self._deferred.get(series, 0), count)

    def _settle_and_check(
        self, expected: list[Expected], stats: DayStats, gone: set[str], ticked: str | None = None
    ) -> Round:
        """Wait until the round's messages are all acknowledged and its slots resolved,
        then check; `ticked`: the schedule the round's tick enumerated (orphans too)."""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        untouchable = {
            d.id for d in self.fleet.disks
            if d.id and all(self.fleet.keep(d, s) is None for s in SCHEDULES)
        }  # fmt: skip
        round_ = Round(expected, set(), set(), gone, untouchable, orphan_schedule=ticked)
        round_.keep_now = {(e.disk_id, e.schedule): e.keep for e in expected}

        started = said = time.monotonic()
        final: list[dict[str, Shot] | None] = [None]

        def settled() -> bool:
            nonlocal said
            self._drain_tap()
            self._read_acks()
            self._read_letters(round_)
            now = time.monotonic()
            patience_out = now - started > PATIENCE and now - said > PATIENCE_EVERY
            waiting: list[Expected] = []
            # Listing every snapshot costs the fake most: only once the messages are done
            # (then the listing that finds nothing waiting is the one checked).
            if not self.unacked or patience_out:
                final[0] = listed = read_shots(admin.snapshots())
                waiting = unresolved(expected, listed, round_, self.gone)
            busy = bool(waiting or self.unacked)
            if busy:
                self._recover_lost(stats)
            if busy and patience_out:
                said = now
                names = ", ".join(f"{e.disk} {e.schedule}" for e in waiting[:5])
                pending = [json.loads(self.copies[m][0]) for m in list(self.unacked)[:3]]
                messages = ", ".join(f"{p['disk']} {p['schedule']} {p['slot']}" for p in pending)
                self.say(
                    f"  still waiting for {len(waiting)} slots ({names}), "
                    f"{len(self.unacked)} messages ({messages})"
                )
            return not busy

        try:
            wait_for(settled, SETTLE_TIMEOUT, "every disk of the tick to settle", SETTLE_POLL)
            shots = final[0] or read_shots(admin.snapshots())
        except TimeoutError as exc:
            self.violations.append(Violation("every tick settles", str(exc)))
            shots = read_shots(admin.snapshots())
        before = self.checker.before
        round_.deferred, self._deferred = self._deferred, {}
        found = self.checker.check(shots, round_)
        stats.created += sum(1 for r, s in shots.items() if r not in before and s.managed)
        stats.pruned += sum(1 for r, s in before.items() if r not in shots and s.managed)
        stats.redeliveries += self._redeliveries()
        stats.violations += len(found)
        self.violations += found
        self.all_expected += expected
        self.pending += [
            e for e in expected
            if (e.disk_id, e.schedule, e.slot) in round_.work_letters
            or (e.project, e.schedule, e.slot) in round_.project_letters
        ]  # fmt: skip
        return round_

    def _read_letters(self, round_: Round) -> None:
        letters = self.stack.dead_letters()
        fresh = letters[self.letters_seen :]
        if not fresh:
            return
        self.letters_seen = len(letters)
        day = max(self.days)
        self.days[day].dead_letters += len(fresh)
        self.violations += letter_violations(fresh)
        for letter in fresh:
            body = letter["payload"]
            if body.get("kind") == DRILL_KIND:  # a drill's, or a drill tick's project
                round_.drill_letters += 1
            elif "disk_id" in body:
                round_.work_letters.add((str(body["disk_id"]), body["schedule"], body["slot"]))
            elif body.get("projects") and body.get("time"):
                cron, zone = body.get("cron"), body.get("time_zone")
                slot = slots.format_slot(slots.slot_for(slots.parse_time(body["time"]), cron, zone))
                for project in body["projects"]:
                    round_.project_letters.add((project, body["schedule"], slot))

    def _redeliveries(self) -> int:
        self._read_acks()
        counted, self._retries_read = self._retries_read, 0
        return counted

    # -- the one-off faults ------------------------------------------------------------------

    def _drill(self, at: datetime, stats: DayStats) -> None:
        """A drill tick through the enumerator: the disks it picks are restored to
        scratch disks, measured, cleaned up, their snapshots labelled. Then no scratch
        disk may be left (but of a drill dead-lettered this round: the next drill sweeps
        it), and each drilled snapshot carries its label."""
        message_id = self.stack.publish(self.stack.config.tick_topic, DrillTick(time=at).to_json())
        slot = None
        with contextlib.suppress(TimeoutError):  # retried to a dead letter: checked below
            slot = wait_for(lambda: self.stack.tick_summary(message_id), 120, "a drill")["slot"]
        stats.faults["drill tick"] += 1
        round_ = self._settle_and_check([], stats, set())
        drilled, self._drilled = self._drilled, []
        self.say(f"{at:%Y-%m-%d %H:%M} drill: {len(drilled)} restored")
        found = []
        if slot is None and not round_.drill_letters:
            found.append(Violation("a drill tick ends in a summary or a dead letter", f"{at}"))
        compute = clients.compute(self.stack.compute.host)  # type: ignore[union-attr]
        for disk in compute.disks.list(project=SCRATCH, zone=SCRATCH_ZONE, retry=OWN_RETRY):
            if not round_.drill_letters or disk.labels.get(DRILL_SCRATCH) != slot:
                found.append(Violation("no scratch disk left by a drill", disk.name))
        for done in drilled:
            shot = self.checker.before.get(f"{done['snapshot_project']}/{done['snapshot']}")
            if shot and shot.labels.get(DRILLED) != done["drilled"]:
                found.append(Violation("a drilled snapshot is labelled", shot.ref))
        stats.violations += len(found)
        self.violations += found

    def _quota_below_demand(self, at: datetime, schedule: str, stats: DayStats) -> None:
        """One tick under a write quota below its demand: the writes it refuses are
        paced and re-queued (the checker: no dead letter for the rate quota), the
        deletes deferred to the next tick."""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        admin.set_quotas(writes_per_minute=TIGHT_WRITES_PER_MINUTE)
        stats.faults["write quota below demand"] += 1
        try:
            self._tick(at, schedule, stats)
        finally:
            admin.set_quotas(writes_per_minute=None)

    def _unreachable_zone(self, stats: DayStats) -> None:
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        project = self.fleet.projects[0]
        zone = next(d.location for d in self.fleet.disks if d.project == project and not d.regional)
        admin.add_fault(
            kind="unreachable", scope=f"zones/{zone}",
            path_regex=f"/projects/{project}/aggregated/disks", count=1,
        )  # fmt: skip
        stats.faults["zone unreachable"] += 1

    def _revoke_permission(self, stats: DayStats) -> None:
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        admin.seed_project(self.fleet.projects[1], accessible=False)
        self.revoked.add(self.fleet.projects[1])
        stats.faults["permission lost"] += 1

    def _restore_permission(self, stats: DayStats) -> None:
        """Give the permission back, then replay every dead letter with the CLI."""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        admin.seed_project(self.fleet.projects[1], accessible=True)
        self.revoked.discard(self.fleet.projects[1])
        stats.faults["permission restored"] += 1
        self._replay(stats)

    def _replay(self, stats: DayStats) -> None:
        pending, self.pending = self.pending, []
        if not pending:
            return
        self._cli("dlq", "replay", "--all")
        stats.faults["dead letters replayed"] += len(pending)
        self._settle_and_check(self._still_due(pending), stats, set())

    def _still_due(self, slots_: list[Expected]) -> list[Expected]:
        """The slots a replay must still fill, with N as the disk is labelled now (a
        replayed message reads the disk). A disk deleted since, or no longer in the
        schedule (excluded, its label removed), ends its replay "gone" or "skipped",
        which is right: it is not due."""
        disks = self.fleet.by_id()
        due = []
        for e in slots_:
            disk = disks.get(e.disk_id)
            if disk is None or e.disk_id in self.gone:
                continue
            keep = self.fleet.keep(disk, e.schedule)
            if keep is not None:
                due.append(dataclasses.replace(e, keep=keep))
        return due

    def _catch_up(self, at: datetime, schedule: str, stats: DayStats) -> None:
        """The lost tick, caught up with `snapkeeper tick --at`."""
        cron, zone = SCHEDULES[schedule]
        slot = slots.format_slot(slots.slot_for(at, cron, zone))
        self._cli("tick", schedule, "--at", at.isoformat())
        stats.faults["tick caught up"] += 1
        self._settle_and_check(self._expected(schedule, slot), stats, set(), schedule)

    def _hold_a_prune(self, expected: list[Expected]) -> str:
        """If this tick prunes (a series already holds N), a fault rule that holds its
        first delete; its id, or "" to try again at a later tick."""
        held = Counter(
            shot.series
            for shot in self.checker.before.values()
            if shot.managed and not shot.pinned and shot.status == "READY"
        )
        if not any(held[(e.disk_id, e.schedule)] >= e.keep for e in expected):
            return ""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        return admin.add_fault(
            kind="latency", api_method="compute.snapshots.delete", latency_seconds=5, count=1
        )

    def _kill_mid_prune(self, rule: str, stats: DayStats) -> None:
        """SIGKILL the workers while a delete hangs, and start new ones: the messages they
        held come back once their leases run out."""
        admin = self.stack.compute.admin  # type: ignore[union-attr]

        def holding() -> bool:
            return any(f["id"] == rule and f["fired"] for f in admin.faults())

        wait_for(holding, 120, "a prune to reach its delete", interval=0.05)
        self._signal_workers(signal.SIGKILL)
        for worker in self.workers:
            worker.wait(timeout=30)
        self.workers, self._kill_due = [], False
        self._start_workers(self.settings.workers)
        stats.faults["worker killed mid-prune"] += 1

    def _cli(self, *args: str) -> None:
        command = [str(Path(sys.executable).with_name("snapkeeper")), *args]
        env = {**os.environ, **self.stack.env}
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            self.violations.append(
                Violation("the CLI works", f"{' '.join(args)}: {result.stderr.strip()}")
            )

    def _final_catch_up(self) -> None:
        """Faults off, every dead letter replayed, then no slot missing. Compute takes
        one snapshot of a disk per 10 minutes, so a disk with k missed slots needs k
        replay rounds, 10 minutes apart: the clock moves on between rounds."""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        admin.clear_faults()
        stats = self.days[max(self.days)]
        for _ in range(FINAL_REPLAY_ROUNDS):
            if not self.pending:
                break
            admin.advance_clock(RATE_LIMIT_SECONDS + 60)
            self._replay(stats)
        missing = [
            e for e in self._still_due(self.all_expected)
            if (e.disk_id, e.schedule, e.slot) not in self.checker.ever_ready
        ]  # fmt: skip
        for e in missing[:20]:
            self.violations.append(
                Violation(
                    "no slot missing after replay and catch-up", f"{e.disk} {e.schedule} {e.slot}"
                )
            )

    def _context(self) -> str:
        """The fake's requests for the first violation's disks (the fleet names them
        disk-NNNNN), else its last ones, and where the workers' logs are kept."""
        if not self.violations:
            return ""
        admin = self.stack.compute.admin  # type: ignore[union-attr]
        try:
            entries = admin.requests()
        except Exception as exc:  # the stack may be gone already
            return f"(request log unavailable: {exc})"
        disks = set(DISK_NAME.findall(self.violations[0].detail))
        related = [e for e in entries if disks and set(DISK_NAME.findall(e["path"])) & disks]
        lines = [
            f"{e['time']} {e['status']} {e['method']} {e['path']}"
            for e in (related or entries)[-CONTEXT_REQUESTS:]
        ]
        kept = f"the workers' logs (JSON lines) and {EMULATOR_LOG} are kept in {self.logs}"
        return "\n".join([*lines, kept])


def one_offs(ticks: int) -> dict[str, int]:
    """Where in the run each one-off fault happens (by tick index): spread over it, one
    at a time, the permission lost for a day (or a tick, in a short run). The write
    quota goes below demand at the first hourly tick from its index on."""
    if ticks < 10:
        return {}
    plan: dict[str, int] = {}
    day = max(1, ticks // 30)
    for name, fraction in (("unreachable", 0.1), ("kill", 0.2), ("revoke", 0.3)):
        plan[name] = max(int(ticks * fraction), max(plan.values(), default=0) + 1)
    plan["restore"] = plan["revoke"] + day
    plan["quota"] = max(int(ticks * 0.45), plan["restore"] + 1)
    plan["lost"] = max(int(ticks * 0.6), plan["quota"] + 2)
    plan["catch_up"] = plan["lost"] + 2
    return plan

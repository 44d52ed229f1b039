"""Both functions in process, through functions-framework's test client, with golden
envelopes (tests/data/envelopes) and the fake Compute Engine: every row of the README's
outcome table, on a machine without Java.

Pub/Sub is the one part played by a stand-in here: a recording publisher takes what
the functions publish (work messages, dead letters, retry ticks). The same rows run
through the real emulator in tests/e2e.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from snapkeeper import clients
from snapkeeper.messages import Tick, WorkItem
from snapkeeper.naming import SnapshotKey, snapshot_name
from snapkeeper_local.compute import ComputeAdmin
from tests.support_snapshots import seed_managed_snapshot

ROOT = Path(__file__).parents[2]
ENVELOPES = ROOT / "tests" / "data" / "envelopes"
HOST = "snapkeeper-host"
PROJECT = "prod-app-1"
ZONE = "us-central1-a"
SLOT = "20270301-0300"
WORK_TOPIC = f"projects/{HOST}/topics/snapkeeper-work"
TICK_TOPIC = f"projects/{HOST}/topics/snapkeeper-ticks"
DEAD_LETTER_TOPIC = f"projects/{HOST}/topics/snapkeeper-dead-letter"


@dataclass
class Published:
    topic: str
    data: bytes
    attributes: dict[str, str]

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.data)  # type: ignore[no-any-return]


@dataclass
class RecordingPublisher:
    """Takes what the functions publish, as PublisherClient.publish does (a future)."""

    messages: list[Published] = field(default_factory=list)

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future[str]:
        self.messages.append(Published(topic, data, attributes))
        future: Future[str] = Future()
        future.set_result(str(len(self.messages)))
        return future

    def on(self, topic: str) -> list[Published]:
        return [m for m in self.messages if m.topic == topic]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> RecordingPublisher:
    recorder = RecordingPublisher()
    monkeypatch.setattr(clients, "publisher", lambda host: recorder)
    return recorder


@pytest.fixture
def env(fake_compute: ComputeAdmin, monkeypatch: pytest.MonkeyPatch) -> ComputeAdmin:
    for key, value in {
        "GOOGLE_CLOUD_PROJECT": HOST,
        "TARGET_PROJECTS": f"{PROJECT},prod-db-2",
        "COMPUTE_EMULATOR_HOST": fake_compute.host,
        "MAX_DELIVERY_ATTEMPTS": "5",
        "READY_WAIT_SECONDS": "5",
        "SNAPSHOT_MAX_INSTANCES": "1",  # one process: the whole write quota is its share
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("SNAPSHOT_PROJECT", raising=False)
    fake_compute.configure(creating_seconds=0.2, uploading_seconds=0.2, wait_seconds=0.5)
    fake_compute.seed_project(PROJECT)
    return fake_compute


def _client(directory: str, target: str) -> FlaskClient:
    source = ROOT / "functions" / directory / "main.py"
    return functions_framework.create_app(target, str(source)).test_client()


@pytest.fixture(scope="module")
def snapshot_fn() -> Iterator[FlaskClient]:
    yield _client("snapshot", "snapshot_disk")


@pytest.fixture(scope="module")
def enumerator_fn() -> Iterator[FlaskClient]:
    yield _client("enumerator", "enumerate_disks")


def envelope(name: str, payload: bytes | None = None, attempt: int | None = None) -> Any:
    golden = json.loads((ENVELOPES / f"{name}.json").read_text())
    request = deepcopy(golden)
    text = json.dumps(request["body"])
    if payload is not None:
        text = text.replace('"DATA"', json.dumps(base64.b64encode(payload).decode()))
    request["body"] = json.loads(text)
    if attempt is not None:
        data = request["body"].get("data", request["body"])
        data["deliveryAttempt"] = attempt
    return request


def deliver(client: FlaskClient, request: dict[str, Any]) -> int:
    response = client.post(
        request["path"], headers=request["headers"], data=json.dumps(request["body"])
    )
    return response.status_code


def work(disk: dict[str, Any], **changes: Any) -> bytes:
    item = WorkItem(PROJECT, ZONE, False, disk["name"], disk["id"], "daily", SLOT, keep=2)
    body = json.loads(item.to_json()) | changes
    return json.dumps(body).encode()


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


DAILY = {"snapshot-daily": "2"}
DAILY_TICK = Tick("daily", "0 3 * * *", "Etc/UTC")


@dataclass(frozen=True)
class Harness:
    """Both functions in process, the fake Compute Engine behind them, and what they
    publish and log: what each test here delivers through and looks at."""

    compute: ComputeAdmin
    published: RecordingPublisher
    snapshot_fn: FlaskClient
    enumerator_fn: FlaskClient
    capsys: pytest.CaptureFixture[str]

    def disk(self, name: str = "web-data", labels: dict[str, str] | None = None) -> dict[str, Any]:
        """A disk of PROJECT in ZONE, labelled for the daily schedule unless told otherwise."""
        return self.compute.seed_disk(
            PROJECT, name, zone=ZONE, labels=DAILY if labels is None else labels
        )

    def failing_insert(self, count: int | None = 1, **fault: Any) -> None:
        """The next `count` snapshots.insert calls (all of them, given None) meet `fault`."""
        self.compute.add_fault(api_method="compute.snapshots.insert", count=count, **fault)

    def snapshot(
        self, payload: bytes, attempt: int | None = None, shape: str = "eventarc-binary"
    ) -> int:
        """Deliver `payload` to the snapshot function; the HTTP status it answers."""
        return deliver(self.snapshot_fn, envelope(shape, payload, attempt))

    def tick(self, payload: bytes | None = None, attempt: int | None = None) -> int:
        """Deliver a tick (the daily one unless told) to the enumerator; its HTTP status."""
        data = DAILY_TICK.to_json() if payload is None else payload
        return deliver(self.enumerator_fn, envelope("eventarc-binary", data, attempt))

    def dead_letters(self) -> list[Published]:
        return self.published.on(DEAD_LETTER_TOPIC)

    def work_messages(self) -> list[Published]:
        return self.published.on(WORK_TOPIC)

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines since the last read."""
        return log_lines(self.capsys)

    def actions(self) -> list[dict[str, Any]]:
        """The log lines (since the last read) that say what was done with a message."""
        return [e for e in self.logs() if e.get("action")]

    def logged(self, start: str) -> list[dict[str, Any]]:
        """The log lines (since the last read) whose message starts with `start`."""
        return [e for e in self.logs() if e["message"].startswith(start)]


@pytest.fixture
def harness(
    env: ComputeAdmin,
    published: RecordingPublisher,
    snapshot_fn: FlaskClient,
    enumerator_fn: FlaskClient,
    capsys: pytest.CaptureFixture[str],
) -> Harness:
    return Harness(env, published, snapshot_fn, enumerator_fn, capsys)


@pytest.mark.parametrize("shape", ["eventarc-binary", "structured-cloudevent", "emulator-push"])
def test_done_a_snapshot_made_ready_through_each_envelope_shape(
    shape: str, harness: Harness
) -> None:
    disk = harness.disk()

    assert harness.snapshot(work(disk), shape=shape) == 200

    [line] = harness.actions()
    assert (line["action"], line["snapshot_status"]) == ("created", "READY")
    assert (line["project"], line["zone"], line["disk"]) == (PROJECT, ZONE, "web-data")
    assert [s["status"] for s in harness.compute.snapshots()] == ["READY"]
    assert harness.published.messages == []
    # A redelivery is done as well, and makes nothing new.
    assert harness.snapshot(work(disk), shape=shape) == 200
    assert [e["action"] for e in harness.actions()] == ["exists"]
    assert len(harness.compute.snapshots()) == 1


def test_gone_a_deleted_disk_is_acknowledged_and_logged(harness: Harness) -> None:
    vanished = {"name": "vanished", "id": "123456"}

    assert harness.snapshot(work(vanished)) == 200

    [line] = harness.actions()
    assert line["action"] == "gone" and line["severity"] == "INFO"
    assert harness.published.messages == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": 400, "reason": "resourceNotReady"},
        {"kind": "fail_snapshot", "reason": "RESOURCE_OPERATION_RATE_EXCEEDED"},
    ],
)
def test_transient_errors_ask_for_redelivery_and_publish_nothing(
    fault: dict[str, Any], harness: Harness
) -> None:
    disk = harness.disk()
    harness.failing_insert(**fault)

    assert harness.snapshot(work(disk), attempt=1) == 500

    assert harness.published.messages == []
    [retry] = harness.logged("will retry")
    assert retry["severity"] == "WARNING" and retry["disk"] == "web-data"


RATE_LIMITS = [
    {"status": 429, "reason": "rateLimitExceeded"},
    {
        "status": 403,
        "reason": "rateLimitExceeded",
        "domain": "usageLimits",
        "error_info": "RATE_LIMIT_EXCEEDED",
    },
    {"status": 403, "reason": "forbidden", "error_info": "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED"},
]


@pytest.mark.parametrize("fault", RATE_LIMITS)
def test_a_rate_limited_write_is_requeued_with_a_fresh_attempt_budget(
    fault: dict[str, Any], harness: Harness
) -> None:
    disk = harness.disk()
    harness.failing_insert(**fault)

    # Even on the last attempt: the quota is not the message's fault.
    assert harness.snapshot(work(disk), attempt=5) == 200

    assert harness.dead_letters() == []
    [again] = harness.work_messages()
    assert again.data == work(disk)
    assert again.attributes["requeues"] == "1" and again.attributes["not_before"]
    [line] = harness.logged("re-queued")
    assert line["severity"] == "INFO" and line["disk"] == "web-data"
    # The re-queued message, delivered afresh, makes the snapshot.
    request = envelope("eventarc-binary", again.data, attempt=1)
    request["body"]["message"]["attributes"] = again.attributes
    assert deliver(harness.snapshot_fn, request) == 200
    assert [s["status"] for s in harness.compute.snapshots()] == ["READY"]


def test_work_requeued_too_often_is_dead_lettered_saying_so(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_REQUEUES", "3")
    disk = harness.disk()
    harness.failing_insert(**RATE_LIMITS[0])
    request = envelope("eventarc-binary", work(disk), attempt=1)
    request["body"]["message"]["attributes"] = {"requeues": "3"}

    assert deliver(harness.snapshot_fn, request) == 200

    assert harness.work_messages() == []
    [letter] = harness.dead_letters()
    assert letter.attributes["error_class"] == "RateLimited"
    assert "after 3 re-queues (MAX_REQUEUES)" in letter.attributes["error"]


def test_last_attempt_a_transient_error_is_dead_lettered_with_it(harness: Harness) -> None:
    disk = harness.disk()
    harness.failing_insert(count=None, status=503)

    assert harness.snapshot(work(disk), attempt=5) == 200

    [letter] = harness.dead_letters()
    assert letter.attributes["attempts"] == "5" and "503" in letter.attributes["error"]
    assert letter.body["disk_id"] == disk["id"]  # the original payload


@pytest.mark.parametrize(
    ("setup", "error_class", "says"),
    [
        ("forbidden", "ComputeError", "403"),
        ("quota", "ComputeError", "QUOTA_EXCEEDED"),
        ("outsider", "NotAllowed", "TARGET_PROJECTS"),
        ("collision", "NameCollision", "already exists"),
    ],
)
def test_permanent_errors_are_dead_lettered_at_once(
    setup: str, error_class: str, says: str, harness: Harness
) -> None:
    compute = harness.compute
    disk = harness.disk()
    payload = work(disk)
    if setup == "forbidden":
        harness.failing_insert(count=None, status=403, reason="forbidden")
    elif setup == "quota":
        compute.add_fault(
            kind="fail_snapshot", reason="QUOTA_EXCEEDED", message="Quota 'SNAPSHOTS'"
        )
    elif setup == "outsider":
        payload = work(disk, project="not-allowed-9")
    else:  # a stranger's snapshot under the name this disk's slot gets
        key = SnapshotKey(PROJECT, ZONE, disk["id"], "web-data", "daily", SLOT)
        compute.seed_snapshot(PROJECT, snapshot_name(key), source_disk=disk["selfLink"])

    assert harness.snapshot(payload, attempt=1) == 200

    [letter] = harness.dead_letters()
    assert letter.attributes["error_class"] == error_class
    assert says in letter.attributes["error"]
    assert letter.attributes["function"] == "snapshot_disk"
    assert letter.attributes["attempts"] == "1"


def test_a_404_that_is_not_the_disk_is_a_dead_letter_at_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The vault project does not exist: no redelivery brings it back, and a delivery
    # without an attempt number (the emulator's push) must not retry it for ever.
    monkeypatch.setenv("SNAPSHOT_PROJECT", "vault-gone-1")
    disk = harness.disk()

    assert harness.snapshot(work(disk), attempt=None) == 200

    [letter] = harness.dead_letters()
    assert letter.attributes["error_class"] == "ComputeError"
    assert "404" in letter.attributes["error"] and "vault-gone-1" in letter.attributes["error"]


@pytest.mark.parametrize(
    ("golden", "says"),
    [
        ("bad-base64", "not base64"),
        ("no-message", "no Pub/Sub 'message'"),
        ("work-missing-fields", "disk_id"),
        ("work-unknown-fields", "keep_forever"),
    ],
)
def test_malformed_messages_are_dead_lettered_with_the_reason(
    golden: str, says: str, harness: Harness
) -> None:
    document = json.loads((ENVELOPES / f"{golden}.json").read_text())
    if "payload" in document:
        request = envelope("structured-cloudevent", json.dumps(document["payload"]).encode())
    else:
        request = envelope(golden)

    assert deliver(harness.snapshot_fn, request) == 200

    [letter] = harness.dead_letters()
    assert letter.attributes["error_class"] == "InvalidMessage"
    assert says in letter.attributes["error"]
    assert harness.compute.counts() == {}  # nothing reached Compute


def test_a_tick_publishes_one_work_message_per_labelled_disk(harness: Harness) -> None:
    harness.disk()
    harness.disk("scratch", labels={})
    harness.compute.seed_project("prod-db-2", accessible=False)

    assert harness.tick() == 200

    [item] = harness.work_messages()
    assert (item.body["disk"], item.body["slot"]) == ("web-data", SLOT)
    # The project it may not read: a dead letter of a tick for that project alone.
    [letter] = harness.dead_letters()
    assert letter.body["projects"] == ["prod-db-2"] and letter.body["time"]
    assert "403" in letter.attributes["error"]


def test_an_unreachable_zone_is_retried_as_a_tick_for_that_project_alone(
    harness: Harness,
) -> None:
    compute = harness.compute
    compute.seed_project("prod-db-2")
    harness.disk()
    compute.seed_disk("prod-db-2", "pg-data", zone=ZONE, labels=DAILY)
    compute.add_fault(kind="unreachable", scope=f"zones/{ZONE}", path_regex=PROJECT)

    assert harness.tick() == 200

    assert [m.body["disk"] for m in harness.work_messages()] == ["pg-data"]
    [retry] = harness.published.on(TICK_TOPIC)
    assert retry.body["projects"] == [PROJECT] and retry.body["time"].startswith("2027-03-01")
    assert harness.dead_letters() == []

    # That retry tick, while the zone stays unreachable: redelivered, then dead-lettered.
    assert harness.tick(retry.data, attempt=1) == 500
    assert harness.tick(retry.data, attempt=5) == 200
    [letter] = harness.dead_letters()
    assert letter.body == retry.body and f"unreachable: zones/{ZONE}" in letter.attributes["error"]


def test_a_brake_on_pruning_is_logged_at_warning_with_what_it_holds_back(
    harness: Harness,
) -> None:
    disk = harness.disk(labels={"snapshot-daily": "1"})
    for day in range(1, 7):  # N was 6; the label says 1 now
        taken = datetime(2027, 2, day, 3, 0, tzinfo=UTC)
        seed_managed_snapshot(harness.compute, PROJECT, f"old-{day}", disk, taken)

    assert harness.snapshot(work(disk, keep=6)) == 200

    lines = harness.logs()
    [brake] = [e for e in lines if e["message"].startswith("pruning held back")]
    assert brake["severity"] == "WARNING" and "MAX_DELETES_PER_RUN" in brake["message"]
    assert sorted(brake["held_back"]) == ["old-4", "old-5", "old-6"]
    assert sorted(brake["deleted"]) == ["old-1", "old-2", "old-3"]
    [done] = [e for e in lines if e.get("action")]
    assert done["severity"] == "INFO" and done["snapshot_status"] == "READY"
    assert (done["wanted"], done["held"], done["held_back"]) == (1, 4, 3)


def test_a_disk_that_left_the_schedule_is_acknowledged_and_says_why(harness: Harness) -> None:
    disk = harness.disk(labels={"env": "prod"})

    assert harness.snapshot(work(disk)) == 200

    [line] = harness.actions()
    assert line["action"] == "skipped" and line["severity"] == "INFO"
    assert "no longer carries snapshot-daily" in line["reason"]
    assert "snapshot_status" not in line and harness.compute.snapshots() == []
    assert harness.published.messages == []


def test_a_ticks_options_travel_with_each_work_message(harness: Harness) -> None:
    harness.disk(labels={"snapshot-monthly": "2"})
    tick = b'{"schedule": "monthly", "cron": "0 3 1 * *", "time_zone": "Etc/UTC", '
    tick += b'"options": {"type": "ARCHIVE", "max-age": "400d"}}'

    assert harness.tick(tick) == 200

    [item] = harness.work_messages()
    assert item.body["options"] == {"type": "ARCHIVE", "max-age": "400d"}


def test_a_tick_with_an_unknown_option_is_dead_lettered_at_once(harness: Harness) -> None:
    harness.disk()
    tick = b'{"schedule": "daily", "options": {"keep-forever": "true"}}'

    assert harness.tick(tick, attempt=1) == 200

    [letter] = harness.dead_letters()
    assert letter.attributes["error_class"] == "OptionError"
    assert "unknown option 'keep-forever'" in letter.attributes["error"]
    assert harness.work_messages() == [] and harness.compute.counts() == {}


def test_a_deleted_disks_orphans_go_through_their_own_message(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORPHAN_POLICY", "max-age:30d")
    gone = harness.disk("gone-data", labels={"snapshot-daily": "9"})
    tick_time = datetime.strptime(SLOT, "%Y%m%d-%H%M").replace(tzinfo=UTC)
    for day in (10, 40, 50):
        taken = tick_time - timedelta(days=day)
        seed_managed_snapshot(harness.compute, PROJECT, f"gone-data-{day}", gone, taken)
    client = clients.compute(harness.compute.host).disks
    client.delete(project=PROJECT, zone=ZONE, disk="gone-data").result(timeout=10)

    assert harness.tick() == 200

    [orphan] = harness.work_messages()
    assert orphan.attributes["kind"] == orphan.body["kind"] == "orphans"
    assert (orphan.body["disk"], orphan.body["disk_id"]) == ("gone-data", gone["id"])
    assert harness.snapshot(orphan.data) == 200
    [line] = harness.actions()
    assert line["action"] == "orphans" and line["kind"] == "orphans"
    assert sorted(line["deleted"]) == ["gone-data-40", "gone-data-50"]
    assert [s["name"] for s in harness.compute.snapshots()] == ["gone-data-10"]


# -- a tick far above the project's write quota -------------------------------------------
# The enumerator's work is delivered by several threads at once, as Pub/Sub would (a failed
# delivery comes back with the next attempt number, a re-queued message as a new one).
# Every disk ends with its READY snapshot and nothing is dead-lettered: rate-limited work
# is paced and re-queued instead of spending its delivery attempts.

DISKS = 24
WRITES_PER_MINUTE = 12  # of the fake clock: a quota far below what 8 threads ask for
TIME_SCALE = 30.0  # so one fake minute is two real seconds
THREADS = 8
MAX_ROUNDS = 400


@pytest.fixture
def over_quota(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Harness:
    harness.compute.configure(time_scale=TIME_SCALE)
    harness.compute.set_quotas(PROJECT, writes_per_minute=WRITES_PER_MINUTE)
    # The function's settings are in real time: the quota as the scaled clock spends it.
    monkeypatch.setenv("COMPUTE_WRITE_QUOTA_PER_MINUTE", str(int(WRITES_PER_MINUTE * TIME_SCALE)))
    monkeypatch.setenv("TARGET_PROJECTS", PROJECT)
    monkeypatch.setenv("PACE_MAX_WAIT_SECONDS", "1")
    monkeypatch.setenv("MAX_DELIVERY_ATTEMPTS", "5")
    for i in range(DISKS):
        harness.disk(f"disk-{i:02d}")
    return harness


def _delivery(data: bytes, attributes: dict[str, str], attempt: int) -> dict[str, object]:
    request = envelope("structured-cloudevent", data, attempt=attempt)
    request["body"]["data"]["message"]["attributes"] = dict(attributes)
    return request  # type: ignore[no-any-return]


def test_a_tick_above_the_write_quota_snapshots_every_disk_without_a_dead_letter(
    over_quota: Harness,
) -> None:
    published = over_quota.published
    assert over_quota.tick() == 200
    pending = deque((m.data, m.attributes, 1) for m in over_quota.work_messages())
    assert len(pending) == DISKS
    read = len(published.messages)
    requeued = 0
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(MAX_ROUNDS):
            if not pending:
                break
            batch = [pending.popleft() for _ in range(min(THREADS, len(pending)))]
            statuses = pool.map(lambda m: deliver(over_quota.snapshot_fn, _delivery(*m)), batch)
            for (data, attributes, attempt), status in zip(batch, statuses, strict=True):
                if status != 200:  # Pub/Sub's redelivery, one attempt on
                    pending.append((data, attributes, attempt + 1))
            for message in published.messages[read:]:
                if message.topic == WORK_TOPIC:  # re-queued: a new message
                    pending.append((message.data, message.attributes, 1))
                    requeued += 1
            read = len(published.messages)
    assert not pending

    assert over_quota.dead_letters() == []
    snapshots = over_quota.compute.snapshots()
    assert sorted(s["sourceDisk"].rsplit("/", 1)[-1] for s in snapshots) == [
        f"disk-{i:02d}" for i in range(DISKS)
    ]
    assert {s["status"] for s in snapshots} == {"READY"}
    # The quota did refuse writes (or the pacer kept them back): pacing was exercised.
    assert over_quota.compute.quotas()["refused"].get("global_write", 0) + requeued > 0


def test_the_quota_guard_refuses_new_snapshots_in_a_nearly_full_project(
    harness: Harness,
) -> None:
    compute = harness.compute
    first = harness.disk()
    second = harness.disk("logs")
    compute.set_quotas(PROJECT, snapshots=10)
    for i in range(9):  # 90%: the default threshold
        compute.seed_snapshot(PROJECT, f"other-{i}", source_disk=first["selfLink"])

    for disk in (first, second):
        assert harness.snapshot(work(disk), attempt=1) == 200

    letters = harness.dead_letters()
    assert [letter.body["disk"] for letter in letters] == ["web-data", "logs"]
    for letter in letters:
        assert letter.attributes["error_class"] == "QuotaExhausted"
        assert "holds 9 snapshots of its SNAPSHOTS quota of 10" in letter.attributes["error"]
    errors = [e for e in harness.logs() if e["severity"] == "ERROR"]
    assert [e["error_class"] for e in errors] == ["QuotaExhausted", "QuotaExhausted"]
    assert compute.counts()["compute.projects.get"] == 1  # once per tick and project
    assert "compute.snapshots.insert" not in compute.counts()


def test_below_the_guard_threshold_snapshots_are_taken(harness: Harness) -> None:
    disk = harness.disk()
    harness.compute.set_quotas(PROJECT, snapshots=10)
    for i in range(8):
        harness.compute.seed_snapshot(PROJECT, f"other-{i}", source_disk=disk["selfLink"])

    assert harness.snapshot(work(disk), attempt=1) == 200

    assert harness.published.messages == []
    assert len(harness.compute.snapshots()) == 9


# -- a fresh first delivery: the enumerator's labels, the insert first -------------------

POLLS = frozenset({"compute.globalOperations.wait", "compute.globalOperations.get"})


def fresh(
    disk: dict[str, Any],
    keep: int = 2,
    read: timedelta = timedelta(seconds=5),
    until: timedelta | None = None,
) -> bytes:
    """A work message as the enumerator publishes it: the disk's labels, read `read` ago,
    standing for the disk's until `until` from now (None: the field left out)."""
    now = datetime.now(UTC)
    changes = {"labels_read_at": (now - read).isoformat()}
    if until is not None:
        changes["labels_fresh_until"] = (now + until).isoformat()
    return work(disk, keep=keep, disk_labels=disk["labels"], **changes)


def seed_managed(env: ComputeAdmin, disk: dict[str, Any], days: range) -> None:
    """Earlier READY snapshots of the disk's daily schedule, one per day of February."""
    for day in days:
        taken = datetime(2027, 2, day, 3, tzinfo=UTC)
        seed_managed_snapshot(env, PROJECT, f"{disk['name']}-old-{day}", disk, taken)


def delete_disk(env: ComputeAdmin, name: str) -> None:
    """Delete a disk through the real client, as a user would after the tick read it."""
    clients.compute(env.host).disks.delete(project=PROJECT, zone=ZONE, disk=name).result(timeout=10)


def non_polls(env: ComputeAdmin) -> dict[str, int]:
    return {m: n for m, n in env.counts().items() if m not in POLLS}


def test_a_fresh_first_delivery_costs_three_compute_calls_plus_polls(
    env: ComputeAdmin, snapshot_fn: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    disks = [
        env.seed_disk(PROJECT, name, zone=ZONE, labels={"snapshot-daily": "2"})
        for name in ("first", "second")
    ]
    for disk in disks:
        seed_managed(env, disk, range(1, 3))  # N held: this run's snapshot makes one due
    # The first delivery of the tick also reads the project's SNAPSHOTS quota (the guard).
    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disks[0]), attempt=1)) == 200
    env.clear_requests()

    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disks[1]), attempt=1)) == 200

    assert non_polls(env) == {
        "compute.snapshots.insert": 1,
        "compute.snapshots.list": 1,  # the READY read-back and pruning's input at once
        "compute.snapshots.delete": 1,
    }
    assert env.counts()["compute.globalOperations.wait"] >= 1
    done = [e for e in log_lines(capsys) if e.get("action")]
    assert [(e["action"], e["snapshot_status"], e["held"]) for e in done] == [
        ("created", "READY", 2),
        ("created", "READY", 2),
    ]
    assert done[1]["deleted"] == ["second-old-1"]


@pytest.mark.parametrize(
    ("read", "attempt"),
    [
        (timedelta(hours=3), 1),  # a replayed dead letter, or work re-queued for long
        (timedelta(seconds=5), 2),  # a redelivery
        (timedelta(hours=-1), 1),  # read "in the future": a clock not to be trusted
    ],
)
def test_a_message_not_fresh_reads_the_disk_and_prunes_to_its_current_n(
    read: timedelta,
    attempt: int,
    env: ComputeAdmin,
    snapshot_fn: FlaskClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "1"})
    seed_managed(env, disk, range(1, 4))  # three of them: N was 3 when the tick ran

    payload = fresh(disk | {"labels": {"snapshot-daily": "3"}}, keep=3, read=read)
    assert deliver(snapshot_fn, envelope("eventarc-binary", payload, attempt=attempt)) == 200

    assert env.counts()["compute.disks.get"] == 1
    [done] = [e for e in log_lines(capsys) if e.get("action")]
    assert (done["action"], done["wanted"], done["held"]) == ("created", 1, 1)
    assert sorted(done["deleted"]) == ["web-data-old-1", "web-data-old-2", "web-data-old-3"]
    [made] = env.snapshots()
    assert made["labels"]["snapkeeper-keep"] == "1"  # the N it was pruned to


def test_labels_read_long_ago_stay_fresh_until_the_schedule_fires_again(
    env: ComputeAdmin, snapshot_fn: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    # A long tick: the labels were read 40 minutes ago, the daily schedule fires again
    # in hours. The message's N (3) stands, although the disk says 1 by now.
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "1"})
    seed_managed(env, disk, range(1, 4))
    payload = fresh(
        disk | {"labels": {"snapshot-daily": "3"}},
        keep=3,
        read=timedelta(minutes=40),
        until=timedelta(hours=20),
    )

    assert deliver(snapshot_fn, envelope("eventarc-binary", payload, attempt=1)) == 200

    assert "compute.disks.get" not in env.counts()
    [done] = [e for e in log_lines(capsys) if e.get("action")]
    assert (done["action"], done["wanted"], done["deleted"]) == ("created", 3, ["web-data-old-1"])


@pytest.mark.parametrize(
    ("until", "attributes"),
    [
        (timedelta(hours=-1), {}),  # the schedule fired again since: the next tick's labels
        (timedelta(hours=20), {"replay_of": "1234"}),  # a replayed dead letter
    ],
)
def test_labels_past_their_tick_or_replayed_are_read_again(
    until: timedelta,
    attributes: dict[str, str],
    env: ComputeAdmin,
    snapshot_fn: FlaskClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "1"})
    seed_managed(env, disk, range(1, 4))
    payload = fresh(
        disk | {"labels": {"snapshot-daily": "3"}}, keep=3, read=timedelta(hours=2), until=until
    )
    request = envelope("eventarc-binary", payload, attempt=1)
    request["body"]["message"]["attributes"] = attributes

    assert deliver(snapshot_fn, request) == 200

    assert env.counts()["compute.disks.get"] == 1
    [done] = [e for e in log_lines(capsys) if e.get("action")]
    assert (done["action"], done["wanted"], done["held"]) == ("created", 1, 1)


def test_a_fresh_message_for_a_deleted_disk_is_gone_by_the_inserts_404(
    env: ComputeAdmin, snapshot_fn: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    seed_managed(env, disk, range(1, 3))
    # Deleted after the enumerator read it.
    delete_disk(env, "web-data")
    env.clear_requests()

    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disk), attempt=1)) == 200

    assert calls_of(env, "compute.snapshots.insert") == [404]
    assert "compute.disks.get" not in env.counts()
    [done] = [e for e in log_lines(capsys) if e.get("action")]
    assert (done["action"], done["deleted"], done["held"]) == ("gone", [], 2)
    assert len(env.snapshots()) == 2  # its snapshots are left to ORPHAN_POLICY


def test_an_inserts_404_that_does_not_name_the_disk_is_a_dead_letter_not_gone(
    harness: Harness,
) -> None:
    disk = harness.disk()
    harness.failing_insert(status=404, message="The resource 'projects/elsewhere' was not found")

    assert deliver(harness.snapshot_fn, envelope("eventarc-binary", fresh(disk), attempt=1)) == 200

    [letter] = harness.dead_letters()
    assert letter.attributes["error_class"] == "ComputeError"
    assert "does not name disk" in letter.attributes["error"]
    assert not [e for e in harness.logs() if e.get("action") == "gone"]


def test_a_duplicate_fresh_delivery_is_done_without_pruning_twice(
    env: ComputeAdmin, snapshot_fn: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    seed_managed(env, disk, range(1, 3))
    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disk), attempt=1)) == 200
    # Pub/Sub delivers the same message again: Compute answers the repeated requestId
    # with the first insert's operation, and nothing is made or deleted again.
    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disk), attempt=1)) == 200

    first, second = [e for e in log_lines(capsys) if e.get("action")]
    assert first["deleted"] == ["web-data-old-1"]
    assert (second["snapshot_status"], second["deleted"], second["held"]) == ("READY", [], 2)
    assert calls_of(env, "compute.snapshots.delete") == [200]
    assert len(env.snapshots()) == 2


def test_a_fresh_delivery_whose_snapshot_exists_meets_409_and_is_done(
    env: ComputeAdmin, snapshot_fn: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    seed_managed(env, disk, range(2, 3))
    # The slot's snapshot, made by an earlier delivery whose requestId Compute no longer
    # holds (or by a retake under another one), which pruned already.
    key = SnapshotKey(PROJECT, ZONE, disk["id"], "web-data", "daily", SLOT)
    env.seed_snapshot(
        PROJECT,
        snapshot_name(key),
        source_disk=disk["selfLink"],
        labels={
            "managed-by": "snapkeeper",
            "snapkeeper-disk-id": disk["id"],
            "snapkeeper-schedule": "daily",
            "snapkeeper-slot": SLOT,
        },
    )

    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disk), attempt=1)) == 200

    assert calls_of(env, "compute.snapshots.insert") == [409]
    [done] = [e for e in log_lines(capsys) if e.get("action")]
    assert (done["action"], done["snapshot_status"], done["deleted"], done["held"]) == (
        "exists",
        "READY",
        [],
        2,
    )
    assert "compute.snapshots.delete" not in env.counts()


def test_a_disk_made_again_under_its_name_since_the_tick_is_gone_and_not_snapshotted(
    env: ComputeAdmin, snapshot_fn: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    seed_managed(env, disk, range(1, 3))
    delete_disk(env, "web-data")
    other = env.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2"})
    assert other["id"] != disk["id"]

    assert deliver(snapshot_fn, envelope("eventarc-binary", fresh(disk), attempt=1)) == 200

    [done] = [e for e in log_lines(capsys) if e.get("action")]
    assert (done["action"], done["deleted"], done["held"]) == ("gone", [done["snapshot"]], 2)
    # The other disk's snapshot under the old disk's name is gone; the old disk's own
    # snapshots are left to ORPHAN_POLICY.
    assert sorted(s["name"] for s in env.snapshots()) == ["web-data-old-1", "web-data-old-2"]


def calls_of(env: ComputeAdmin, method: str) -> list[int]:
    """The HTTP status of each call of `method`, in order."""
    return [r["status"] for r in env.requests() if r["api_method"] == method]

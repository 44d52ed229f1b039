"""The fake scheduler's backend and JSON layer, with a recording publisher and a clock."""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapkeeper_local.scheduler import wire
from snapkeeper_local.scheduler.backend import (
    Attempt,
    Job,
    JobState,
    SchedulerBackend,
    Trigger,
    format_timestamp,
)
from snapkeeper_local.scheduler.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from snapkeeper_local.scheduler.firing import CronLoop
from snapkeeper_local.scheduler.publisher import PublishFailed

PARENT = "projects/proj/locations/us-central1"
TOPIC = "projects/proj/topics/snapkeeper-ticks"
START = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)


@dataclass
class RecordingPublisher:
    """Stands in for the emulator: records messages, or fails for chosen topics."""

    missing_topics: set[str] = field(default_factory=set)
    published: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> str:
        if topic in self.missing_topics:
            raise PublishFailed("NOT_FOUND", "Topic not found")
        self.published.append((topic, data, dict(attributes)))
        self.event.set()
        return str(len(self.published))

    def close(self) -> None:
        pass


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def backend(publisher: RecordingPublisher, clock: Clock) -> SchedulerBackend:
    return SchedulerBackend(publisher, clock=clock)


def job_body(job_id: str = "daily", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"{PARENT}/jobs/{job_id}",
        "schedule": "0 3 * * *",
        "timeZone": "Asia/Tokyo",
        "pubsubTarget": {
            "topicName": TOPIC,
            "data": base64.b64encode(b'{"schedule":"daily"}').decode(),
            "attributes": {"origin": "scheduler"},
        },
    }
    body.update(overrides)
    return body


def create(backend: SchedulerBackend, job_id: str = "daily", **overrides: Any) -> Job:
    return backend.create_job(PARENT, wire.job_from_json(job_body(job_id, **overrides)))


# -- create, validation ---------------------------------------------------------------


def test_create_fills_in_what_the_service_does(backend: SchedulerBackend) -> None:
    job = create(backend, timeZone="")
    assert job.state is JobState.ENABLED
    assert job.time_zone == "Etc/UTC"
    assert job.user_update_time == START
    assert job.schedule_time == datetime(2024, 1, 1, 3, tzinfo=UTC)
    assert job.last_attempt_time is None and job.status is None
    out = wire.job_to_json(job)
    assert out["retryConfig"] == {
        "maxRetryDuration": "0s",
        "minBackoffDuration": "5s",
        "maxBackoffDuration": "3600s",
        "maxDoublings": 5,
    }
    assert out["attemptDeadline"] == "180s"
    assert out["state"] == "ENABLED" and wire.job_to_json(job, int_enums=True)["state"] == 1
    assert out["pubsubTarget"]["data"] == base64.b64encode(b'{"schedule":"daily"}').decode()


def test_create_without_a_name_generates_one_under_the_parent(backend: SchedulerBackend) -> None:
    body = job_body()
    del body["name"]
    job = backend.create_job(PARENT, wire.job_from_json(body))
    assert job.name.startswith(PARENT + "/jobs/")


def test_duplicate_create_is_already_exists(backend: SchedulerBackend) -> None:
    create(backend)
    with pytest.raises(AlreadyExists, match=f"Job {PARENT}/jobs/daily already exists"):
        create(backend)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule": "0 3 * *"}, "Schedule or time zone is invalid"),
        ({"schedule": ""}, "Schedule or time zone is invalid"),
        ({"timeZone": "Mars/Olympus"}, "Schedule or time zone is invalid"),
        ({"name": f"{PARENT}/jobs/bad name"}, "Job name must be formatted"),
        ({"name": f"{PARENT}/jobs/" + "x" * 501}, "Job name must be formatted"),
        ({"name": "projects/proj/locations/europe-west1/jobs/a"}, "not under the parent"),
        ({"pubsubTarget": {"topicName": "snapkeeper-ticks", "data": "eA=="}}, "Topic name"),
        ({"pubsubTarget": {"topicName": "projects/proj/topics/ab", "data": "eA=="}}, "Topic"),
        ({"pubsubTarget": {"topicName": TOPIC}}, "non-empty data or attributes"),
        ({"pubsubTarget": {"topicName": TOPIC, "data": "not base64!"}}, "base64"),
        ({"httpTarget": {"uri": "https://example.com"}}, "Only Pub/Sub targets"),
        ({"appEngineHttpTarget": {"relativeUri": "/x"}}, "Only Pub/Sub targets"),
        ({"description": "d" * 501}, "Description"),
        ({"retryConfig": {"retryCount": 6}}, "retryCount"),
        ({"retryConfig": {"minBackoffDuration": "5 seconds"}}, "duration"),
        ({"colour": "blue"}, 'Unknown name "colour"'),
    ],
)
def test_create_validation(
    backend: SchedulerBackend, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        create(backend, **overrides)
    assert list(backend.jobs()) == []


def test_a_job_without_a_target_is_refused(backend: SchedulerBackend) -> None:
    body = job_body()
    del body["pubsubTarget"]
    with pytest.raises(InvalidArgument, match="pubsubTarget"):
        wire.job_from_json(body)


def test_snake_case_and_url_safe_base64_are_accepted(backend: SchedulerBackend) -> None:
    body = {
        "name": f"{PARENT}/jobs/snake",
        "schedule": "0 3 * * *",
        "time_zone": "Asia/Tokyo",
        "pubsub_target": {
            "topic_name": TOPIC,
            "data": base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("="),
        },
    }
    job = backend.create_job(PARENT, wire.job_from_json(body))
    assert job.time_zone == "Asia/Tokyo" and job.pubsub_target.data == b"\xfb\xff"


# -- get, list, delete ------------------------------------------------------------------


def test_unknown_job_is_not_found(backend: SchedulerBackend) -> None:
    for call in (backend.get_job, backend.delete_job, backend.pause_job, backend.run_job):
        with pytest.raises(NotFound, match="Job not found"):
            call(f"{PARENT}/jobs/nope")


def test_list_pages_by_name_and_is_scoped_to_the_parent(backend: SchedulerBackend) -> None:
    for index in range(5):
        create(backend, f"job-{index}")
    backend.create_job(
        "projects/proj/locations/europe-west1",
        wire.job_from_json(job_body(name="projects/proj/locations/europe-west1/jobs/other")),
    )
    names, token = [], ""
    pages = 0
    while True:
        jobs, token = backend.list_jobs(PARENT, page_size=2, page_token=token)
        names += [job.name for job in jobs]
        pages += 1
        if not token:
            break
    assert pages == 3
    assert names == [f"{PARENT}/jobs/job-{index}" for index in range(5)]


def test_a_deletion_between_pages_never_skips_a_job(backend: SchedulerBackend) -> None:
    for index in range(4):
        create(backend, f"job-{index}")
    first, token = backend.list_jobs(PARENT, page_size=2)
    backend.delete_job(first[0].name)
    rest, token = backend.list_jobs(PARENT, page_size=2, page_token=token)
    assert [job.name[-5:] for job in first + rest] == ["job-0", "job-1", "job-2", "job-3"]
    assert token == ""


@pytest.mark.parametrize("token", ["garbage", "e30"])
def test_bad_page_token_is_invalid_argument(backend: SchedulerBackend, token: str) -> None:
    with pytest.raises(InvalidArgument, match="page token"):
        backend.list_jobs(PARENT, page_token=token)


def test_page_token_of_another_parent_is_refused(backend: SchedulerBackend) -> None:
    for index in range(3):
        create(backend, f"job-{index}")
    _, token = backend.list_jobs(PARENT, page_size=1)
    with pytest.raises(InvalidArgument, match="page token"):
        backend.list_jobs("projects/proj/locations/europe-west1", page_token=token)


# -- update ---------------------------------------------------------------------------


def patch(backend: SchedulerBackend, body: dict[str, Any], mask: str | None) -> Job:
    paths = wire.parse_update_mask(mask)
    return backend.update_job(
        f"{PARENT}/jobs/daily", lambda job: wire.apply_patch(job, body, paths)
    )


def test_update_with_a_mask_changes_only_the_masked_fields(
    backend: SchedulerBackend, clock: Clock
) -> None:
    create(backend)
    clock.now = START + timedelta(minutes=5)
    body = {"schedule": "0 4 * * *", "description": "ignored: not in the mask"}
    job = patch(backend, body, "schedule")
    assert job.schedule == "0 4 * * *"
    assert job.description == ""
    assert job.time_zone == "Asia/Tokyo"
    assert job.pubsub_target.attributes == {"origin": "scheduler"}
    assert job.user_update_time == clock.now
    assert job.schedule_time == datetime(2024, 1, 1, 19, tzinfo=UTC)  # 04:00 in Tokyo


def test_a_masked_field_absent_from_the_body_is_cleared(backend: SchedulerBackend) -> None:
    create(backend)
    job = patch(backend, {}, "timeZone,pubsubTarget.attributes")
    assert job.time_zone == "Etc/UTC"
    assert job.pubsub_target.attributes == {}
    assert job.pubsub_target.data == b'{"schedule":"daily"}'


def test_update_without_a_mask_changes_the_fields_present(backend: SchedulerBackend) -> None:
    create(backend)
    job = patch(
        backend, {"description": "nightly", "pubsubTarget": {"topicName": TOPIC + "-2"}}, None
    )
    assert job.description == "nightly"
    assert job.pubsub_target.topic_name == TOPIC + "-2"
    assert job.pubsub_target.data == b'{"schedule":"daily"}'  # merged, not replaced
    assert job.schedule == "0 3 * * *"


def test_snake_case_mask_paths_are_accepted(backend: SchedulerBackend) -> None:
    create(backend)
    job = patch(backend, {"timeZone": "Europe/Paris"}, "time_zone")
    assert job.time_zone == "Europe/Paris"


@pytest.mark.parametrize(
    ("body", "mask", "message"),
    [
        ({"schedule": "61 * * * *"}, "schedule", "Schedule or time zone is invalid"),
        ({"timeZone": "Nowhere/Land"}, None, "Schedule or time zone is invalid"),
        ({}, "schedule", "Schedule or time zone is invalid"),  # cleared: required
        ({}, "state", "Invalid update mask path"),
        ({"httpTarget": {"uri": "https://x"}}, "httpTarget.uri", "Only Pub/Sub targets"),
        ({"pubsubTarget": {"topicName": "nope"}}, None, "Topic name"),
    ],
)
def test_invalid_updates_change_nothing(
    backend: SchedulerBackend, body: dict[str, Any], mask: str | None, message: str
) -> None:
    before = create(backend)
    with pytest.raises(InvalidArgument, match=message):
        patch(backend, body, mask)
    assert backend.get_job(before.name) == before


def test_update_keeps_the_paused_state(backend: SchedulerBackend) -> None:
    create(backend)
    backend.pause_job(f"{PARENT}/jobs/daily")
    job = patch(backend, {"schedule": "0 5 * * *"}, "schedule")
    assert job.state is JobState.PAUSED and job.schedule_time is None


# -- pause, resume --------------------------------------------------------------------


def test_pause_and_resume(backend: SchedulerBackend, clock: Clock) -> None:
    name = create(backend).name
    paused = backend.pause_job(name)
    assert paused.state is JobState.PAUSED and paused.schedule_time is None
    with pytest.raises(FailedPrecondition):
        backend.pause_job(name)
    clock.now = datetime(2024, 1, 2, 12, tzinfo=UTC)
    resumed = backend.resume_job(name)
    assert resumed.state is JobState.ENABLED
    assert resumed.schedule_time == datetime(
        2024, 1, 2, 18, tzinfo=UTC
    )  # from now, not from before
    with pytest.raises(FailedPrecondition):
        backend.resume_job(name)


# -- firing -----------------------------------------------------------------------------


def test_fire_due_publishes_due_jobs_once_and_moves_the_schedule(
    backend: SchedulerBackend, publisher: RecordingPublisher
) -> None:
    job = create(backend)
    assert job.schedule_time is not None
    assert backend.fire_due(job.schedule_time - timedelta(seconds=1)) == []
    [attempt] = backend.fire_due(job.schedule_time)
    assert attempt == Attempt(
        job_name=job.name,
        time=job.schedule_time,
        topic=TOPIC,
        trigger=Trigger.SCHEDULE,
        status="OK",
        message_id="1",
    )
    assert publisher.published == [(TOPIC, b'{"schedule":"daily"}', {"origin": "scheduler"})]
    after = backend.get_job(job.name)
    assert after.last_attempt_time == job.schedule_time
    assert after.status is not None and after.status.code == 0
    assert after.schedule_time == job.schedule_time + timedelta(days=1)
    assert backend.fire_due(job.schedule_time) == []  # not twice for one fire time


def test_missed_fire_times_fire_once_not_backfilled(
    backend: SchedulerBackend, publisher: RecordingPublisher
) -> None:
    create(backend)
    attempts = backend.fire_due(START + timedelta(days=10))
    assert len(attempts) == 1 and len(publisher.published) == 1
    assert backend.get_job(f"{PARENT}/jobs/daily").schedule_time == datetime(
        2024, 1, 11, 18, tzinfo=UTC
    )


def test_paused_jobs_do_not_fire(backend: SchedulerBackend, publisher: RecordingPublisher) -> None:
    create(backend)
    backend.pause_job(f"{PARENT}/jobs/daily")
    assert backend.fire_due(START + timedelta(days=2)) == []
    assert publisher.published == []


def test_a_failed_publish_is_recorded_and_later_jobs_still_fire(
    backend: SchedulerBackend, publisher: RecordingPublisher
) -> None:
    publisher.missing_topics.add("projects/proj/topics/gone")
    create(
        backend, "a-broken", pubsubTarget={"topicName": "projects/proj/topics/gone", "data": "eA=="}
    )
    create(backend, "b-fine")
    attempts = backend.fire_due(START + timedelta(days=1))
    outcomes = sorted((a.job_name.rsplit("/", 1)[1], a.status) for a in attempts)
    assert outcomes == [("a-broken", "NOT_FOUND"), ("b-fine", "OK")]
    broken = backend.get_job(f"{PARENT}/jobs/a-broken")
    assert broken.status is not None and broken.status.code == 5
    assert broken.status.name == "NOT_FOUND"
    assert wire.job_to_json(broken)["status"] == {"code": 5, "message": "Topic not found"}


def test_run_fires_now_even_when_paused(
    backend: SchedulerBackend, publisher: RecordingPublisher, clock: Clock
) -> None:
    name = create(backend).name
    backend.pause_job(name)
    clock.now = START + timedelta(minutes=1)
    job = backend.run_job(name)
    assert job.last_attempt_time == clock.now
    assert job.state is JobState.PAUSED
    assert [a.trigger for a in backend.attempts()] == [Trigger.RUN]
    assert len(publisher.published) == 1


def test_reset_forgets_jobs_and_attempts(backend: SchedulerBackend) -> None:
    name = create(backend).name
    backend.run_job(name)
    backend.reset()
    assert list(backend.jobs()) == [] and backend.attempts() == []


def test_attempt_json_round_trip() -> None:
    attempt = Attempt("projects/p/locations/l/jobs/j", START, TOPIC, Trigger.RUN, "OK", "", "7")
    assert Attempt.from_json(attempt.to_json()) == attempt
    assert attempt.to_json()["time"] == format_timestamp(START) == "2024-01-01T00:00:00Z"


# -- the cron loop ------------------------------------------------------------------


def test_the_cron_loop_fires_a_due_job_and_stops_promptly(
    backend: SchedulerBackend, publisher: RecordingPublisher, clock: Clock
) -> None:
    loop = CronLoop(backend)
    loop.start()
    try:
        job = create(backend)
        assert job.schedule_time is not None
        assert not publisher.event.wait(0.2)  # not due yet: nothing fires
        clock.now = job.schedule_time
        loop.wake()  # the test clock jumped: re-check now rather than after the sleep
        assert publisher.event.wait(10), "the loop did not fire the due job"
    finally:
        loop.stop(timeout=5)
    assert not loop.alive
    assert [a.job_name for a in backend.attempts()] == [job.name]


def test_stopping_an_idle_loop_does_not_wait_for_its_sleep(backend: SchedulerBackend) -> None:
    loop = CronLoop(backend)
    loop.start()
    started = datetime.now(UTC)
    loop.stop(timeout=5)
    assert not loop.alive
    assert datetime.now(UTC) - started < timedelta(seconds=2)

"""The fake's state and behaviour: jobs, their schedules, and every attempt to fire them.

All state sits behind one lock; publishing happens outside it, so a slow or missing
Pub/Sub emulator never blocks the API.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .. import paging
from . import cron
from .errors import (
    ALREADY_EXISTS_FORMAT,
    JOB_NAME_FORMAT,
    JOB_NOT_FOUND,
    RPC_NAMES_BY_NUMBER,
    TOPIC_NAME_FORMAT,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    rpc_code_number,
)
from .publisher import EmulatorPublisher, Publisher, PublishFailed

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Resource names, per the API reference: project ids may be domain-scoped
# ("example.com:proj"); job ids are letters, digits, hyphens and underscores, 500 at most.
PROJECT_ID = r"[A-Za-z0-9.:-]{1,100}"
LOCATION_ID = r"[a-z0-9-]{1,63}"
JOB_ID = r"[A-Za-z0-9_-]{1,500}"
PARENT_RE = re.compile(rf"^projects/({PROJECT_ID})/locations/({LOCATION_ID})$")
JOB_NAME_RE = re.compile(rf"^projects/({PROJECT_ID})/locations/({LOCATION_ID})/jobs/({JOB_ID})$")
# Pub/Sub topic ids: 3-255 characters, starting with a letter, never "goog".
TOPIC_ID = r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}"
TOPIC_NAME_RE = re.compile(rf"^projects/({PROJECT_ID})/topics/({TOPIC_ID})$")
MAX_DESCRIPTION_LENGTH = 500
MAX_RETRY_COUNT = 5
MAX_ATTRIBUTES = 100
MAX_PAGE_SIZE = 500
MAX_ATTEMPTS_KEPT = 10_000

# Cloud Scheduler's regions as its locations.list answers them (a fixed list here).
LOCATIONS: tuple[str, ...] = (
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "europe-central2",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west6",
    "northamerica-northeast1",
    "southamerica-east1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
)
REGION_LABEL = "cloud.googleapis.com/region"
# The service fills it in for every target type (Pub/Sub ignores it).
DEFAULT_ATTEMPT_DEADLINE = "180s"


class JobState(StrEnum):
    ENABLED = "ENABLED"
    PAUSED = "PAUSED"


class Trigger(StrEnum):
    SCHEDULE = "schedule"  # the cron loop, or fire_due()
    RUN = "run"  # the :run method


@dataclass(frozen=True)
class PubsubTarget:
    topic_name: str
    data: bytes = b""
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryConfig:
    """Defaults are the ones the real service fills in and returns."""

    retry_count: int = 0
    max_retry_duration: str = "0s"
    min_backoff_duration: str = "5s"
    max_backoff_duration: str = "3600s"
    max_doublings: int = 5


@dataclass(frozen=True)
class RpcStatus:
    """A google.rpc.Status: code 0 is OK."""

    code: int = 0
    message: str = ""

    @property
    def name(self) -> str:
        return RPC_NAMES_BY_NUMBER.get(self.code, "UNKNOWN")


@dataclass(frozen=True)
class Job:
    name: str
    schedule: str
    pubsub_target: PubsubTarget
    description: str = ""
    time_zone: str = cron.DEFAULT_TIME_ZONE
    retry_config: RetryConfig = RetryConfig()
    attempt_deadline: str = DEFAULT_ATTEMPT_DEADLINE
    # Output only.
    state: JobState = JobState.ENABLED
    user_update_time: datetime | None = None
    schedule_time: datetime | None = None
    last_attempt_time: datetime | None = None
    status: RpcStatus | None = None


@dataclass(frozen=True)
class Attempt:
    """One fire of a job: what the admin API's /_fake/attempts lists."""

    job_name: str
    time: datetime
    topic: str
    trigger: Trigger
    status: str  # google.rpc.Code name: OK, NOT_FOUND, ...
    message: str = ""
    message_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    def to_json(self) -> dict[str, Any]:
        return {
            "jobName": self.job_name,
            "time": format_timestamp(self.time),
            "topic": self.topic,
            "trigger": str(self.trigger),
            "status": self.status,
            "message": self.message,
            "messageId": self.message_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attempt:
        return cls(
            job_name=data["jobName"],
            time=parse_timestamp(data["time"]),
            topic=data["topic"],
            trigger=Trigger(data["trigger"]),
            status=data["status"],
            message=data.get("message", ""),
            message_id=data.get("messageId"),
        )


@dataclass(frozen=True)
class Location:
    project: str
    location_id: str

    @property
    def name(self) -> str:
        return f"projects/{self.project}/locations/{self.location_id}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, fractional seconds only when there are some."""
    text = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return text.replace(".000000Z", "Z")


def parse_timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as error:
        raise InvalidArgument(f"Invalid timestamp: {text!r}") from error
    if moment.tzinfo is None:
        raise InvalidArgument(f"Timestamp without an offset: {text!r}")
    return moment.astimezone(UTC)


def parse_job_name(name: str) -> tuple[str, str, str]:
    """(project, location, job id) of a full job name, or InvalidArgument."""
    match = JOB_NAME_RE.match(name)
    if not match:
        raise InvalidArgument(JOB_NAME_FORMAT)
    project, location, job_id = match.groups()
    return project, location, job_id


def parse_parent(parent: str) -> tuple[str, str]:
    match = PARENT_RE.match(parent)
    if not match:
        raise InvalidArgument(f"Invalid parent {parent!r}: expected projects/*/locations/*.")
    project, location = match.groups()
    return project, location


def validate_job(job: Job) -> None:
    """The checks the real service makes on create and update."""
    parse_job_name(job.name)
    cron.validate(job.schedule, job.time_zone)
    if len(job.description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidArgument(
            f"Description must not be longer than {MAX_DESCRIPTION_LENGTH} characters."
        )
    target = job.pubsub_target
    if not TOPIC_NAME_RE.match(target.topic_name):
        raise InvalidArgument(TOPIC_NAME_FORMAT)
    if not target.data and not target.attributes:
        # Pub/Sub rejects such a message; the service refuses the job up front.
        raise InvalidArgument("Pub/Sub message must contain either non-empty data or attributes.")
    if len(target.attributes) > MAX_ATTRIBUTES:
        raise InvalidArgument(f"A Pub/Sub message can have at most {MAX_ATTRIBUTES} attributes.")
    if not 0 <= job.retry_config.retry_count <= MAX_RETRY_COUNT:
        raise InvalidArgument(f"retryCount must be between 0 and {MAX_RETRY_COUNT}.")
    if job.retry_config.max_doublings < 0:
        raise InvalidArgument("maxDoublings must not be negative.")


def page_of(names: list[str], scope: str, page_size: int, page_token: str) -> tuple[list[str], str]:
    """One page of names in order: pageSize 0 means the most, larger sizes are cut to it."""
    if page_size < 0:
        raise InvalidArgument("pageSize must not be negative.")
    size = min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    try:
        page = paging.paginate(
            names, lambda name: (name,), scope=scope, size=size, token=page_token
        )
    except paging.BadPageToken as error:
        raise InvalidArgument("Invalid page token.") from error
    return page.items, page.next_token


class SchedulerBackend:
    """Jobs by name, the attempt log, and the firing logic. Thread-safe."""

    def __init__(self, publisher: Publisher | None = None, clock: Clock = utc_now) -> None:
        self._publisher: Publisher = publisher or EmulatorPublisher(None)
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._attempts: list[Attempt] = []
        self._in_flight: set[str] = set()
        # Bumped by reset(): results of a fire that straddles a reset are dropped.
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    # -- plumbing -------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called (outside the lock) whenever a change may move the next fire time."""
        with self._lock:
            self._listeners.append(callback)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback()

    def _get(self, name: str) -> Job:
        parse_job_name(name)
        job = self._jobs.get(name)
        if job is None:
            raise NotFound(JOB_NOT_FOUND)
        return job

    def _next_time(self, job: Job, after: datetime) -> datetime | None:
        if job.state is not JobState.ENABLED:
            return None
        return cron.next_fire_time(job.schedule, job.time_zone, after)

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._attempts.clear()
            self._in_flight.clear()
            self._generation += 1
        self._notify()

    def close(self) -> None:
        self._publisher.close()

    # -- the API --------------------------------------------------------------------

    def create_job(self, parent: str, job: Job) -> Job:
        parse_parent(parent)
        if not job.name:
            job = dataclasses.replace(job, name=f"{parent}/jobs/{uuid.uuid4().hex}")
        parse_job_name(job.name)
        if not job.name.startswith(parent + "/jobs/"):
            raise InvalidArgument(f"Job name {job.name} is not under the parent {parent}.")
        validate_job(job)
        with self._lock:
            if job.name in self._jobs:
                raise AlreadyExists(ALREADY_EXISTS_FORMAT.format(name=job.name))
            now = self.now()
            created = dataclasses.replace(
                job,
                state=JobState.ENABLED,
                user_update_time=now,
                last_attempt_time=None,
                status=None,
            )
            created = dataclasses.replace(created, schedule_time=self._next_time(created, now))
            self._jobs[created.name] = created
        self._notify()
        return created

    def get_job(self, name: str) -> Job:
        with self._lock:
            return self._get(name)

    def list_jobs(
        self, parent: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Job], str]:
        parse_parent(parent)
        prefix = parent + "/jobs/"
        with self._lock:
            names = [name for name in self._jobs if name.startswith(prefix)]
            page, next_token = page_of(names, parent, page_size, page_token)
            return [self._jobs[name] for name in page], next_token

    def update_job(self, name: str, apply: Callable[[Job], Job]) -> Job:
        """Replace a job by `apply(current)`, validated; output-only fields are kept."""
        with self._lock:
            current = self._get(name)
            changed = apply(current)
            if changed.name != current.name:
                raise InvalidArgument("The job name cannot be changed.")
            validate_job(changed)
            now = self.now()
            updated = dataclasses.replace(
                changed,
                state=current.state,
                user_update_time=now,
                last_attempt_time=current.last_attempt_time,
                status=current.status,
            )
            updated = dataclasses.replace(updated, schedule_time=self._next_time(updated, now))
            self._jobs[name] = updated
        self._notify()
        return updated

    def delete_job(self, name: str) -> None:
        with self._lock:
            self._get(name)
            del self._jobs[name]
        self._notify()

    def pause_job(self, name: str) -> Job:
        with self._lock:
            job = self._get(name)
            if job.state is not JobState.ENABLED:
                # The reference: "A job must be in Job.State.ENABLED to be paused."
                raise FailedPrecondition("Job must be in state ENABLED to be paused.")
            job = dataclasses.replace(job, state=JobState.PAUSED, schedule_time=None)
            self._jobs[name] = job
        self._notify()
        return job

    def resume_job(self, name: str) -> Job:
        with self._lock:
            job = self._get(name)
            if job.state is not JobState.PAUSED:
                raise FailedPrecondition("Job must be in state PAUSED to be resumed.")
            job = dataclasses.replace(job, state=JobState.ENABLED)
            job = dataclasses.replace(job, schedule_time=self._next_time(job, self.now()))
            self._jobs[name] = job
        self._notify()
        return job

    def run_job(self, name: str) -> Job:
        """Fire now, whatever the state and schedule (as the real :run does); the
        publish completes before this returns, so callers see its outcome."""
        with self._lock:
            job = self._get(name)
            generation = self._generation
            now = self.now()
        self._dispatch(job, now, Trigger.RUN, generation)
        with self._lock:
            return self._jobs.get(name, job)

    def list_locations(
        self, project: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Location], str]:
        names = [Location(project, location).name for location in LOCATIONS]
        page, next_token = page_of(names, f"projects/{project}", page_size, page_token)
        return [Location(project, name.rsplit("/", 1)[1]) for name in page], next_token

    def get_location(self, project: str, location: str) -> Location:
        if location not in LOCATIONS:
            raise NotFound(f"Location projects/{project}/locations/{location} not found.")
        return Location(project, location)

    # -- firing ---------------------------------------------------------------------

    def next_schedule_time(self) -> datetime | None:
        """The earliest scheduleTime of any enabled job: when the loop must wake."""
        with self._lock:
            times = [job.schedule_time for job in self._jobs.values() if job.schedule_time]
        return min(times, default=None)

    def fire_due(self, now: datetime | None = None) -> list[Attempt]:
        """Fire every enabled job whose scheduleTime is at or before `now` (default: the
        clock), once each however many fire times were missed, as the real service
        does not backfill. This is the cron loop's step and the tests' clock hook."""
        moment = (now or self.now()).astimezone(UTC)
        due: list[Job] = []
        with self._lock:
            generation = self._generation
            for job in self._jobs.values():
                if job.state is not JobState.ENABLED or job.schedule_time is None:
                    continue
                if job.schedule_time > moment or job.name in self._in_flight:
                    continue
                # Never two outstanding executions of a job; the next one is due after now.
                self._in_flight.add(job.name)
                due.append(job)
                self._jobs[job.name] = dataclasses.replace(
                    job, schedule_time=self._next_time(job, moment)
                )
        attempts = []
        for job in due:
            try:
                attempts.append(self._dispatch(job, moment, Trigger.SCHEDULE, generation))
            finally:
                with self._lock:
                    self._in_flight.discard(job.name)
        return attempts

    def _dispatch(self, job: Job, moment: datetime, trigger: Trigger, generation: int) -> Attempt:
        target = job.pubsub_target
        try:
            message_id: str | None = self._publisher.publish(
                target.topic_name, target.data, target.attributes
            )
            status, message = RpcStatus(), ""
        except PublishFailed as failure:
            message_id = None
            status, message = RpcStatus(failure.code, failure.message), failure.message
            log.warning("job %s: publishing to %s failed: %s", job.name, target.topic_name, failure)
        except Exception as error:  # never let one job's failure kill the loop
            message_id = None
            status = RpcStatus(rpc_code_number("INTERNAL"), str(error))
            message = str(error)
            log.exception("job %s: publishing to %s failed", job.name, target.topic_name)
        attempt = Attempt(
            job_name=job.name,
            time=moment,
            topic=target.topic_name,
            trigger=trigger,
            status=status.name,
            message=message,
            message_id=message_id,
        )
        with self._lock:
            if generation != self._generation:
                return attempt
            self._attempts.append(attempt)
            del self._attempts[:-MAX_ATTEMPTS_KEPT]
            current = self._jobs.get(job.name)
            if current is not None:
                self._jobs[job.name] = dataclasses.replace(
                    current, last_attempt_time=moment, status=status
                )
        return attempt

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    def jobs(self) -> Iterable[Job]:
        with self._lock:
            return list(self._jobs.values())

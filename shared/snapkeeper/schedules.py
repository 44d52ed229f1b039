"""Schedules as Cloud Scheduler jobs: one job `snapkeeper-<schedule>` per schedule in the
host project, publishing the tick payload {"schedule", "cron", "time_zone"[, "options"]}
to the ticks topic. The payload's cron and time zone always match the job's own (the slot
of a tick comes from them); a change of cron or time zone keeps the payload's options."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from snapkeeper import clients, labels, slots
from snapkeeper.config import Config
from snapkeeper.errors import InvalidMessage, LabelError, ScheduleNotFound, ScheduleStateError
from snapkeeper.messages import Tick, parse_tick
from snapkeeper.options import ScheduleOptions

JOB_PREFIX = "snapkeeper-"
DEFAULT_TIME_ZONE = "Etc/UTC"
TIMEOUT = 30.0


@dataclass(frozen=True)
class ScheduleJob:
    schedule: str
    name: str
    cron: str
    time_zone: str
    state: str  # ENABLED | PAUSED | DISABLED | UPDATE_FAILED
    topic: str
    payload: Tick | None  # None when the job publishes something that is not a tick
    next_run: datetime | None
    last_attempt: datetime | None
    last_status: str

    @property
    def in_step(self) -> bool:
        """Whether the payload's schedule, cron and time zone match the job's (and it
        pins no time or projects); its options are its own."""
        return self.payload == self.tick

    @property
    def options(self) -> ScheduleOptions:
        return self.payload.options if self.payload else ScheduleOptions()

    @property
    def tick(self) -> Tick:
        """The tick this job publishes on schedule: its cron and time zone, and the
        options of its payload."""
        return Tick(self.schedule, self.cron, self.time_zone, options=self.options)


def parent(config: Config) -> str:
    return f"projects/{config.host_project}/locations/{config.scheduler_location}"


def job_name(config: Config, schedule: str) -> str:
    return f"{parent(config)}/jobs/{JOB_PREFIX}{schedule}"


def schedule_of(name: str) -> str | None:
    """The schedule of a job name, or None for a job that is not snapkeeper's."""
    job_id = name.rsplit("/", 1)[-1]
    if not job_id.startswith(JOB_PREFIX):
        return None
    schedule = job_id[len(JOB_PREFIX) :]
    try:
        return labels.validate_schedule_name(schedule)
    except LabelError:
        return None


def validate(schedule: str, cron: str, time_zone: str) -> None:
    """Raise InvalidMessage before any call when a job could not tick correctly."""
    try:
        labels.validate_schedule_name(schedule)
    except LabelError as exc:
        raise InvalidMessage(str(exc)) from None
    slots.validate_cron(cron)
    slots.zone(time_zone)


def _record(job: Any) -> ScheduleJob:
    try:
        payload: Tick | None = parse_tick(job.pubsub_target.data)
    except InvalidMessage:
        payload = None
    status = job.status.message if job.status and job.status.code else "OK"
    return ScheduleJob(
        schedule=schedule_of(job.name) or "",
        name=job.name,
        cron=job.schedule,
        time_zone=job.time_zone or DEFAULT_TIME_ZONE,
        state=job.state.name,
        topic=job.pubsub_target.topic_name,
        payload=payload,
        next_run=_time(job.schedule_time),
        last_attempt=_time(job.last_attempt_time),
        last_status=status if job.last_attempt_time else "",
    )


def _time(value: Any) -> datetime | None:
    # proto-plus gives DatetimeWithNanoseconds; an unset field is the epoch.
    if value is None or not isinstance(value, datetime) or value.timestamp() <= 0:
        return None
    return value


def _client(config: Config) -> Any:
    return clients.scheduler(config.endpoints.scheduler)


def list_jobs(config: Config) -> list[ScheduleJob]:
    """snapkeeper's jobs in the host project, by schedule name."""
    pager = _client(config).list_jobs(parent=parent(config), timeout=TIMEOUT)
    jobs = [_record(job) for job in pager if schedule_of(job.name)]
    return sorted(jobs, key=lambda job: job.schedule)


def get_job(config: Config, schedule: str) -> ScheduleJob | None:
    try:
        return _record(_client(config).get_job(name=job_name(config, schedule), timeout=TIMEOUT))
    except gexc.NotFound:
        return None


def require_job(config: Config, schedule: str) -> ScheduleJob:
    job = get_job(config, schedule)
    if job is None:
        raise ScheduleNotFound(f"no Cloud Scheduler job for schedule {schedule!r}")
    return job


def timing(config: Config, schedule: str) -> tuple[str, str] | None:
    """(cron, time zone) of a schedule's job, or None when it has none."""
    job = get_job(config, schedule)
    return (job.cron, job.time_zone) if job else None


def set_job(
    config: Config,
    schedule: str,
    cron: str | None,
    time_zone: str | None,
    options: ScheduleOptions | None = None,
) -> tuple[ScheduleJob, list[str]]:
    """Create the job, or update only what changed; returns it and the changed fields
    (["created"] for a new job, [] when nothing changed). `options` None keeps the
    payload's options as they are."""
    current = get_job(config, schedule)
    cron = cron or (current.cron if current else None)
    if not cron:
        raise InvalidMessage(f"schedule {schedule!r} has no job yet: --cron is required")
    time_zone = time_zone or (current.time_zone if current else DEFAULT_TIME_ZONE)
    validate(schedule, cron, time_zone)
    if options is None:
        options = current.options if current else ScheduleOptions()
    payload = Tick(schedule, cron, time_zone, options=options)
    topic = config.topic_path(config.tick_topic)
    job = scheduler_v1.Job(
        name=job_name(config, schedule),
        description=f"snapkeeper: ticks of the {schedule} schedule",
        schedule=cron,
        time_zone=time_zone,
        pubsub_target=scheduler_v1.PubsubTarget(topic_name=topic, data=payload.to_json()),
    )
    client = _client(config)
    if current is None:
        return _record(client.create_job(parent=parent(config), job=job, timeout=TIMEOUT)), [
            "created"
        ]
    changed = []
    if current.cron != cron:
        changed.append("schedule")
    if current.time_zone != time_zone:
        changed.append("time_zone")
    if current.payload != payload:
        changed.append("pubsub_target.data")
    if current.topic != topic:
        changed.append("pubsub_target.topic_name")
    if not changed:
        return current, []
    updated = client.update_job(
        job=job, update_mask=field_mask_pb2.FieldMask(paths=changed), timeout=TIMEOUT
    )
    return _record(updated), changed


def _verb(config: Config, schedule: str, verb: str) -> ScheduleJob:
    name = job_name(config, schedule)
    try:
        return _record(getattr(_client(config), f"{verb}_job")(name=name, timeout=TIMEOUT))
    except gexc.NotFound:
        raise ScheduleNotFound(f"no Cloud Scheduler job for schedule {schedule!r}") from None
    except (gexc.FailedPrecondition, gexc.BadRequest) as exc:
        # Pausing a paused job, resuming an enabled one (400 FAILED_PRECONDITION over REST).
        raise ScheduleStateError(f"{verb} {schedule}: {exc.message}") from None


def pause(config: Config, schedule: str) -> ScheduleJob:
    return _verb(config, schedule, "pause")


def resume(config: Config, schedule: str) -> ScheduleJob:
    return _verb(config, schedule, "resume")


def run(config: Config, schedule: str) -> ScheduleJob:
    """Fire the job now (Cloud Scheduler publishes its tick as on schedule)."""
    return _verb(config, schedule, "run")

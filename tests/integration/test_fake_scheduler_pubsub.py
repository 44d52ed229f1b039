"""The fake Cloud Scheduler fires into the real Pub/Sub emulator: on :run, and on cron
through the clock hook (`fire_due`), never by waiting for a real minute."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from google.cloud import scheduler_v1
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.types import PubsubMessage

from snapkeeper_local.scheduler import SchedulerServer, Trigger
from tests.conftest import EMULATOR_PROJECT

LOCATION = "asia-northeast1"
PARENT = f"projects/{EMULATOR_PROJECT}/locations/{LOCATION}"
TICK = {"schedule": "daily", "cron": "0 3 * * *", "time_zone": "Asia/Tokyo"}
PULL_TIMEOUT_SECONDS = 30.0
TIME_ZONE = "Asia/Tokyo"


@dataclass(frozen=True)
class TickTopic:
    topic: str
    subscription: str
    subscriber: SubscriberClient

    def pull(self, expected: int) -> list[PubsubMessage]:
        """Pull (and ack) until `expected` messages came, within the timeout."""
        messages: list[PubsubMessage] = []
        for _ in range(10):
            response = self.subscriber.pull(
                subscription=self.subscription,
                max_messages=10,
                timeout=PULL_TIMEOUT_SECONDS,
            )
            if response.received_messages:
                self.subscriber.acknowledge(
                    subscription=self.subscription,
                    ack_ids=[received.ack_id for received in response.received_messages],
                )
            messages += [received.message for received in response.received_messages]
            if len(messages) >= expected:
                break
        return messages


@pytest.fixture
def tick_topic(pubsub_env: str) -> Iterator[TickTopic]:
    """A fresh topic and subscription in the emulator, deleted afterwards."""
    publisher = PublisherClient()
    subscriber = SubscriberClient()
    suffix = uuid.uuid4().hex[:8]
    topic = publisher.topic_path(EMULATOR_PROJECT, f"snapkeeper-ticks-{suffix}")
    subscription = subscriber.subscription_path(EMULATOR_PROJECT, f"ticks-sub-{suffix}")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic)
    try:
        yield TickTopic(topic, subscription, subscriber)
    finally:
        subscriber.delete_subscription(subscription=subscription)
        publisher.delete_topic(topic=topic)
        subscriber.close()


def far_daily_schedule() -> str:
    """A daily cron about 12 hours away, so the server's real cron loop never fires it
    during a test: firing here is driven by the clock hook alone."""
    hour = (datetime.now(ZoneInfo(TIME_ZONE)).hour + 12) % 24
    return f"0 {hour} * * *"


def tick_job(topic: str, job_id: str = "snapkeeper-daily") -> scheduler_v1.Job:
    return scheduler_v1.Job(
        name=f"{PARENT}/jobs/{job_id}",
        schedule=far_daily_schedule(),
        time_zone=TIME_ZONE,
        pubsub_target=scheduler_v1.PubsubTarget(
            topic_name=topic,
            data=json.dumps(TICK).encode(),
            attributes={"schedule": "daily", "origin": "cloud-scheduler"},
        ),
    )


def test_run_lands_the_message_in_a_subscription(
    scheduler: scheduler_v1.CloudSchedulerClient,
    fake_scheduler: SchedulerServer,
    tick_topic: TickTopic,
) -> None:
    job = scheduler.create_job(parent=PARENT, job=tick_job(tick_topic.topic))
    ran = scheduler.run_job(name=job.name)
    assert ran.status.code == 0
    assert ran.last_attempt_time is not None

    [message] = tick_topic.pull(expected=1)
    assert json.loads(message.data) == TICK
    assert dict(message.attributes) == {"schedule": "daily", "origin": "cloud-scheduler"}

    [attempt] = fake_scheduler.admin.attempts()
    assert attempt.job_name == job.name
    assert attempt.topic == tick_topic.topic
    assert attempt.trigger is Trigger.RUN
    assert attempt.ok and attempt.message_id == message.message_id


def test_cron_fires_at_schedule_time_through_the_clock_hook(
    scheduler: scheduler_v1.CloudSchedulerClient,
    fake_scheduler: SchedulerServer,
    tick_topic: TickTopic,
) -> None:
    job = scheduler.create_job(parent=PARENT, job=tick_job(tick_topic.topic))
    due = job.schedule_time  # the next fire time, in Tokyo's wall clock
    assert due.astimezone(ZoneInfo(TIME_ZONE)).minute == 0

    # A second before: nothing fires.
    assert fake_scheduler.backend.fire_due(due - timedelta(seconds=1)) == []
    # At the fire time: one message, and the job moves to the same hour the next day.
    [attempt] = fake_scheduler.backend.fire_due(due)
    assert attempt.ok and attempt.trigger is Trigger.SCHEDULE
    [message] = tick_topic.pull(expected=1)
    assert json.loads(message.data) == TICK

    after = scheduler.get_job(name=job.name)
    assert after.last_attempt_time == due
    assert after.schedule_time == due + timedelta(days=1)
    assert after.status.code == 0


def test_paused_jobs_do_not_fire_on_cron(
    scheduler: scheduler_v1.CloudSchedulerClient,
    fake_scheduler: SchedulerServer,
    tick_topic: TickTopic,
) -> None:
    job = scheduler.create_job(parent=PARENT, job=tick_job(tick_topic.topic))
    scheduler.pause_job(name=job.name)
    assert fake_scheduler.backend.fire_due(job.schedule_time + timedelta(days=3)) == []
    assert fake_scheduler.admin.attempts() == []


def test_the_admin_api_fires_due_jobs_too(
    scheduler: scheduler_v1.CloudSchedulerClient,
    fake_scheduler: SchedulerServer,
    tick_topic: TickTopic,
) -> None:
    job = scheduler.create_job(parent=PARENT, job=tick_job(tick_topic.topic))
    [attempt] = fake_scheduler.admin.fire_due(job.schedule_time)
    assert attempt.ok and attempt.time == job.schedule_time
    assert len(tick_topic.pull(expected=1)) == 1


def test_a_missing_topic_records_not_found_and_firing_goes_on(
    scheduler: scheduler_v1.CloudSchedulerClient,
    fake_scheduler: SchedulerServer,
    tick_topic: TickTopic,
) -> None:
    missing = f"projects/{EMULATOR_PROJECT}/topics/never-created-{uuid.uuid4().hex[:8]}"
    broken = scheduler.create_job(parent=PARENT, job=tick_job(missing, "a-broken"))
    fine = scheduler.create_job(parent=PARENT, job=tick_job(tick_topic.topic, "b-fine"))

    attempts = fake_scheduler.backend.fire_due(max(broken.schedule_time, fine.schedule_time))
    assert sorted((a.job_name, a.status) for a in attempts) == [
        (broken.name, "NOT_FOUND"),
        (fine.name, "OK"),
    ]
    assert scheduler.get_job(name=broken.name).status.code == 5  # google.rpc NOT_FOUND
    assert len(tick_topic.pull(expected=1)) == 1
    # The cron loop thread is still alive after the failure.
    assert fake_scheduler.cron_alive

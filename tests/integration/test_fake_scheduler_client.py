"""Every endpoint of the fake Cloud Scheduler through the real `google-cloud-scheduler`
client (AnonymousCredentials, transport="rest"), errors included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from google.api_core import exceptions
from google.cloud import scheduler_v1
from google.protobuf import field_mask_pb2

from snapkeeper_local.scheduler import SchedulerServer

PROJECT = "snapkeeper-host"
LOCATION = "asia-northeast1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TOPIC = f"projects/{PROJECT}/topics/snapkeeper-ticks"
TICK = b'{"schedule": "daily", "cron": "0 3 * * *", "time_zone": "Asia/Tokyo"}'


def daily_job(job_id: str = "snapkeeper-daily", **fields: object) -> scheduler_v1.Job:
    values: dict[str, object] = {
        "name": f"{PARENT}/jobs/{job_id}",
        "description": "snapkeeper daily tick",
        "schedule": "0 3 * * *",
        "time_zone": "Asia/Tokyo",
        "pubsub_target": scheduler_v1.PubsubTarget(
            topic_name=TOPIC, data=TICK, attributes={"schedule": "daily"}
        ),
    }
    values.update(fields)
    return scheduler_v1.Job(**values)


def test_create_and_get_round_trip(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    created = scheduler.create_job(parent=PARENT, job=daily_job())
    assert created.name == f"{PARENT}/jobs/snapkeeper-daily"
    assert created.state == scheduler_v1.Job.State.ENABLED
    assert created.pubsub_target.data == TICK
    assert dict(created.pubsub_target.attributes) == {"schedule": "daily"}
    assert created.retry_config.min_backoff_duration.total_seconds() == 5
    assert created.retry_config.max_doublings == 5
    assert created.attempt_deadline.total_seconds() == 180
    # The next 03:00 in Tokyo, which is 18:00 UTC.
    schedule_time = created.schedule_time
    assert schedule_time > datetime.now(UTC)
    assert (schedule_time.hour, schedule_time.minute) == (18, 0)

    fetched = scheduler.get_job(name=created.name)
    assert fetched == created


def test_empty_time_zone_defaults_to_etc_utc(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    job = scheduler.create_job(parent=PARENT, job=daily_job(time_zone=""))
    assert job.time_zone == "Etc/UTC"


def test_list_pages_through_every_job(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    for index in range(5):
        scheduler.create_job(parent=PARENT, job=daily_job(f"job-{index}"))
    pager = scheduler.list_jobs(request={"parent": PARENT, "page_size": 2})
    pages = list(pager.pages)
    assert [len(page.jobs) for page in pages] == [2, 2, 1]
    assert [job.name for page in pages for job in page.jobs] == [
        f"{PARENT}/jobs/job-{index}" for index in range(5)
    ]
    other = "projects/another-project/locations/us-central1"
    assert list(scheduler.list_jobs(parent=other)) == []


def test_patch_with_update_mask_changes_only_the_masked_fields(
    scheduler: scheduler_v1.CloudSchedulerClient,
) -> None:
    created = scheduler.create_job(parent=PARENT, job=daily_job())
    change = scheduler_v1.Job(
        name=created.name, schedule="0 4 * * *", description="not in the mask", time_zone="UTC"
    )
    updated = scheduler.update_job(
        job=change, update_mask=field_mask_pb2.FieldMask(paths=["schedule"])
    )
    assert updated.schedule == "0 4 * * *"
    assert updated.description == "snapkeeper daily tick"
    assert updated.time_zone == "Asia/Tokyo"
    assert updated.pubsub_target.data == TICK
    assert updated.user_update_time >= created.user_update_time
    assert updated.schedule_time.hour == 19  # 04:00 in Tokyo
    assert scheduler.get_job(name=created.name) == updated


def test_patch_of_a_nested_field(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    created = scheduler.create_job(parent=PARENT, job=daily_job())
    change = scheduler_v1.Job(
        name=created.name,
        pubsub_target=scheduler_v1.PubsubTarget(topic_name=TOPIC + "-v2", data=b"ignored"),
    )
    updated = scheduler.update_job(
        job=change, update_mask=field_mask_pb2.FieldMask(paths=["pubsub_target.topic_name"])
    )
    assert updated.pubsub_target.topic_name == TOPIC + "-v2"
    assert updated.pubsub_target.data == TICK


def test_pause_resume_and_run(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    name = scheduler.create_job(parent=PARENT, job=daily_job()).name
    paused = scheduler.pause_job(name=name)
    assert paused.state == scheduler_v1.Job.State.PAUSED
    resumed = scheduler.resume_job(name=name)
    assert resumed.state == scheduler_v1.Job.State.ENABLED
    ran = scheduler.run_job(name=name)
    assert ran.last_attempt_time.year >= 2024
    # The topic was never created in the emulator: the attempt records NOT_FOUND.
    assert ran.status.code == 5


def test_delete(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    name = scheduler.create_job(parent=PARENT, job=daily_job()).name
    scheduler.delete_job(name=name)
    with pytest.raises(exceptions.NotFound):
        scheduler.get_job(name=name)


def test_errors_arrive_as_api_core_exceptions(
    scheduler: scheduler_v1.CloudSchedulerClient,
) -> None:
    scheduler.create_job(parent=PARENT, job=daily_job())
    with pytest.raises(exceptions.Conflict, match="already exists") as conflict:
        scheduler.create_job(parent=PARENT, job=daily_job())
    assert conflict.value.code == 409
    missing = f"{PARENT}/jobs/missing"
    for call in (
        scheduler.get_job,
        scheduler.delete_job,
        scheduler.pause_job,
        scheduler.resume_job,
        scheduler.run_job,
    ):
        with pytest.raises(exceptions.NotFound, match="Job not found"):
            call(name=missing)
    with pytest.raises(exceptions.NotFound):
        scheduler.update_job(
            job=daily_job("missing"), update_mask=field_mask_pb2.FieldMask(paths=["schedule"])
        )


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (daily_job(schedule="0 3 * *"), "Schedule or time zone is invalid"),
        (daily_job(schedule="every 5 minutes"), "Schedule or time zone is invalid"),
        (daily_job(time_zone="Asia/Atlantis"), "Schedule or time zone is invalid"),
        (daily_job("bad.name"), "Job name must be formatted"),
        (
            daily_job(pubsub_target=scheduler_v1.PubsubTarget(topic_name="ticks", data=b"x")),
            "Topic name must be formatted",
        ),
        (
            daily_job(pubsub_target=None, http_target=scheduler_v1.HttpTarget(uri="https://x")),
            "Only Pub/Sub targets are supported by this local fake",
        ),
        (
            daily_job(
                pubsub_target=None,
                app_engine_http_target=scheduler_v1.AppEngineHttpTarget(relative_uri="/tick"),
            ),
            "Only Pub/Sub targets are supported by this local fake",
        ),
    ],
)
def test_invalid_jobs_are_bad_request(
    scheduler: scheduler_v1.CloudSchedulerClient, job: scheduler_v1.Job, message: str
) -> None:
    with pytest.raises(exceptions.BadRequest, match=message) as error:
        scheduler.create_job(parent=PARENT, job=job)
    assert error.value.code == 400
    assert error.value.response is not None
    assert error.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_pausing_a_paused_job_is_a_failed_precondition(
    scheduler: scheduler_v1.CloudSchedulerClient,
) -> None:
    name = scheduler.create_job(parent=PARENT, job=daily_job()).name
    scheduler.pause_job(name=name)
    with pytest.raises(exceptions.BadRequest) as error:
        scheduler.pause_job(name=name)
    assert error.value.response is not None
    assert error.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_invalid_update_is_bad_request_and_changes_nothing(
    scheduler: scheduler_v1.CloudSchedulerClient,
) -> None:
    created = scheduler.create_job(parent=PARENT, job=daily_job())
    with pytest.raises(exceptions.BadRequest, match="Schedule or time zone is invalid"):
        scheduler.update_job(
            job=scheduler_v1.Job(name=created.name, time_zone="Nowhere/Land"),
            update_mask=field_mask_pb2.FieldMask(paths=["time_zone"]),
        )
    assert scheduler.get_job(name=created.name) == created


def test_locations_mixin(scheduler: scheduler_v1.CloudSchedulerClient) -> None:
    from google.cloud.location import locations_pb2

    response = scheduler.list_locations(
        locations_pb2.ListLocationsRequest(name=f"projects/{PROJECT}")
    )
    ids = [location.location_id for location in response.locations]
    assert LOCATION in ids and "us-central1" in ids
    location = scheduler.get_location(
        locations_pb2.GetLocationRequest(name=f"projects/{PROJECT}/locations/{LOCATION}")
    )
    assert location.labels["cloud.googleapis.com/region"] == LOCATION


def test_unknown_paths_answer_google_style_json(fake_scheduler: SchedulerServer) -> None:
    response = requests.get(f"{fake_scheduler.url}/v1/nothing/here", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    bad_json = requests.post(
        f"{fake_scheduler.url}/v1/{PARENT}/jobs", data=b"{not json", timeout=10
    )
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_request_log_shows_what_the_client_sent(
    scheduler: scheduler_v1.CloudSchedulerClient, fake_scheduler: SchedulerServer
) -> None:
    created = scheduler.create_job(parent=PARENT, job=daily_job())
    scheduler.update_job(job=created, update_mask=field_mask_pb2.FieldMask(paths=["schedule"]))
    seen = [(entry["method"], entry["path"]) for entry in fake_scheduler.admin.requests()]
    assert seen == [
        ("POST", f"/v1/{PARENT}/jobs"),
        ("PATCH", f"/v1/{created.name}"),
    ]
    assert "updateMask=schedule" in fake_scheduler.admin.requests()[1]["query"]

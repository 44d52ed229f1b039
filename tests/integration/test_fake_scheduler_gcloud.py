"""The real gcloud CLI against the fake Cloud Scheduler: the commands deploy.sh and an
operator use, and the extra calls gcloud makes (checked in the fake's request log)."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from snapkeeper_local.scheduler import JobState, SchedulerServer, Trigger
from tests.support_gcloud import Finished, gcloud_env, run_command

PROJECT = "snapkeeper-host"
LOCATION = "asia-northeast1"
JOB = "snapkeeper-daily"
JOB_NAME = f"projects/{PROJECT}/locations/{LOCATION}/jobs/{JOB}"
GCLOUD_TIMEOUT_SECONDS = 120.0

pytestmark = pytest.mark.usefixtures("gcloud_cli")


@dataclass(frozen=True)
class Gcloud:
    env: dict[str, str]

    def __call__(self, *args: str, check: bool = True) -> Finished:
        """Run gcloud in its own process group; on timeout the whole group is killed."""
        result = run_command(["gcloud", *args], env=self.env, timeout=GCLOUD_TIMEOUT_SECONDS)
        if check and result.returncode != 0:
            pytest.fail(f"gcloud {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture
def gcloud(fake_scheduler: SchedulerServer) -> Iterator[Gcloud]:
    with tempfile.TemporaryDirectory(prefix="snapkeeper-gcloud-") as config_dir:
        overrides = {
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER": fake_scheduler.url + "/",
            # gcloud asks App Engine for a default location when --location is absent.
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_APPENGINE": fake_scheduler.url + "/",
            "CLOUDSDK_CORE_PROJECT": PROJECT,
        }
        yield Gcloud(gcloud_env(Path(config_dir), overrides))


def api_calls(server: SchedulerServer) -> list[tuple[str, str]]:
    calls = [(entry["method"], entry["path"]) for entry in server.admin.requests()]
    server.request_log.clear()
    return calls


def test_gcloud_job_lifecycle(gcloud: Gcloud, fake_scheduler: SchedulerServer) -> None:
    location = f"--location={LOCATION}"
    gcloud(
        "scheduler", "jobs", "create", "pubsub", JOB, location,
        "--schedule=0 3 * * *", "--time-zone=Asia/Tokyo", "--topic=snapkeeper-ticks",
        '--message-body={"schedule":"daily"}', f"--project={PROJECT}",
    )  # fmt: skip
    assert api_calls(fake_scheduler) == [
        ("POST", f"/v1/projects/{PROJECT}/locations/{LOCATION}/jobs")
    ]

    described = gcloud("scheduler", "jobs", "describe", JOB, location, "--format=json").json()
    assert described["name"] == JOB_NAME
    assert described["schedule"] == "0 3 * * *"
    assert described["timeZone"] == "Asia/Tokyo"
    assert described["state"] == "ENABLED"
    assert described["pubsubTarget"]["topicName"] == f"projects/{PROJECT}/topics/snapkeeper-ticks"
    assert base64.b64decode(described["pubsubTarget"]["data"]) == b'{"schedule":"daily"}'
    assert api_calls(fake_scheduler) == [("GET", f"/v1/{JOB_NAME}")]

    gcloud("scheduler", "jobs", "update", "pubsub", JOB, location, "--schedule=0 4 * * *")
    [update] = fake_scheduler.admin.requests()
    assert (update["method"], update["path"]) == ("PATCH", f"/v1/{JOB_NAME}")
    assert "updateMask=schedule" in update["query"]  # gcloud masks exactly what it changes
    api_calls(fake_scheduler)
    after_update = fake_scheduler.backend.get_job(JOB_NAME)
    assert after_update.schedule == "0 4 * * *"
    assert after_update.time_zone == "Asia/Tokyo"
    assert after_update.pubsub_target.data == b'{"schedule":"daily"}'

    paused = gcloud("scheduler", "jobs", "pause", JOB, location)
    assert "Job has been paused." in paused.stderr
    assert fake_scheduler.backend.get_job(JOB_NAME).state is JobState.PAUSED
    gcloud("scheduler", "jobs", "resume", JOB, location)
    assert fake_scheduler.backend.get_job(JOB_NAME).state is JobState.ENABLED
    assert api_calls(fake_scheduler) == [
        ("POST", f"/v1/{JOB_NAME}:pause"),
        ("POST", f"/v1/{JOB_NAME}:resume"),
    ]

    gcloud("scheduler", "jobs", "run", JOB, location)
    assert api_calls(fake_scheduler) == [("POST", f"/v1/{JOB_NAME}:run")]
    # snapkeeper-ticks does not exist in the emulator here: a recorded NOT_FOUND attempt.
    [attempt] = fake_scheduler.admin.attempts()
    assert (attempt.job_name, attempt.trigger, attempt.status) == (
        JOB_NAME,
        Trigger.RUN,
        "NOT_FOUND",
    )

    listed = gcloud("scheduler", "jobs", "list", location, "--format=json").json()
    assert [(job["name"], job["schedule"], job["state"]) for job in listed] == [
        (JOB_NAME, "0 4 * * *", "ENABLED")
    ]

    gcloud("scheduler", "jobs", "delete", JOB, location)
    assert gcloud("scheduler", "jobs", "list", location, "--format=json").json() == []
    assert api_calls(fake_scheduler) == [
        ("GET", f"/v1/projects/{PROJECT}/locations/{LOCATION}/jobs"),
        ("DELETE", f"/v1/{JOB_NAME}"),
        ("GET", f"/v1/projects/{PROJECT}/locations/{LOCATION}/jobs"),
    ]


def test_gcloud_shows_the_fakes_errors(gcloud: Gcloud) -> None:
    bad = gcloud(
        "scheduler", "jobs", "create", "pubsub", JOB, f"--location={LOCATION}",
        "--schedule=0 3 * *", "--topic=snapkeeper-ticks", "--message-body=x",
        check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "Schedule or time zone is invalid." in bad.stderr
    missing = gcloud("scheduler", "jobs", "describe", "nope", f"--location={LOCATION}", check=False)
    assert missing.returncode != 0 and "NOT_FOUND" in missing.stderr


def test_gcloud_without_location_asks_app_engine_and_is_told_there_is_no_app(
    gcloud: Gcloud, fake_scheduler: SchedulerServer
) -> None:
    result = gcloud("scheduler", "jobs", "list", "--format=json", check=False)
    assert result.returncode != 0
    assert "Please use the location flag" in result.stderr
    # The only call: App Engine's apps.get, answered 404 as for a project without an app.
    assert api_calls(fake_scheduler) == [("GET", f"/v1/apps/{PROJECT}")]


def test_gcloud_locations_list(gcloud: Gcloud, fake_scheduler: SchedulerServer) -> None:
    locations = gcloud("scheduler", "locations", "list", "--format=json").json()
    by_id = {item["locationId"]: item for item in locations}
    assert by_id[LOCATION] == {
        "locationId": LOCATION,
        "name": f"projects/{PROJECT}/locations/{LOCATION}",
        "labels": {"cloud.googleapis.com/region": LOCATION},
    }
    assert api_calls(fake_scheduler) == [("GET", f"/v1/projects/{PROJECT}/locations")]

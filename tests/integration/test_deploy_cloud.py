"""deploy.sh (the cloud deployment) with the real gcloud against local endpoints: the
recorder (local/snapkeeper_local/recorder.py) for Cloud Functions, IAM, Resource Manager,
Service Usage, Cloud Build, Cloud Run, Eventarc, Logging and Monitoring; the Pub/Sub
emulator behind it; the fake Cloud Scheduler.

One deployment per module (it takes ~30 s); the tests read what it did. The last tests
take the source archive gcloud uploaded, install it in a clean virtualenv from its own
requirements.txt and serve it with functions-framework: a real tick leads to work
messages and a snapshot."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import venv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.processes import stop_group
from snapkeeper_local.pubsub_emulator import PubSubEmulator, free_port
from snapkeeper_local.recorder import Recorder, project_number
from snapkeeper_local.scheduler import SchedulerServer
from snapkeeper_local.stack import wait_for
from tests.integration.test_deploy_local import (
    LOCATION,
    Clients,
    Run,
    deployed,
    gcloud_env,
    jobs,
    run_deploy,
    unique_project,
    write_config,
)

# A deploy runs some hundred gcloud commands, each a Python start of its own: on a busy
# machine one deploy can take minutes.
pytestmark = pytest.mark.timeout(1200)
CLOUD_DEPLOY_TIMEOUT_SECONDS = 900.0


def cloud_deploy(*args: str, env: dict[str, str]) -> Run:
    return run_deploy(*args, env=env, timeout=CLOUD_DEPLOY_TIMEOUT_SECONDS)


TARGETS = ("prod-app-1", "prod-db-2")
VAULT = "vault-backups-1"
FOLDER, ORGANIZATION = "111", "999"  # TARGET_FOLDERS, ROLE_ORGANIZATION
CHANNEL = "projects/{project}/notificationChannels/42"
ENUMERATOR_PERMISSIONS = [
    "compute.disks.list",
    "compute.instances.list",
    "compute.snapshots.list",  # orphans: the managed snapshots where they are kept
]
SNAPSHOT_PERMISSIONS = [
    "compute.disks.createSnapshot",
    "compute.disks.get",  # N is read from the disk's labels before pruning
    "compute.globalOperations.get",  # follows the insert's operation to READY
    "compute.instances.get",  # ...or from its instance's
    "compute.projects.get",  # the quota guard reads the SNAPSHOTS quota
    "compute.snapshots.create",
    "compute.snapshots.delete",
    "compute.snapshots.get",
    "compute.snapshots.list",
    "compute.snapshots.setLabels",
    "compute.snapshots.useReadOnly",  # a restore drill restores from it
]
SCRATCH = "drill-scratch-1"
SCRATCH_ZONE = "us-central1-b"
DRILL_PERMISSIONS = [
    "compute.disks.create",
    "compute.disks.delete",
    "compute.disks.get",
    "compute.disks.list",
    "compute.disks.setLabels",
    "compute.zoneOperations.get",
]
BROAD_ROLES = {"roles/editor", "roles/owner", "roles/compute.admin", "roles/compute.storageAdmin"}
PUBLIC = {"allUsers", "allAuthenticatedUsers"}
# Not the defaults (420 s, 20), so that the deployment shows they come from the config.
READY_WAIT_SECONDS = 400
SNAPSHOT_TIMEOUT = READY_WAIT_SECONDS + 60
SNAPSHOT_CONCURRENCY = 8
ENUMERATOR_TIMEOUT = 540
# Eventarc's subscription as the recorder makes it: Pub/Sub's default ack deadline, far
# shorter than either function's timeout.
EVENTARC_ACK_DEADLINE = 10
LEGACY_METRIC = "snapkeeper_snapshots_created"
PIP_TIMEOUT_SECONDS = 600.0
READY_TIMEOUT_SECONDS = 60.0
SETTLE_TIMEOUT_SECONDS = 120.0


@pytest.fixture
def pubsub(pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> Clients:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    return Clients(PublisherClient(), SubscriberClient())


@dataclass
class Deployment:
    project: str
    recorder: Recorder
    config: Path
    env: dict[str, str]
    first: Run

    def sa(self, name: str) -> str:
        return f"serviceAccount:{name}@{self.project}.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def deployment(
    pubsub_emulator: PubSubEmulator,
    scheduler_server: SchedulerServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    project = unique_project("cl")
    directory = tmp_path_factory.mktemp("deploy-cloud")
    (directory / "gcloud").mkdir()
    config = write_config(
        directory,
        project,
        {
            "SNAPSHOT_PROJECT": VAULT,
            "DEFAULT_STORAGE_LOCATION": "eu",
            "NOTIFICATION_CHANNELS": CHANNEL.format(project=project),
            "READY_WAIT_SECONDS": str(READY_WAIT_SECONDS),
            "SNAPSHOT_CONCURRENCY": str(SNAPSHOT_CONCURRENCY),
            "DRILL_SCHEDULE": "0 5 * * 1|UTC",
            "DRILL_SAMPLE": "2",
            "SCRATCH_PROJECT": SCRATCH,
            "SCRATCH_ZONE": SCRATCH_ZONE,
            "TARGET_FOLDERS": FOLDER,
            "ROLE_ORGANIZATION": ORGANIZATION,
        },
        ("daily|0 3 * * *|Asia/Tokyo", "weekly|0 4 * * 0|UTC|type=ARCHIVE,max-age=400d"),
    )
    with Recorder(
        pubsub_emulator.host, trigger_ack_deadline_seconds=EVENTARC_ACK_DEADLINE
    ) as recorder:
        # The metric the stale-disk alerts watched before they counted READY snapshots,
        # as an earlier deploy.sh made it.
        recorder.seed_metric(
            project,
            {
                "name": LEGACY_METRIC,
                "description": "Snapshots created by snapkeeper, per disk and schedule. "
                "Managed by deploy.sh (0123456789abcdef).",
                "filter": 'jsonPayload.action="created"',
            },
        )
        env = gcloud_env(
            directory / "gcloud",
            {
                **recorder.gcloud_env(),
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER": scheduler_server.url + "/",
            },
        )
        first = deployed(cloud_deploy("--config", str(config), env=env))
        yield Deployment(project, recorder, config, env, first)


def bindings(policy: dict[str, Any]) -> set[tuple[str, str]]:
    return {(b["role"], m) for b in policy.get("bindings", []) for m in b.get("members", [])}


def trigger_subscription(deployment: Deployment, function: str) -> str:
    """The id of the subscription Eventarc made for the function's trigger."""
    trigger = deployment.recorder.function(function)["eventTrigger"]["trigger"]
    transport = deployment.recorder.state.triggers[trigger]["transport"]["pubsub"]
    return str(transport["subscription"]).rsplit("/", 1)[1]


def json_payload_clauses(log_filter: str) -> dict[str, str]:
    """The jsonPayload.KEY="VALUE" terms of a Logging filter (all ANDed in ours)."""
    return dict(re.findall(r'jsonPayload\.(\w+)="([^"]*)"', log_filter))


def created(recorder: Recorder, api: str, path_suffix: str) -> list[Any]:
    return [
        r.body
        for r in recorder.calls(api, mutating=True)
        if r.method == "POST" and r.path.endswith(path_suffix)
    ]


# -- what the first run made -----------------------------------------------------------------


def test_functions_are_deployed_with_their_settings(deployment: Deployment) -> None:
    project, recorder = deployment.project, deployment.recorder
    enumerator = recorder.function("snapkeeper-enumerator")
    snapshot = recorder.function("snapkeeper-snapshot")
    common_env = {
        "GOOGLE_CLOUD_PROJECT": project,
        "TARGET_PROJECTS": ",".join(TARGETS),
        "TICK_TOPIC": "snapkeeper-ticks",
        "WORK_TOPIC": "snapkeeper-work",
        "DEAD_LETTER_TOPIC": "snapkeeper-dead-letter",
        "DEAD_LETTER_SUBSCRIPTION": "snapkeeper-dead-letter-sub",
        "LABEL_PREFIX": "snapshot-",
        "MAX_DELIVERY_ATTEMPTS": "10",
        "ORPHAN_POLICY": "keep",
        "SCHEDULER_LOCATION": LOCATION,
        "DEPLOYMENT_ID": "default",
        "MIN_KEEP": "3",
        "MAX_DELETES_PER_RUN": "3",
        "SNAPSHOT_PROJECT": VAULT,
        "DEFAULT_STORAGE_LOCATION": "eu",
        "SCRATCH_PROJECT": SCRATCH,
        "SCRATCH_ZONE": SCRATCH_ZONE,
        "DRILL_SAMPLE": "2",
        "TARGET_FOLDERS": f"folders/{FOLDER}",
    }
    for function, entry, topic, sa, timeout, env in (
        (
            enumerator,
            "enumerate_disks",
            "snapkeeper-ticks",
            "snapkeeper-enumerator",
            ENUMERATOR_TIMEOUT,
            common_env,
        ),
        (
            snapshot,
            "snapshot_disk",
            "snapkeeper-work",
            "snapkeeper-snapshot",
            SNAPSHOT_TIMEOUT,  # READY_WAIT_SECONDS + 60 s
            {
                **common_env,
                "READY_WAIT_SECONDS": str(READY_WAIT_SECONDS),
                "COMPUTE_WRITE_QUOTA_PER_MINUTE": "375",  # pacing: each instance's share
                "SNAPSHOT_MAX_INSTANCES": "50",
                "QUOTA_GUARD_PERCENT": "90",
            },
        ),
    ):
        assert function["buildConfig"]["runtime"] == "python312"
        assert function["buildConfig"]["entryPoint"] == entry
        trigger = function["eventTrigger"]
        assert trigger["pubsubTopic"] == f"projects/{project}/topics/{topic}"
        assert trigger["retryPolicy"] == "RETRY_POLICY_RETRY"
        assert (
            trigger["serviceAccountEmail"]
            == f"snapkeeper-trigger@{project}.iam.gserviceaccount.com"
        )
        service = function["serviceConfig"]
        assert service["serviceAccountEmail"] == f"{sa}@{project}.iam.gserviceaccount.com"
        assert service["timeoutSeconds"] == timeout
        assert service["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
        assert service["environmentVariables"] == env
    assert snapshot["serviceConfig"]["maxInstanceCount"] == 50
    # It waits for READY (I/O) for many messages at once: concurrency needs a whole vCPU,
    # and 1 vCPU 512 MiB at least.
    assert snapshot["serviceConfig"]["maxInstanceRequestConcurrency"] == SNAPSHOT_CONCURRENCY
    assert snapshot["serviceConfig"]["availableCpu"] == "1"
    assert snapshot["serviceConfig"]["availableMemory"] == "512Mi"
    assert "maxInstanceRequestConcurrency" not in enumerator["serviceConfig"]


def test_the_subscriptions_feeding_the_functions_retry_and_dead_letter(
    deployment: Deployment, pubsub: Clients
) -> None:
    project = deployment.project
    subs = pubsub.subscriptions(project)
    dead_letter_topic = f"projects/{project}/topics/snapkeeper-dead-letter"
    for function, topic, timeout in (
        ("snapkeeper-enumerator", "snapkeeper-ticks", ENUMERATOR_TIMEOUT),
        ("snapkeeper-snapshot", "snapkeeper-work", SNAPSHOT_TIMEOUT),
    ):
        name = trigger_subscription(deployment, function)
        sub = subs[name]  # as Eventarc made it...
        assert sub["topic"] == f"projects/{project}/topics/{topic}"
        # ...with deploy.sh's policies on it...
        assert sub["deadLetterPolicy"] == {
            "deadLetterTopic": dead_letter_topic,
            "maxDeliveryAttempts": 10,
        }
        assert sub["retryPolicy"] == {"minimumBackoff": "10s", "maximumBackoff": "600s"}
        # ...and its 10 s ack deadline raised to the function's timeout, in the same update.
        assert sub["ackDeadlineSeconds"] == timeout
        [update] = [c for c in deployment.first.changes if f"subscriptions update {name} " in c]
        assert f"--ack-deadline={timeout}" in update and "--dead-letter-topic=" in update
    operators = subs["snapkeeper-dead-letter-sub"]
    assert operators["topic"] == dead_letter_topic and "deadLetterPolicy" not in operators
    assert pubsub.topics(project) == [
        "snapkeeper-dead-letter",
        "snapkeeper-ticks",
        "snapkeeper-work",
    ]


def test_custom_roles_hold_only_what_each_function_needs(deployment: Deployment) -> None:
    roles = deployment.recorder.state.roles
    expected = {
        **{f"projects/{p}/roles/snapkeeperEnumerator": ENUMERATOR_PERMISSIONS for p in TARGETS},
        **{f"projects/{p}/roles/snapkeeperSnapshot": SNAPSHOT_PERMISSIONS for p in TARGETS},
        f"projects/{VAULT}/roles/snapkeeperSnapshot": SNAPSHOT_PERMISSIONS,
        f"projects/{VAULT}/roles/snapkeeperEnumerator": ENUMERATOR_PERMISSIONS,
        # Disks are made and deleted in the scratch project only.
        f"projects/{SCRATCH}/roles/snapkeeperDrill": DRILL_PERMISSIONS,
        # Defined once in the organization, to be granted on the target folder.
        f"organizations/{ORGANIZATION}/roles/snapkeeperEnumerator": ENUMERATOR_PERMISSIONS,
        f"organizations/{ORGANIZATION}/roles/snapkeeperSnapshot": SNAPSHOT_PERMISSIONS,
    }
    assert {name: sorted(r["includedPermissions"]) for name, r in roles.items()} == expected
    for role in roles.values():
        assert role["stage"] == "GA" and role["title"].startswith("snapkeeper")


def test_each_service_account_gets_its_role_in_every_project_and_nothing_broad(
    deployment: Deployment,
) -> None:
    recorder, project = deployment.recorder, deployment.project
    enumerator, snapshot = (
        deployment.sa("snapkeeper-enumerator"),
        deployment.sa("snapkeeper-snapshot"),
    )
    accounts = sorted(created(recorder, "iam", f"projects/{project}/serviceAccounts"), key=str)
    assert sorted(a["accountId"] for a in accounts) == [
        "snapkeeper-enumerator",
        "snapkeeper-snapshot",
        "snapkeeper-trigger",
    ]
    for target in TARGETS:
        assert bindings(recorder.policy("cloudresourcemanager", f"projects/{target}")) == {
            (f"projects/{target}/roles/snapkeeperEnumerator", enumerator),
            (f"projects/{target}/roles/snapkeeperSnapshot", snapshot),
        }
    assert bindings(recorder.policy("cloudresourcemanager", f"projects/{VAULT}")) == {
        (f"projects/{VAULT}/roles/snapkeeperEnumerator", enumerator),  # orphans in the vault
        (f"projects/{VAULT}/roles/snapkeeperSnapshot", snapshot),
    }
    assert bindings(recorder.policy("cloudresourcemanager", f"projects/{SCRATCH}")) == {
        (f"projects/{SCRATCH}/roles/snapkeeperDrill", snapshot)
    }
    roles = f"organizations/{ORGANIZATION}/roles"
    assert bindings(recorder.policy("cloudresourcemanager", f"folders/{FOLDER}")) == {
        (f"{roles}/snapkeeperEnumerator", enumerator),
        (f"{roles}/snapkeeperSnapshot", snapshot),
        ("roles/browser", enumerator),
        ("roles/browser", snapshot),
    }
    agent = (
        f"serviceAccount:service-{project_number(project)}@gcp-sa-pubsub.iam.gserviceaccount.com"
    )
    topics = f"projects/{project}/topics"
    assert bindings(recorder.policy("pubsub", f"{topics}/snapkeeper-work")) == {
        ("roles/pubsub.publisher", enumerator)
    }
    assert bindings(recorder.policy("pubsub", f"{topics}/snapkeeper-dead-letter")) == {
        ("roles/pubsub.publisher", enumerator),
        ("roles/pubsub.publisher", snapshot),
        ("roles/pubsub.publisher", agent),
    }
    assert recorder.policy("pubsub", f"{topics}/snapkeeper-ticks") == {}
    for function in ("snapkeeper-enumerator", "snapkeeper-snapshot"):
        trigger = recorder.function(function)["eventTrigger"]["trigger"]
        subscription = recorder.state.triggers[trigger]["transport"]["pubsub"]["subscription"]
        assert bindings(recorder.policy("pubsub", subscription)) == {
            ("roles/pubsub.subscriber", agent)
        }
        service = f"projects/{project}/locations/{LOCATION}/services/{function}"
        assert bindings(recorder.policy("run", service)) == {
            ("roles/run.invoker", deployment.sa("snapkeeper-trigger"))
        }
    every_binding = set().union(*(bindings(p) for p in recorder.policies().values()))
    assert not {role for role, _ in every_binding} & BROAD_ROLES
    assert not {member for _, member in every_binding} & PUBLIC


def test_apis_are_enabled(deployment: Deployment) -> None:
    enabled = deployment.recorder.state.enabled
    assert {
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "eventarc.googleapis.com",
        "pubsub.googleapis.com",
        "cloudscheduler.googleapis.com",
        "monitoring.googleapis.com",
    } <= enabled[deployment.project]
    assert enabled[VAULT] == {"compute.googleapis.com"}


def test_one_scheduler_job_per_schedule(
    deployment: Deployment, scheduler_server: SchedulerServer
) -> None:
    scheduled = jobs(scheduler_server, deployment.project)
    assert sorted(scheduled) == [
        "snapkeeper-daily",
        "snapkeeper-restore-drill",
        "snapkeeper-weekly",
    ]
    drill = scheduled["snapkeeper-restore-drill"]
    assert (drill["schedule"], drill["timeZone"]) == ("0 5 * * 1", "UTC")
    assert json.loads(base64.b64decode(drill["pubsubTarget"]["data"])) == {
        "kind": "drill",
        "cron": "0 5 * * 1",
        "time_zone": "UTC",
    }
    weekly = scheduled["snapkeeper-weekly"]
    assert (weekly["schedule"], weekly["timeZone"]) == ("0 4 * * 0", "UTC")
    assert weekly["pubsubTarget"]["topicName"] == (
        f"projects/{deployment.project}/topics/snapkeeper-ticks"
    )
    assert json.loads(base64.b64decode(weekly["pubsubTarget"]["data"])) == {
        "schedule": "weekly",
        "cron": "0 4 * * 0",
        "time_zone": "UTC",
        "options": {"type": "ARCHIVE", "max-age": "400d"},  # the schedule's options
    }
    daily = scheduled["snapkeeper-daily"]
    assert "options" not in json.loads(base64.b64decode(daily["pubsubTarget"]["data"]))


def test_log_metrics_and_alert_policies(deployment: Deployment) -> None:
    state, project = deployment.recorder.state, deployment.project
    metrics = {name.rsplit("/", 1)[1]: m for name, m in state.metrics.items()}
    # The metric an earlier deploy.sh made for the alerts is gone, replaced by this one.
    assert set(metrics) == {
        "snapkeeper_snapshots_ready",
        "snapkeeper_function_errors",
        "snapkeeper_drills",
        "snapkeeper_drill_failures",
    }
    assert json_payload_clauses(metrics["snapkeeper_drills"]["filter"]) == {
        "component": "snapkeeper",
        "kind": "drill",
        "drill_status": "OK",
    }
    assert "time_to_restore_seconds" in metrics["snapkeeper_drills"]["valueExtractor"]
    assert f"gcloud logging metrics delete {LEGACY_METRIC} --project={project}" in (
        deployment.first.changes
    )
    ready_filter = metrics["snapkeeper_snapshots_ready"]["filter"]
    # Snapshots confirmed READY, "created" or "exists" alike; a CREATING one does not count.
    assert json_payload_clauses(ready_filter) == {
        "component": "snapkeeper",
        "snapshot_status": "READY",
    }
    assert 'resource.labels.service_name="snapkeeper-snapshot"' in ready_filter
    assert {"disk", "schedule", "project"} <= set(
        metrics["snapkeeper_snapshots_ready"]["labelExtractors"]
    )
    policies = {p["userLabels"]["snapkeeper_policy"]: p for p in state.alert_policies.values()}
    assert set(policies) == {
        "dead-letter-backlog",
        "function-errors",
        "drill-failed",
        "snapshot-quota",
        "stale-daily",
        "stale-weekly",
    }
    drills = policies["drill-failed"]["conditions"][0]["conditionThreshold"]
    assert "snapkeeper_drill_failures" in drills["filter"]
    backlog = policies["dead-letter-backlog"]["conditions"][0]["conditionThreshold"]
    assert "snapkeeper-dead-letter-sub" in backlog["filter"]
    assert "num_undelivered_messages" in backlog["filter"]
    assert backlog["comparison"] == "COMPARISON_GT" and backlog.get("thresholdValue", 0) == 0
    errors = policies["function-errors"]["conditions"][0]["conditionThreshold"]
    assert "snapkeeper_function_errors" in errors["filter"]
    quota = policies["snapshot-quota"]["conditions"][0]["conditionThreshold"]
    assert 'metric.label.error_class = "QuotaExhausted"' in quota["filter"]
    weekly = policies["stale-weekly"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert 'schedule="weekly"' in weekly["query"] and "[8d]" in weekly["query"]
    daily = policies["stale-daily"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert "[26h]" in daily["query"]
    for stale in (weekly, daily):
        assert stale["query"].count("logging_googleapis_com:user_snapkeeper_snapshots_ready") == 2
        assert "snapshots_created" not in stale["query"]
    for policy in policies.values():
        assert policy["notificationChannels"] == [CHANNEL.format(project=project)]


# -- the second run ----------------------------------------------------------------------------


def test_a_second_run_changes_nothing(
    deployment: Deployment, pubsub: Clients, scheduler_server: SchedulerServer
) -> None:
    recorder = deployment.recorder
    before = (pubsub.subscriptions(deployment.project), jobs(scheduler_server, deployment.project))
    recorder.clear()
    scheduler_server.request_log.clear()
    second = deployed(cloud_deploy("--config", str(deployment.config), env=deployment.env))
    assert second.changes == []
    assert "no changes" in second.stderr
    assert [(r.api, r.method, r.path) for r in recorder.calls(mutating=True)] == []
    assert [r for r in scheduler_server.admin.requests() if r["method"] != "GET"] == []
    after = (pubsub.subscriptions(deployment.project), jobs(scheduler_server, deployment.project))
    assert after == before


def test_a_trigger_subscription_ack_deadline_is_raised_never_lowered(
    deployment: Deployment, pubsub: Clients
) -> None:
    project = deployment.project
    enumerator_sub = trigger_subscription(deployment, "snapkeeper-enumerator")
    snapshot_sub = trigger_subscription(deployment, "snapkeeper-snapshot")
    # By hand: the snapshot function's ack deadline cut short, the enumerator's made longer.
    for name, seconds in ((snapshot_sub, 30), (enumerator_sub, 600)):
        pubsub.subscriber.update_subscription(
            subscription={
                "name": f"projects/{project}/subscriptions/{name}",
                "ack_deadline_seconds": seconds,
            },
            update_mask={"paths": ["ack_deadline_seconds"]},
            timeout=30,
        )
    run = deployed(cloud_deploy("--config", str(deployment.config), env=deployment.env))
    # Only the short one is raised, and only its ack deadline: the policies are in place.
    assert run.changes == [
        f"gcloud pubsub subscriptions update {snapshot_sub} --project={project} "
        f"--ack-deadline={SNAPSHOT_TIMEOUT}"
    ]
    subs = pubsub.subscriptions(project)
    assert subs[snapshot_sub]["ackDeadlineSeconds"] == SNAPSHOT_TIMEOUT
    assert subs[enumerator_sub]["ackDeadlineSeconds"] == 600
    again = deployed(cloud_deploy("--config", str(deployment.config), env=deployment.env))
    assert again.changes == []


# -- the uploaded source, served -----------------------------------------------------------------


@pytest.fixture(scope="module")
def function_venv(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> Path:
    """A clean virtualenv with both uploaded functions' own requirements installed."""
    root = tmp_path_factory.mktemp("function-venv")
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    files = []
    for function in ("snapkeeper-enumerator", "snapkeeper-snapshot"):
        requirements = root / f"{function}-requirements.txt"
        with zipfile.ZipFile(io.BytesIO(deployment.recorder.source_archive(function))) as archive:
            requirements.write_bytes(archive.read("requirements.txt"))
        files += ["-r", str(requirements)]
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *files],
        check=True,
        timeout=PIP_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    return python


class ServedFunction:
    """An uploaded archive, unpacked and served by functions-framework from the venv."""

    def __init__(self, python: Path, archive: bytes, directory: Path, target: str) -> None:
        directory.mkdir()
        with zipfile.ZipFile(io.BytesIO(archive)) as unpacked:
            unpacked.extractall(directory)
        self.directory, self.target, self.port = directory, target, free_port()
        self.log = directory.parent / f"{target}.log"
        self.command = [
            str(python), "-m", "functions_framework", "--target", target,
            "--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> ServedFunction:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._ready, READY_TIMEOUT_SECONDS, f"{self.target} to listen")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.target} exited:\n{self.log.read_text()[-3000:]}")
        try:
            requests.get(f"http://127.0.0.1:{self.port}/", timeout=1)
            return True
        except requests.ConnectionError:
            return False

    def url(self, project: str, topic: str) -> str:
        return f"http://127.0.0.1:{self.port}/projects/{project}/topics/{topic}"

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)


def test_uploaded_archive_holds_the_function_and_the_library(deployment: Deployment) -> None:
    for function, entry in (
        ("snapkeeper-enumerator", "enumerate_disks"),
        ("snapkeeper-snapshot", "snapshot_disk"),
    ):
        with zipfile.ZipFile(io.BytesIO(deployment.recorder.source_archive(function))) as archive:
            names = set(archive.namelist())
            assert {
                "main.py",
                "requirements.txt",
                "snapkeeper/__init__.py",
                "snapkeeper/handlers.py",
            } <= names
            assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
            assert f"def {entry}(" in archive.read("main.py").decode()


def test_uploaded_sources_handle_a_real_tick(
    deployment: Deployment,
    function_venv: Path,
    pubsub_emulator: PubSubEmulator,
    scheduler_server: SchedulerServer,
    fake_compute: ComputeAdmin,
    pubsub: Clients,
    tmp_path: Path,
) -> None:
    # The local stack's topology for a host project of its own, by deploy.sh --local,
    # pushing to the two functions served from the archives gcloud uploaded.
    host = unique_project("src")
    fake_compute.seed_disk(
        "prod-app-1", "db-data", zone="europe-west1-b", labels={"snapshot-daily": "3"}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))} | {
        "GOOGLE_CLOUD_PROJECT": host,
        "TARGET_PROJECTS": ",".join(TARGETS),
        "MAX_DELIVERY_ATTEMPTS": "5",
        "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
        "COMPUTE_EMULATOR_HOST": fake_compute.host,
        "PYTHONUNBUFFERED": "1",
    }
    enumerator = ServedFunction(
        function_venv,
        deployment.recorder.source_archive("snapkeeper-enumerator"),
        tmp_path / "enumerator",
        "enumerate_disks",
    )
    snapshotter = ServedFunction(
        function_venv,
        deployment.recorder.source_archive("snapkeeper-snapshot"),
        tmp_path / "snapshot",
        "snapshot_disk",
    )
    try:
        enumerator.start(env)
        snapshotter.start(env)
        config = write_config(
            tmp_path,
            host,
            {"MAX_DELIVERY_ATTEMPTS": "5", "MIN_RETRY_DELAY": "1s", "MAX_RETRY_DELAY": "5s"},
        )
        local = gcloud_env(
            tmp_path,
            {
                "PUBSUB_EMULATOR_HOST": pubsub_emulator.host,
                "CLOUD_SCHEDULER_EMULATOR_HOST": scheduler_server.host,
            },
        )
        deployed(
            cloud_deploy(
                "--config", str(config), "--local",
                "--enumerator-url", enumerator.url(host, "snapkeeper-ticks"),
                "--snapshot-url", snapshotter.url(host, "snapkeeper-work"),
                env=local,
            )
        )  # fmt: skip
        audit = f"projects/{host}/subscriptions/work-audit"
        pubsub.subscriber.create_subscription(
            name=audit, topic=f"projects/{host}/topics/snapkeeper-work", timeout=30
        )
        tick = {"schedule": "daily", "cron": "0 3 * * *", "time_zone": "UTC"}
        pubsub.publisher.publish(
            f"projects/{host}/topics/snapkeeper-ticks", json.dumps(tick).encode()
        ).result(timeout=30)

        def work() -> list[dict[str, Any]]:
            response = pubsub.subscriber.pull(subscription=audit, max_messages=10, timeout=30)
            return [json.loads(r.message.data) for r in response.received_messages]

        [message] = wait_for(work, SETTLE_TIMEOUT_SECONDS, "the enumerator's work message")
        assert (message["project"], message["disk"], message["schedule"]) == (
            "prod-app-1",
            "db-data",
            "daily",
        )

        def snapshots() -> list[dict[str, Any]]:
            return [
                s for s in fake_compute.snapshots() if s["labels"].get("managed-by") == "snapkeeper"
            ]

        [snapshot] = wait_for(snapshots, SETTLE_TIMEOUT_SECONDS, "the snapshot function's snapshot")
        assert snapshot["labels"]["snapkeeper-schedule"] == "daily"
        assert snapshot["sourceDisk"].endswith("/disks/db-data")
        # The function's success line is one the stale-disk alerts' metric counts.
        ready_filter = next(
            m["filter"]
            for name, m in deployment.recorder.state.metrics.items()
            if name.endswith("/snapkeeper_snapshots_ready")
        )
        wanted = json_payload_clauses(ready_filter)

        def counted() -> list[dict[str, Any]]:
            logged = [
                json.loads(line)
                for line in snapshotter.log.read_text().splitlines()
                if line.startswith("{")
            ]
            return [e for e in logged if all(e.get(k) == v for k, v in wanted.items())]

        [entry] = wait_for(counted, SETTLE_TIMEOUT_SECONDS, "the snapshot function's READY line")
        assert (entry["action"], entry["disk"], entry["schedule"]) == (
            "created",
            "db-data",
            "daily",
        )
        # The local work subscription waits for the function's READY wait (default 420 s).
        work_sub = pubsub.subscriptions(host)["snapkeeper-work-snapshot"]
        assert work_sub["ackDeadlineSeconds"] == 420 + 60
    finally:
        enumerator.stop()
        snapshotter.stop()


def test_teardown_removes_what_deploy_made_and_no_snapshot(
    deployment: Deployment, pubsub: Clients, scheduler_server: SchedulerServer
) -> None:
    # Last in the module: it takes the deployment down.
    recorder, project = deployment.recorder, deployment.project
    # A metric of the old name that deploy.sh did not make (no "Managed by deploy.sh").
    foreign = {"name": LEGACY_METRIC, "description": "ours", "filter": "severity>=INFO"}
    recorder.seed_metric(project, foreign)
    recorder.clear()
    run = cloud_deploy(
        "--config", str(deployment.config), "--teardown", "--yes", env=deployment.env
    )
    assert run.returncode == 0, run.stderr
    state = recorder.state
    assert state.functions == {} and state.alert_policies == {}
    assert state.metrics == {f"projects/{project}/metrics/{LEGACY_METRIC}": foreign}
    assert f"{LEGACY_METRIC} was not made by deploy.sh; left alone" in run.stderr
    assert all(role.get("deleted") for role in state.roles.values())
    assert [a for a in state.accounts.values() if a["projectId"] == project] == []
    for target in (*TARGETS, VAULT, SCRATCH):
        assert bindings(recorder.policy("cloudresourcemanager", f"projects/{target}")) == set()
    assert bindings(recorder.policy("cloudresourcemanager", f"folders/{FOLDER}")) == set()
    assert f"organizations/{ORGANIZATION}/roles/snapkeeperSnapshot" in state.roles
    assert pubsub.topics(project) == []
    assert jobs(scheduler_server, project) == {}
    assert run.changes and not any(" compute " in change for change in run.changes)

"""deploy.sh --local with the real gcloud against the Pub/Sub emulator and the fake Cloud
Scheduler: the topology it builds (read back with the real clients), that a second run
changes nothing, convergence after a config change, --dry-run, teardown, and that the
config file is data, never code. (The local stack itself deploys with --local, so the
end-to-end tests run on this same topology.)

The helpers here (running deploy.sh, writing a config) are shared with the other
test_deploy_* modules."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.cloud import scheduler_v1
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.protobuf.json_format import MessageToDict

from snapkeeper_local.processes import run_in_group
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.scheduler import SchedulerServer
from tests.fixtures_scheduler import scheduler_client
from tests.support_gcloud import Finished, gcloud_env, run_command

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy.sh"
DEPLOY_TIMEOUT_SECONDS = 300.0
LOCATION = "us-central1"
ENUMERATOR_URL = "http://127.0.0.1:9/projects/{project}/topics/snapkeeper-ticks"
SNAPSHOT_URL = "http://127.0.0.1:9/projects/{project}/topics/snapkeeper-work"
SCHEDULES = ("daily|0 3 * * *|Asia/Tokyo", "hourly|0 * * * *|UTC")
LOCAL_SETTINGS = {  # the settings LocalStack deploys with
    "MAX_DELIVERY_ATTEMPTS": "5",
    "MIN_RETRY_DELAY": "1s",
    "MAX_RETRY_DELAY": "5s",
}
# What deploy.sh --local needs from its environment, for tests that stop before using it.
UNUSED_ENDPOINTS = {
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",
    "ENUMERATOR_URL": "http://127.0.0.1:9/",
    "SNAPSHOT_URL": "http://127.0.0.1:9/",
}

pytestmark = pytest.mark.usefixtures("gcloud_cli")


# -- shared helpers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run(Finished):
    """A deploy.sh run."""

    @property
    def changes(self) -> list[str]:
        """The gcloud commands that changed something ("+ gcloud ..." lines)."""
        return [line[2:] for line in self.stderr.splitlines() if line.startswith("+ gcloud ")]


def unique_project(prefix: str = "dk") -> str:
    """A host project of its own per test keeps tests on the shared emulator apart."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def write_config(
    directory: Path,
    host_project: str,
    settings: Mapping[str, str] | None = None,
    schedules: tuple[str, ...] = SCHEDULES,
) -> Path:
    lines = [
        "# written by a test",
        f"HOST_PROJECT={host_project}",
        f"REGION={LOCATION}",
        "TARGET_PROJECTS=prod-app-1,prod-db-2",
        *(f"SCHEDULE={schedule}" for schedule in schedules),
        *(f"{key}={value}" for key, value in (settings or {}).items()),
    ]
    path = directory / f"{host_project}.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_deploy(
    *args: str, env: Mapping[str, str], stdin: str = "", timeout: float = DEPLOY_TIMEOUT_SECONDS
) -> Run:
    """deploy.sh in its own process group; on timeout the whole group is killed."""
    done = run_command([str(DEPLOY), *args], env=env, timeout=timeout, stdin=stdin, cwd=REPO_ROOT)
    return Run(done.returncode, done.stdout, done.stderr)


def deployed(result: Run) -> Run:
    assert result.returncode == 0, f"deploy.sh failed:\n{result.stderr}"
    return result


@pytest.fixture
def gcloud_config(tmp_path: Path) -> Path:
    path = tmp_path / "gcloud-config"
    path.mkdir()
    return path


@pytest.fixture
def pubsub(pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    yield Clients(PublisherClient(), SubscriberClient())


@dataclass(frozen=True)
class Clients:
    publisher: PublisherClient
    subscriber: SubscriberClient

    def topics(self, project: str) -> list[str]:
        return sorted(
            t.name.rsplit("/", 1)[1]
            for t in self.publisher.list_topics(project=f"projects/{project}", timeout=30)
        )

    def subscriptions(self, project: str) -> dict[str, dict[str, Any]]:
        """Every subscription of the project as the API describes it (full JSON)."""
        listed = self.subscriber.list_subscriptions(project=f"projects/{project}", timeout=30)
        return {s.name.rsplit("/", 1)[1]: MessageToDict(s._pb) for s in listed}


def jobs(server: SchedulerServer, project: str) -> dict[str, dict[str, Any]]:
    client = scheduler_client(server.host)
    parent = f"projects/{project}/locations/{LOCATION}"
    return {
        job.name.rsplit("/", 1)[1]: MessageToDict(scheduler_v1.Job.pb(job))
        for job in client.list_jobs(parent=parent, timeout=30)
    }


def local_env(
    emulator: PubSubEmulator, scheduler: SchedulerServer, config_dir: Path, project: str
) -> dict[str, str]:
    return gcloud_env(
        config_dir,
        {
            "PUBSUB_EMULATOR_HOST": emulator.host,
            "CLOUD_SCHEDULER_EMULATOR_HOST": scheduler.host,
            "ENUMERATOR_URL": ENUMERATOR_URL.format(project=project),
            "SNAPSHOT_URL": SNAPSHOT_URL.format(project=project),
        },
    )


@dataclass(frozen=True)
class LocalDeploy:
    """A host project of its own, its config (LOCAL_SETTINGS) and the environment that
    points deploy.sh --local at the emulator and the fake scheduler."""

    project: str
    config: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: str = "") -> Run:
        """deploy.sh --config CONFIG --local ARGS."""
        return run_deploy("--config", str(self.config), "--local", *args, env=self.env, stdin=stdin)


@pytest.fixture
def local_deploy(
    tmp_path: Path,
    gcloud_config: Path,
    pubsub_emulator: PubSubEmulator,
    fake_scheduler: SchedulerServer,
) -> LocalDeploy:
    project = unique_project()
    config = write_config(tmp_path, project, LOCAL_SETTINGS)
    return LocalDeploy(
        project, config, local_env(pubsub_emulator, fake_scheduler, gcloud_config, project)
    )


# -- tests ------------------------------------------------------------------------------------


def test_local_deploy_builds_the_topology_and_a_second_run_changes_nothing(
    local_deploy: LocalDeploy, fake_scheduler: SchedulerServer, pubsub: Clients
) -> None:
    project = local_deploy.project
    first = deployed(local_deploy.run())
    assert any("pubsub topics create snapkeeper-ticks" in c for c in first.changes)

    assert pubsub.topics(project) == [
        "snapkeeper-dead-letter",
        "snapkeeper-ticks",
        "snapkeeper-work",
    ]
    subs = pubsub.subscriptions(project)
    assert set(subs) == {
        "snapkeeper-dead-letter-sub",
        "snapkeeper-ticks-enumerator",
        "snapkeeper-work-snapshot",
    }
    dead_letter_topic = f"projects/{project}/topics/snapkeeper-dead-letter"
    for name, topic, endpoint, ack_deadline in (
        ("snapkeeper-ticks-enumerator", "snapkeeper-ticks", ENUMERATOR_URL, 60),
        # The snapshot function waits up to READY_WAIT_SECONDS (420 s by default) for
        # READY: its push is not redelivered meanwhile.
        ("snapkeeper-work-snapshot", "snapkeeper-work", SNAPSHOT_URL, 420 + 60),
    ):
        sub = subs[name]
        assert sub["topic"] == f"projects/{project}/topics/{topic}"
        assert sub["pushConfig"]["pushEndpoint"] == endpoint.format(project=project)
        assert sub["ackDeadlineSeconds"] == ack_deadline
        assert sub["retryPolicy"] == {"minimumBackoff": "1s", "maximumBackoff": "5s"}
        assert sub["deadLetterPolicy"] == {
            "deadLetterTopic": dead_letter_topic,
            "maxDeliveryAttempts": 5,
        }
    operators = subs["snapkeeper-dead-letter-sub"]
    assert operators["topic"] == dead_letter_topic
    assert operators["ackDeadlineSeconds"] == 60  # ACK_DEADLINE_SECONDS's default
    assert "pushEndpoint" not in operators.get("pushConfig", {})  # a pull subscription
    assert "deadLetterPolicy" not in operators and "retryPolicy" not in operators
    assert "ttl" not in operators["expirationPolicy"]  # never expires while unread

    scheduled = jobs(fake_scheduler, project)
    assert set(scheduled) == {"snapkeeper-daily", "snapkeeper-hourly"}
    daily = scheduled["snapkeeper-daily"]
    assert (daily["schedule"], daily["timeZone"]) == ("0 3 * * *", "Asia/Tokyo")
    assert daily["pubsubTarget"]["topicName"] == f"projects/{project}/topics/snapkeeper-ticks"
    payload = json.loads(base64.b64decode(daily["pubsubTarget"]["data"]))
    assert payload == {"schedule": "daily", "cron": "0 3 * * *", "time_zone": "Asia/Tokyo"}

    before = (pubsub.topics(project), pubsub.subscriptions(project), jobs(fake_scheduler, project))
    fake_scheduler.request_log.clear()
    second = deployed(local_deploy.run())
    assert second.changes == []
    assert "no changes" in second.stderr
    after = (pubsub.topics(project), pubsub.subscriptions(project), jobs(fake_scheduler, project))
    assert after == before
    writes = [r for r in fake_scheduler.admin.requests() if r["method"] not in ("GET", "HEAD")]
    assert writes == []


def test_local_deploy_converges_after_a_config_change(
    tmp_path: Path, local_deploy: LocalDeploy, fake_scheduler: SchedulerServer, pubsub: Clients
) -> None:
    project = local_deploy.project
    deployed(local_deploy.run())

    changed = {
        **LOCAL_SETTINGS,
        "MAX_DELIVERY_ATTEMPTS": "7",
        "MIN_RETRY_DELAY": "2s",
        "READY_WAIT_SECONDS": "30",
    }
    schedules = ("daily|30 2 * * *|Europe/Paris", "hourly|0 * * * *|UTC")
    # The same file, rewritten: local_deploy.config names it.
    assert write_config(tmp_path, project, changed, schedules) == local_deploy.config
    run = deployed(local_deploy.run())

    assert sorted(c.split(" --")[0] for c in run.changes) == [
        "gcloud pubsub subscriptions update snapkeeper-ticks-enumerator",
        "gcloud pubsub subscriptions update snapkeeper-work-snapshot",
        "gcloud scheduler jobs update pubsub snapkeeper-daily",
    ]
    work = pubsub.subscriptions(project)["snapkeeper-work-snapshot"]
    assert work["deadLetterPolicy"]["maxDeliveryAttempts"] == 7
    assert work["retryPolicy"] == {"minimumBackoff": "2s", "maximumBackoff": "5s"}
    assert work["ackDeadlineSeconds"] == 30 + 60
    daily = jobs(fake_scheduler, project)["snapkeeper-daily"]
    assert (daily["schedule"], daily["timeZone"]) == ("30 2 * * *", "Europe/Paris")
    assert deployed(local_deploy.run()).changes == []


def test_local_dry_run_prints_the_commands_and_changes_nothing(
    local_deploy: LocalDeploy, fake_scheduler: SchedulerServer, pubsub: Clients
) -> None:
    run = deployed(local_deploy.run("--dry-run"))
    printed = run.stdout.splitlines()
    assert printed and all(line.startswith("gcloud ") for line in printed)
    assert any(line.startswith("gcloud pubsub topics create snapkeeper-work") for line in printed)
    assert any("scheduler jobs create pubsub snapkeeper-hourly" in line for line in printed)
    assert run.changes == []
    assert pubsub.topics(local_deploy.project) == []
    assert jobs(fake_scheduler, local_deploy.project) == {}


def test_local_teardown_asks_then_removes_everything_it_made(
    local_deploy: LocalDeploy, fake_scheduler: SchedulerServer, pubsub: Clients
) -> None:
    project = local_deploy.project
    deployed(local_deploy.run())

    refused = local_deploy.run("--teardown", stdin="no\n")
    assert refused.returncode != 0 and "teardown cancelled" in refused.stderr
    assert len(pubsub.topics(project)) == 3

    confirmed = local_deploy.run("--teardown", stdin=f"{project}\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert pubsub.topics(project) == []
    assert pubsub.subscriptions(project) == {}
    assert jobs(fake_scheduler, project) == {}
    again = deployed(local_deploy.run("--teardown", "--yes"))
    assert again.changes == []


# -- the config file is data ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("HOST_PROJECT=$(touch {marker})", "HOST_PROJECT"),
        ("TARGET_PROJECTS=prod-app-1;touch {marker}", "TARGET_PROJECTS"),
        ("SCHEDULE=daily|0 3 * * *|`touch {marker}`", "time zone"),
        ("SCHEDULE=daily|0 3 * * * $(touch {marker})|UTC", "cron"),
        ("LABEL_PREFIX='; touch {marker}; '", "LABEL_PREFIX"),
        ("NO_SUCH_KEY=1", "unknown key"),
        ("SCHEDULE=keep|0 3 * * *|UTC", "not be one of exclude, guest, keep, location"),
        ("SCHEDULE=daily|0 3 * *|UTC", "is not a 5-field unix-cron expression"),
        ("MAX_DELIVERY_ATTEMPTS=4", "4 is out of range; expected a whole number from 5 to 100"),
        ("MAX_DELIVERY_ATTEMPTS=5", "rate limit"),  # 10+20+40+80 s < 10 min
        (
            "READY_WAIT_SECONDS=9",
            "9 is out of range; expected a whole number of seconds from 10 to 480",
        ),
        ("READY_WAIT_SECONDS=7m", "READY_WAIT_SECONDS: '7m' is not an integer"),
        ("READY_WAIT_SECONDS=$(touch {marker})", "READY_WAIT_SECONDS"),
        # 481 s + 60 s margin is above the 540 s an event-driven function may run.
        ("READY_WAIT_SECONDS=481", "READY_WAIT_SECONDS: 481 does not fit the snapshot function"),
        (
            "SNAPSHOT_CONCURRENCY=0",
            "SNAPSHOT_CONCURRENCY: 0 is out of range; expected a whole number from 1 to 1000",
        ),
        ("SNAPSHOT_CONCURRENCY=1001", "SNAPSHOT_CONCURRENCY: 1001 is out of range"),
        ("SNAPSHOT_CONCURRENCY=twenty", "SNAPSHOT_CONCURRENCY: 'twenty' is not an integer"),
    ],
)
def test_config_values_are_validated_never_evaluated(
    tmp_path: Path, gcloud_config: Path, line: str, message: str
) -> None:
    marker = tmp_path / "evaluated"
    lines = {
        "HOST_PROJECT": "my-host-proj",
        "REGION": "europe-west1",
        "TARGET_PROJECTS": "prod-app-1",
    }
    key = line.split("=", 1)[0]
    body = [f"{k}={v}" for k, v in lines.items() if k != key]
    if key != "SCHEDULE":
        body.append("SCHEDULE=daily|0 3 * * *|UTC")
    body.append(line.format(marker=marker))
    config = tmp_path / "bad.env"
    config.write_text("\n".join(body) + "\n")
    run = run_deploy("--config", str(config), "--dry-run", env=gcloud_env(gcloud_config))
    assert run.returncode != 0
    assert f"error: {config}:{len(body)}: " in run.stderr  # the bad line, the last one
    assert message in run.stderr
    assert run.stdout == ""  # stopped before any gcloud command
    assert not marker.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # Both are caught before any gcloud command, not once the functions are deployed.
        (
            "SCHEDULE=daily|99 99 * * *|Asia/Tokyoo",
            "SCHEDULE: cron '99 99 * * *' is not a 5-field unix-cron expression; "
            "time zone 'Asia/Tokyoo' is not a known IANA time zone",
        ),
        (
            "SCHEDULE=daily|0 3 * * *|Mars/Olympus",
            "SCHEDULE: time zone 'Mars/Olympus' is not a known IANA time zone",
        ),
        (
            "SCHEDULE=Daily|0 3 * * *|UTC",
            "SCHEDULE: schedule name 'Daily' must match [a-z][a-z0-9]{0,19}",
        ),
        ("SNAPSHOT_PROJECT=Vault_1", "SNAPSHOT_PROJECT: 'Vault_1' is not a valid project id"),
        (
            "MIN_RETRY_DELAY=10 s",
            "MIN_RETRY_DELAY: '10 s' is not a duration in s/m; expected a duration from 0s to 600s",
        ),
        ("MAX_RETRY_DELAY=700s", "MAX_RETRY_DELAY: '700s' is above 600s"),
        ("READY_WAIT=30", "unknown key 'READY_WAIT': did you mean READY_WAIT_SECONDS?"),
        (
            "ACK_DEADLINE_SECONDS=601",
            "ACK_DEADLINE_SECONDS: 601 is out of range; expected a whole number from 10 to 600",
        ),
        ("MAX_DELIVERY_ATTEMPTS=101", "MAX_DELIVERY_ATTEMPTS: 101 is out of range"),
    ],
)
def test_a_bad_value_stops_deploy_before_any_gcloud_command_naming_line_and_key(
    tmp_path: Path, gcloud_config: Path, line: str, message: str
) -> None:
    bin_dir, called = marking_gcloud(tmp_path)
    env = gcloud_env(gcloud_config, {"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    config = write_config(tmp_path, unique_project(), schedules=("weekly|0 4 * * 0|UTC",))
    config.write_text(config.read_text() + line + "\n")
    line_number = len(config.read_text().splitlines())
    for mode in ("--dry-run", "--local"):
        run = run_deploy("--config", str(config), mode, env={**env, **UNUSED_ENDPOINTS})
        assert run.returncode != 0
        errors = [e for e in run.stderr.splitlines() if e.startswith("snapkeeper: error: ")]
        assert errors == [
            f"snapkeeper: error: {config}:{line_number}: {message}"
            + errors[0].partition(message)[2],  # then what a good value looks like
            "snapkeeper: error: nothing was run: fix what is said above, then run deploy.sh again",
        ], mode
        assert run.stdout == ""  # not one gcloud command printed, nor run
        assert not called.exists()


def python_checkout(directory: Path) -> Path:
    """A checkout of deploy.sh without a .venv: its own copy, the rest linked."""
    checkout = directory / "checkout"
    checkout.mkdir()
    shutil.copy2(DEPLOY, checkout / "deploy.sh")
    for part in ("shared", "infra", "functions", "requirements.txt"):
        (checkout / part).symlink_to(REPO_ROOT / part)
    return checkout


def failing_python(directory: Path) -> Path:
    """A python3 without snapkeeper's requirements (as it fails to import them)."""
    directory.mkdir(exist_ok=True)
    python = directory / "python3"
    python.write_text(
        "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
        "echo \"ModuleNotFoundError: No module named 'croniter'\" >&2\nexit 1\n"
    )
    python.chmod(0o755)
    return python


def test_deploy_finds_python3_without_a_venv_and_says_how_to_get_one(
    tmp_path: Path, gcloud_config: Path
) -> None:
    checkout = python_checkout(tmp_path)
    config = write_config(tmp_path, unique_project())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"  # one that has the requirements (a venv's, so not a link)
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    env = gcloud_env(gcloud_config, {"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    env.pop("SNAPKEEPER_PYTHON", None)
    found = run_in_group(
        [str(checkout / "deploy.sh"), "--config", str(config), "--dry-run"],
        env=env,
        timeout=DEPLOY_TIMEOUT_SECONDS,
    )
    assert found.returncode == 0, found.stderr
    assert "gcloud pubsub topics create snapkeeper-ticks" in found.stdout

    broken = failing_python(tmp_path / "broken")
    env["PATH"] = f"{broken.parent}:{os.environ['PATH']}"
    missing = run_in_group(
        [str(checkout / "deploy.sh"), "--config", str(config), "--dry-run"],
        env=env,
        timeout=DEPLOY_TIMEOUT_SECONDS,
    )
    assert missing.returncode != 0 and missing.stdout == ""
    assert (
        f"no Python that can check the config ({checkout}/.venv/bin/python: not found; "
        "python3: ModuleNotFoundError: No module named 'croniter'). Make one with: python3 -m "
        f"venv {checkout}/.venv && {checkout}/.venv/bin/pip install -r "
        f"{checkout}/requirements.txt"
    ) in missing.stderr
    assert "or set SNAPKEEPER_PYTHON" in missing.stderr


@pytest.mark.parametrize("python", ["missing", "without-requirements"])
def test_snapkeeper_python_chooses_the_python_and_must_work(
    tmp_path: Path, gcloud_config: Path, python: str
) -> None:
    chosen = tmp_path / "missing-python"
    reason = "not found"
    if python == "without-requirements":
        chosen = failing_python(tmp_path / "bin")
        reason = "ModuleNotFoundError: No module named 'croniter'"
    config = write_config(tmp_path, unique_project())
    env = gcloud_env(gcloud_config, {"SNAPKEEPER_PYTHON": str(chosen)})
    run = run_deploy("--config", str(config), "--dry-run", env=env)
    assert run.returncode != 0 and run.stdout == ""
    assert f"error: no Python that can check the config ({chosen}: {reason})" in run.stderr


def test_the_checker_runs_on_this_checkouts_library_from_any_directory(
    tmp_path: Path, gcloud_config: Path
) -> None:
    # A snapkeeper package in the working directory must not stand in for the library.
    (tmp_path / "snapkeeper").mkdir()
    (tmp_path / "snapkeeper" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    write_config(tmp_path, "relative-proj")
    env = gcloud_env(gcloud_config, {"SNAPKEEPER_PYTHON": sys.executable, "TMPDIR": str(tmp_path)})
    run = run_in_group(
        [str(DEPLOY), "--config", "relative-proj.env", "--dry-run"],
        env=env,
        timeout=DEPLOY_TIMEOUT_SECONDS,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "shadowed" not in run.stderr
    assert "--project=relative-proj" in run.stdout


def marking_gcloud(directory: Path) -> tuple[Path, Path]:
    """A gcloud that only leaves a mark -> (its directory, for PATH; the mark)."""
    bin_dir, called = directory / "bin", directory / "gcloud-was-called"
    bin_dir.mkdir()
    fake = bin_dir / "gcloud"
    fake.write_text(f"#!/bin/sh\ntouch '{called}'\nexit 99\n")
    fake.chmod(0o755)
    return bin_dir, called


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("READY_WAIT_SECONDS=soon", "READY_WAIT_SECONDS: 'soon' is not an integer"),
        ("READY_WAIT_SECONDS=500", "READY_WAIT_SECONDS: 500 does not fit the snapshot function"),
        ("SNAPSHOT_CONCURRENCY=5000", "SNAPSHOT_CONCURRENCY: 5000 is out of range"),
    ],
)
def test_a_bad_snapshot_setting_stops_a_real_deploy_before_any_gcloud_command(
    tmp_path: Path, gcloud_config: Path, setting: str, message: str
) -> None:
    bin_dir, called = marking_gcloud(tmp_path)
    key, value = setting.split("=", 1)
    config = write_config(tmp_path, unique_project(), {key: value})
    env = gcloud_env(gcloud_config, {"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    run = run_deploy("--config", str(config), env=env)
    assert run.returncode != 0
    assert f"error: {config}:" in run.stderr and message in run.stderr
    assert not called.exists()


def test_cloud_dry_run_lists_every_step_without_running_gcloud(
    tmp_path: Path, gcloud_config: Path
) -> None:
    config = REPO_ROOT / "infra" / "snapkeeper.example.env"
    # A gcloud first on PATH that only leaves a mark: a dry run must never call it.
    bin_dir, called = marking_gcloud(tmp_path)
    env = gcloud_env(
        gcloud_config, {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    )
    run = deployed(run_deploy("--config", str(config), "--dry-run", env=env))
    printed = run.stdout.splitlines()
    assert all(line.startswith("gcloud ") for line in printed)
    text = run.stdout
    for step in (
        "gcloud services enable",
        "gcloud iam roles create snapkeeperEnumerator --project=prod-app-1",
        "gcloud iam roles create snapkeeperSnapshot --project=prod-db-2",
        "gcloud iam service-accounts create snapkeeper-snapshot",
        "gcloud pubsub topics create snapkeeper-dead-letter",
        "gcloud functions deploy snapkeeper-snapshot",
        "gcloud pubsub subscriptions update EVENTARC_SUBSCRIPTION_OF_snapkeeper-snapshot",
        "gcloud scheduler jobs create pubsub snapkeeper-monthly",
        "gcloud logging metrics create snapkeeper_snapshots_ready",
        "gcloud alpha monitoring policies create",
    ):
        assert step in text, step
    for forbidden in ("roles/editor", "roles/owner", "roles/compute.admin", "allUsers"):
        assert forbidden not in text
    assert not called.exists()
    # The snapshot function with the defaults: it waits up to 420 s for READY, so its
    # timeout is 480 s and its trigger's ack deadline at least that; 20 messages at once
    # per instance, which needs a whole vCPU (and 512 MiB with it).
    [snapshot] = [line for line in printed if "functions deploy snapkeeper-snapshot " in line]
    for flag in ("--timeout=480s", "--concurrency=20", "--cpu=1", "--memory=512Mi"):
        assert f" {flag} " in snapshot, flag
    [enumerator] = [line for line in printed if "functions deploy snapkeeper-enumerator " in line]
    assert " --timeout=540s " in enumerator and "--concurrency" not in enumerator
    for function, ack_deadline in (("snapshot", 480), ("enumerator", 540)):
        [update] = [
            line
            for line in printed
            if f"subscriptions update EVENTARC_SUBSCRIPTION_OF_snapkeeper-{function} " in line
        ]
        assert update.endswith(f" --ack-deadline={ack_deadline}")
    assert "READY_WAIT_SECONDS=420" in run.stderr and "SNAPSHOT_CONCURRENCY=20" in run.stderr
    # The staged environment of the snapshot function (a dry run keeps it) has the wait.
    [env_file] = tmp_path.glob("snapkeeper-deploy.*/env-snapkeeper-snapshot.yaml")
    assert "READY_WAIT_SECONDS: '420'" in env_file.read_text().splitlines()
    [env_file] = tmp_path.glob("snapkeeper-deploy.*/env-snapkeeper-enumerator.yaml")
    assert "READY_WAIT_SECONDS" not in env_file.read_text()


def test_local_deploy_without_schedules_or_scheduler_builds_only_the_topology(
    tmp_path: Path, gcloud_config: Path, pubsub_emulator: PubSubEmulator, pubsub: Clients
) -> None:
    project = unique_project()
    config = write_config(tmp_path, project, LOCAL_SETTINGS, schedules=())
    env = gcloud_env(gcloud_config, {"PUBSUB_EMULATOR_HOST": pubsub_emulator.host})
    urls = ("--enumerator-url", ENUMERATOR_URL.format(project=project),
            "--snapshot-url", SNAPSHOT_URL.format(project=project))  # fmt: skip
    run = deployed(run_deploy("--config", str(config), "--local", *urls, env=env))
    assert "jobs skipped" in run.stderr
    assert len(pubsub.subscriptions(project)) == 3
    cloud = run_deploy("--config", str(config), "--dry-run", env=env)
    assert cloud.returncode != 0 and "no SCHEDULE line" in cloud.stderr

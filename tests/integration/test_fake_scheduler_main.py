"""`python -m snapkeeper_local.scheduler` runs the fake in the foreground and stops
cleanly on SIGTERM."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from google.cloud import scheduler_v1

from snapkeeper_local.processes import kill_group, start_in_group
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.scheduler import SchedulerAdmin
from tests.fixtures_scheduler import scheduler_client

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
HOST_LINE_PREFIX = "CLOUD_SCHEDULER_EMULATOR_HOST="


def read_host_line(process: subprocess.Popen[str]) -> str:
    """The host:port the server prints once it is ready, within the startup timeout."""
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                break
            line = process.stdout.readline()
            if not line:
                break  # exited
            if line.startswith(HOST_LINE_PREFIX):
                return line.removeprefix(HOST_LINE_PREFIX).strip()
    pytest.fail("the fake scheduler did not print its address in time")


@pytest.fixture
def foreground_server(pubsub_emulator: PubSubEmulator) -> Iterator[subprocess.Popen[str]]:
    command = [
        sys.executable, "-m", "snapkeeper_local.scheduler",
        "--port", "0", "--pubsub-emulator-host", pubsub_emulator.host,
    ]  # fmt: skip
    process = start_in_group(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            kill_group(process, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        if process.stdout is not None:
            process.stdout.close()


def test_runs_in_the_foreground_and_stops_on_sigterm(
    foreground_server: subprocess.Popen[str],
) -> None:
    host = read_host_line(foreground_server)
    admin = SchedulerAdmin(f"http://{host}")
    try:
        assert admin.healthy()
        client = scheduler_client(host)
        parent = "projects/snapkeeper-host/locations/us-central1"
        job = client.create_job(
            parent=parent,
            job=scheduler_v1.Job(
                name=f"{parent}/jobs/hourly",
                schedule="0 * * * *",
                pubsub_target=scheduler_v1.PubsubTarget(
                    topic_name="projects/snapkeeper-host/topics/snapkeeper-ticks", data=b"{}"
                ),
            ),
        )
        assert client.get_job(name=job.name).schedule == "0 * * * *"
    finally:
        admin.close()

    foreground_server.send_signal(signal.SIGTERM)
    assert foreground_server.wait(timeout=STOP_TIMEOUT_SECONDS) == 0

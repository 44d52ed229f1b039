"""The fake Compute Engine as a server: state file save/load and the command line."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.api_core import exceptions

from snapkeeper_local.compute import ComputeAdmin, ComputeServer
from tests.fixtures_compute import compute_clients

PROJECT = "workload-a"
ZONE = "us-central1-a"
DISK = f"zones/{ZONE}/disks/data"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def test_state_survives_a_restart_through_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "compute.json"
    with ComputeServer(state_path=state) as first:
        first.admin.set_clock(datetime(2026, 3, 1, tzinfo=UTC), frozen=True)
        first.admin.seed_disk(PROJECT, "data", zone=ZONE, labels={"snapshot-daily": "7"})
        first.admin.seed_instance(PROJECT, "vm", zone=ZONE, disks=["data"])
        clients = compute_clients(first.host)
        op = clients.snapshots.insert_unary(
            request={
                "project": PROJECT,
                "request_id": "9a1f7c3e-1111-4b7a-9c1d-2e3f4a5b6c7d",
                "snapshot_resource": {"name": "snap-1", "source_disk": DISK},
            }
        )
        snapshot_id = clients.snapshots.get(project=PROJECT, snapshot="snap-1").id
    assert state.exists()

    with ComputeServer(state_path=state) as second:
        clients = compute_clients(second.host)
        snapshot = clients.snapshots.get(project=PROJECT, snapshot="snap-1")
        assert snapshot.id == snapshot_id
        assert snapshot.status == "CREATING"  # the frozen clock came back too
        assert clients.instances.get(project=PROJECT, zone=ZONE, instance="vm").disks
        # The rate limit and the requestId memory survive as well.
        with pytest.raises(exceptions.Forbidden):
            clients.snapshots.insert_unary(
                request={
                    "project": PROJECT,
                    "snapshot_resource": {"name": "snap-2", "source_disk": DISK},
                }
            )
        replay = clients.snapshots.insert_unary(
            request={
                "project": PROJECT,
                "request_id": "9a1f7c3e-1111-4b7a-9c1d-2e3f4a5b6c7d",
                "snapshot_resource": {"name": "snap-1", "source_disk": DISK},
            }
        )
        assert replay.name == op.name
        # New ids never collide with loaded ones.
        new = second.admin.seed_disk(PROJECT, "other", zone=ZONE)
        assert int(new["id"]) > snapshot_id


def test_denied_permissions_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "compute.json"
    with ComputeServer(state_path=state) as first:
        first.admin.seed_disk(PROJECT, "data", zone=ZONE)
        first.admin.seed_project(PROJECT, denied_permissions=["compute.disks.get"])
    saved = json.loads(state.read_text())
    assert saved["projects"][0]["denied_permissions"] == ["compute.disks.get"]

    with ComputeServer(state_path=state) as second:
        clients = compute_clients(second.host)
        with pytest.raises(exceptions.Forbidden) as caught:
            clients.disks.get(project=PROJECT, zone=ZONE, disk="data")
        assert f"for 'projects/{PROJECT}/zones/{ZONE}/disks/data'" in caught.value.message
        assert [d.name for d in clients.disks.list(project=PROJECT, zone=ZONE)] == ["data"]


def test_a_state_file_from_before_denied_permissions_still_loads(tmp_path: Path) -> None:
    state = tmp_path / "compute.json"
    with ComputeServer(state_path=state) as first:
        first.admin.seed_disk(PROJECT, "data", zone=ZONE)
    saved = json.loads(state.read_text())
    for project in saved["projects"]:
        del project["denied_permissions"]
    state.write_text(json.dumps(saved))
    with ComputeServer(state_path=state) as second:
        clients = compute_clients(second.host)
        assert clients.disks.get(project=PROJECT, zone=ZONE, disk="data").name == "data"


class _Command:
    """`python -m snapkeeper_local.compute` in its own process group."""

    def __init__(self, state: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "snapkeeper_local.compute",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--state",
                str(state),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.host = self._first_line()

    def _first_line(self) -> str:
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=START_TIMEOUT):
                raise TimeoutError("the fake did not print its address")
        return self.process.stdout.readline().strip()

    def terminate(self) -> int:
        """SIGTERM to the group; the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def command(tmp_path: Path) -> Iterator[_Command]:
    started = _Command(tmp_path / "state.json")
    try:
        yield started
    finally:
        started.kill()


def test_the_command_serves_and_saves_its_state_on_sigterm(
    command: _Command, tmp_path: Path
) -> None:
    host, _, port = command.host.partition(":")
    assert host == "127.0.0.1" and int(port) > 0
    admin = ComputeAdmin(f"http://{command.host}")
    admin.seed_disk(PROJECT, "data", zone=ZONE)
    clients = compute_clients(command.host)
    assert clients.disks.get(project=PROJECT, zone=ZONE, disk="data").name == "data"
    admin.close()

    assert command.terminate() == 0
    saved = (tmp_path / "state.json").read_text()
    assert '"name": "data"' in saved

    restarted = _Command(tmp_path / "state.json")
    try:
        clients = compute_clients(restarted.host)
        assert clients.disks.get(project=PROJECT, zone=ZONE, disk="data").name == "data"
        assert restarted.terminate() == 0
    finally:
        restarted.kill()

"""Fixtures for the fake Compute Engine API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from snapkeeper_local.compute import ComputeAdmin, ComputeServer


@pytest.fixture(scope="session")
def compute_server() -> Iterator[ComputeServer]:
    """One fake Compute Engine for the session, on a free loopback port."""
    with ComputeServer() as server:
        yield server


@pytest.fixture
def fake_compute(compute_server: ComputeServer) -> Iterator[ComputeAdmin]:
    """The admin client of an emptied fake (state, clock, faults, log) for this test."""
    compute_server.admin.reset()
    yield compute_server.admin
    compute_server.admin.reset()


@pytest.fixture
def compute_env(fake_compute: ComputeAdmin, monkeypatch: pytest.MonkeyPatch) -> str:
    """COMPUTE_EMULATOR_HOST pointing at the (emptied) fake; returns host:port."""
    monkeypatch.setenv("COMPUTE_EMULATOR_HOST", fake_compute.host)
    return fake_compute.host


@dataclass(frozen=True)
class ComputeClients:
    """The real google-cloud-compute clients, pointed at the fake."""

    disks: compute_v1.DisksClient
    region_disks: compute_v1.RegionDisksClient
    instances: compute_v1.InstancesClient
    snapshots: compute_v1.SnapshotsClient
    global_operations: compute_v1.GlobalOperationsClient
    zone_operations: compute_v1.ZoneOperationsClient
    region_operations: compute_v1.RegionOperationsClient


def compute_clients(host: str) -> ComputeClients:
    options = {"api_endpoint": f"http://{host}"}
    credentials = AnonymousCredentials()
    return ComputeClients(
        disks=compute_v1.DisksClient(credentials=credentials, client_options=options),
        region_disks=compute_v1.RegionDisksClient(credentials=credentials, client_options=options),
        instances=compute_v1.InstancesClient(credentials=credentials, client_options=options),
        snapshots=compute_v1.SnapshotsClient(credentials=credentials, client_options=options),
        global_operations=compute_v1.GlobalOperationsClient(
            credentials=credentials, client_options=options
        ),
        zone_operations=compute_v1.ZoneOperationsClient(
            credentials=credentials, client_options=options
        ),
        region_operations=compute_v1.RegionOperationsClient(
            credentials=credentials, client_options=options
        ),
    )


@pytest.fixture
def compute(fake_compute: ComputeAdmin) -> ComputeClients:
    """Real clients for the emptied fake."""
    return compute_clients(fake_compute.host)

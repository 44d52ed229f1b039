"""Fixtures for the fake Compute Engine API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snapkeeper import clients
from snapkeeper.clients import ComputeClients
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


def compute_clients(host: str) -> ComputeClients:
    """The real google-cloud-compute clients pointed at the fake: the very ones the
    functions build (snapkeeper.clients), so the tests exercise the same wiring."""
    return clients.compute(host)


@pytest.fixture
def compute(fake_compute: ComputeAdmin) -> ComputeClients:
    """Real clients for the emptied fake."""
    return compute_clients(fake_compute.host)

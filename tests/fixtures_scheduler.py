"""Fixtures for the fake Cloud Scheduler API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import scheduler_v1

from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.scheduler import SchedulerServer


@pytest.fixture(scope="session")
def scheduler_server(pubsub_emulator: PubSubEmulator) -> Iterator[SchedulerServer]:
    """One fake Cloud Scheduler for the session, firing into the session's emulator."""
    with SchedulerServer(pubsub_emulator.host) as server:
        yield server


@pytest.fixture
def fake_scheduler(scheduler_server: SchedulerServer) -> Iterator[SchedulerServer]:
    """The session's fake, emptied (jobs, attempts, request log) before and after."""
    scheduler_server.admin.reset()
    yield scheduler_server
    scheduler_server.admin.reset()


@pytest.fixture
def scheduler_env(fake_scheduler: SchedulerServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """CLOUD_SCHEDULER_EMULATOR_HOST pointing at the emptied fake; returns host:port."""
    monkeypatch.setenv("CLOUD_SCHEDULER_EMULATOR_HOST", fake_scheduler.host)
    return fake_scheduler.host


def scheduler_client(host: str) -> scheduler_v1.CloudSchedulerClient:
    """The real client, as the product builds it for CLOUD_SCHEDULER_EMULATOR_HOST."""
    return scheduler_v1.CloudSchedulerClient(
        credentials=AnonymousCredentials(),
        transport="rest",  # a plain-HTTP local endpoint needs the REST transport
        client_options={"api_endpoint": f"http://{host}"},
    )


@pytest.fixture
def scheduler(scheduler_env: str) -> scheduler_v1.CloudSchedulerClient:
    """A real `google-cloud-scheduler` client for the emptied fake."""
    return scheduler_client(scheduler_env)

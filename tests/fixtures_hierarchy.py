"""Fixtures for the fake Cloud Resource Manager and Cloud Asset Inventory, both over
the session's fake Compute Engine (the Asset fake indexes its disks and snapshots)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snapkeeper import hierarchy
from snapkeeper_local.asset import AssetServer
from snapkeeper_local.compute import ComputeServer
from snapkeeper_local.resourcemanager import ResourceManagerServer


@pytest.fixture(scope="session")
def resource_manager_server() -> Iterator[ResourceManagerServer]:
    with ResourceManagerServer() as server:
        yield server


@pytest.fixture(scope="session")
def asset_server(
    compute_server: ComputeServer, resource_manager_server: ResourceManagerServer
) -> Iterator[AssetServer]:
    with AssetServer(compute_server.backend, resource_manager_server.backend) as server:
        yield server


@pytest.fixture
def fake_hierarchy(
    resource_manager_server: ResourceManagerServer,
    asset_server: AssetServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ResourceManagerServer]:
    """Both fakes emptied, their endpoints in the environment, no ancestry cached."""
    for server in (resource_manager_server, asset_server):
        server.admin.reset()
    hierarchy.ANCESTRY_CACHE.clear()
    monkeypatch.setenv("RESOURCE_MANAGER_EMULATOR_HOST", resource_manager_server.host)
    monkeypatch.setenv("CLOUD_ASSET_EMULATOR_HOST", asset_server.host)
    yield resource_manager_server
    hierarchy.ANCESTRY_CACHE.clear()

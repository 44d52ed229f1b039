"""Shared fixtures: the real Pub/Sub emulator and the local fakes.

Each fake's fixtures live in a module of their own, listed in `pytest_plugins`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from snapkeeper import pacing, quotaguard
from snapkeeper_local.pubsub_emulator import PubSubEmulator, missing_prerequisites

pytest_plugins = [
    "tests.fixtures_compute",
    "tests.fixtures_hierarchy",
    "tests.fixtures_scheduler",
    "tests.fixtures_stack",
]

EMULATOR_PROJECT = "snapkeeper-host"
# A test that needs any of these needs the emulator (Java) or gcloud: `make test-fast`
# leaves it out by the `emulator` marker, given here so no test can forget it.
EMULATOR_FIXTURES = frozenset({"pubsub_emulator", "gcloud_cli"})


# `make test` hands whole modules to its workers in collection order: the longest go
# first (each runs deploy.sh with the real gcloud several times), so no worker starts
# one of them when the others are nearly done.
LONGEST_MODULES = (
    "test_chaos.py",
    "test_deploy_cloud.py",
    "test_deploy_local.py",
    "test_demo.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if EMULATOR_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.emulator)
    rank = {name: place for place, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order kept


@pytest.fixture(autouse=True)
def fresh_pacer() -> Iterator[None]:
    """The snapshot function's pacer and quota readings are process state (as in a
    function instance): each test starts with every bucket open and nothing read."""
    pacing.pacer.cache_clear()
    quotaguard.forget()
    yield
    pacing.pacer.cache_clear()
    quotaguard.forget()


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    """The real Pub/Sub emulator, one for the session.

    Missing prerequisites skip the test with an install hint on a laptop and fail the run
    under CI=true, so CI can never pass by skipping."""
    reason = missing_prerequisites()
    if reason:
        if running_in_ci():
            pytest.fail(f"Pub/Sub emulator unavailable under CI: {reason}", pytrace=False)
        pytest.skip(f"Pub/Sub emulator unavailable: {reason}")
    with PubSubEmulator(project=EMULATOR_PROJECT) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcloud_cli() -> str:
    """The gcloud CLI: skipped with a hint on a laptop without it, a failure under CI."""
    path = shutil.which("gcloud")
    if path is None:
        reason = "gcloud is not on PATH: install the Google Cloud CLI"
        if running_in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def pubsub_env(pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the Google Pub/Sub client of this process at the emulator."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", EMULATOR_PROJECT)
    return pubsub_emulator.host

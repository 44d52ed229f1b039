"""The whole local stack (emulator, fakes, both functions) for end-to-end tests.

`local_stack` is shared by a test module (starting the two function processes costs a
few seconds); `stack` hands each test a clean fake Compute Engine and a fresh clock, and
`admin` that fake's admin API.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.stack import LocalStack

TARGET_PROJECTS = ("prod-app-1", "prod-db-2", "vault-backups")
_stack_ids = itertools.count(1)


@pytest.fixture(scope="module")
def local_stack(pubsub_emulator: PubSubEmulator) -> Iterator[LocalStack]:
    # A host project of its own per module keeps its topics apart on the shared emulator.
    with LocalStack(
        TARGET_PROJECTS,
        host_project=f"snapkeeper-host-{next(_stack_ids)}",
        emulator=pubsub_emulator,
    ) as stack:
        yield stack


@pytest.fixture
def stack(local_stack: LocalStack) -> LocalStack:
    assert local_stack.compute is not None
    local_stack.compute.admin.reset()
    return local_stack


@pytest.fixture
def admin(stack: LocalStack) -> ComputeAdmin:
    """The admin API of `stack`'s fake Compute Engine (clean for each test)."""
    assert stack.compute is not None
    return stack.compute.admin

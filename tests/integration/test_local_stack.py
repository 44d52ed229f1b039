"""The local stack stops everything it started, even when one part fails to stop."""

from __future__ import annotations

import os
import socket

import pytest

from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.stack import LocalStack


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)  # signal 0: does the group still exist?
    except ProcessLookupError:
        return False
    return True


def test_a_part_that_fails_to_stop_leaves_nothing_else_running(
    pubsub_emulator: PubSubEmulator,  # only for its prerequisite check: the stack starts its own
) -> None:
    stack = LocalStack(["stop-project"], host_project="snapkeeper-stop").start()
    processes = [stack.emulator._process, stack.enumerator._process, stack.snapshotter._process]  # type: ignore[union-attr]
    groups = [p.pid for p in processes if p is not None]
    assert len(groups) == 3

    def broken_stop() -> None:
        raise RuntimeError("the scheduler would not stop")

    real_stop = stack.scheduler.stop  # type: ignore[union-attr]
    stack.scheduler.stop = broken_stop  # type: ignore[union-attr,method-assign]
    try:
        with pytest.raises(RuntimeError, match="would not stop"):
            stack.stop()
        # The parts stopped after the scheduler (the fakes, the emulator) and before it.
        assert [g for g in groups if _group_alive(g)] == []
        assert stack.compute is not None
        host, port = stack.compute.host.rsplit(":", 1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5).close()
    finally:  # leave nothing running, whatever stop() did (every part's stop repeats safely)
        stack.scheduler.stop = real_stop  # type: ignore[union-attr,method-assign]
        stack.stop()

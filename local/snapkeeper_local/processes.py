"""Child processes in process groups of their own, so that stopping one also stops what
it started (gcloud's Java emulator, functions-framework's workers)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STOP_TIMEOUT_SECONDS = 10.0


def start_in_group(command: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
    """Start `command` as the leader of a new process group (stdin from /dev/null unless
    `popen` says otherwise), so that `stop_group` stops it with all it starts."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(list(command), start_new_session=True, **popen)


def run_in_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    stdin: str = "",
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run to completion; on timeout kill the whole group and raise TimeoutExpired."""
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = start_in_group(command, env=dict(env), cwd=cwd, text=True, **pipes)
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGKILL)
        process.communicate(timeout=STOP_TIMEOUT_SECONDS)
        raise
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def stop_group(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM the group, and SIGKILL it if the leader has not exited in `timeout`."""
    if process.poll() is not None:
        return
    kill_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process, signal.SIGKILL)
        process.wait(timeout=timeout)


def kill_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the group id is the leader's pid (new session)

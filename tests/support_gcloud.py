"""Running gcloud (and deploy.sh, which runs it) from a test: an isolated gcloud
environment, and a command run in its own process group whose result the test reads."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from snapkeeper_local.processes import run_in_group


@dataclass(frozen=True)
class Finished:
    """A command that ran to its end: its exit code and what it wrote."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_command(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    stdin: str = "",
    cwd: Path | None = None,
) -> Finished:
    """Run `command` in its own process group; on timeout the whole group is killed and
    the test fails."""
    try:
        done = run_in_group(command, env=env, timeout=timeout, stdin=stdin, cwd=cwd)
    except subprocess.TimeoutExpired:
        name = Path(command[0]).name
        pytest.fail(f"{name} {' '.join(command[1:])} timed out after {timeout:.0f} s")
    return Finished(done.returncode, done.stdout, done.stderr)


def gcloud_env(config_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An isolated gcloud: its own config dir, no prompts, a fake token, and none of the
    caller's CLOUDSDK_* or emulator settings unless given."""
    drop = ("CLOUDSDK_", "PUBSUB_EMULATOR_HOST", "CLOUD_SCHEDULER_EMULATOR_HOST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        CLOUDSDK_CONFIG=str(config_dir),
        CLOUDSDK_CORE_DISABLE_PROMPTS="1",
        CLOUDSDK_AUTH_ACCESS_TOKEN="fake",
        CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="1",
        CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
        # deploy.sh --dry-run keeps its staged files for the user: in the test's folder.
        TMPDIR=str(config_dir),
    )
    env.update(extra or {})
    return env

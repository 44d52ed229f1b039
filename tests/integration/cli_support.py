"""Running the `snapkeeper` CLI in process against the local stack: click's CliRunner,
the stack's environment, the real clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from snapkeeper.cli import cli
from snapkeeper.naming import SnapshotKey, snapshot_name
from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.stack import LocalStack

Cli = Callable[..., Result]
ZONE = "us-central1-a"
PROJECTS = ("prod-app-1", "prod-db-2", "vault-backups")  # the stack's TARGET_PROJECTS


@pytest.fixture
def run_cli(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`run_cli("status", "--json")` -> click Result; a traceback fails the test."""
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        assert "Traceback" not in result.output, result.output
        return result

    return run


def output_json(result: Result) -> Any:
    assert result.stdout, result.output
    return json.loads(result.stdout)


def admin(stack: LocalStack) -> ComputeAdmin:
    assert stack.compute is not None
    return stack.compute.admin


def seed_projects(stack: LocalStack) -> ComputeAdmin:
    """Every target project, so no tick dead-letters a project the test did not mean."""
    world = admin(stack)
    for project in PROJECTS:
        world.seed_project(project)
    return world


def seed_managed(
    world: ComputeAdmin, project: str, disk: dict[str, Any], schedule: str, taken: datetime,
    **extra: Any,
) -> str:  # fmt: skip
    """A READY snapshot as snapkeeper would have made it at `taken`."""
    slot = taken.strftime("%Y%m%d-%H%M")
    key = SnapshotKey(project, ZONE, disk["id"], disk["name"], schedule, slot)
    name = snapshot_name(key)
    labels = {"managed-by": "snapkeeper", "snapkeeper-disk-id": disk["id"],
              "snapkeeper-schedule": schedule, "snapkeeper-slot": slot}  # fmt: skip
    world.seed_snapshot(
        project, name, source_disk=disk["selfLink"], labels=labels,
        creation_timestamp=taken + timedelta(minutes=2), source_disk_id=disk["id"], **extra,
    )  # fmt: skip
    return name

"""Projects from folders and the organization, in process: the enumerator resolves a
folder tree through the fake Resource Manager each tick, the snapshot function checks a
message's project by its ancestry, and both run through functions-framework's test
client against the fake Compute Engine (Pub/Sub played by the recording publisher)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from snapkeeper.messages import Tick
from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.resourcemanager import DELETE_REQUESTED, ResourceManagerServer
from tests.integration.test_handlers_in_process import (
    DEAD_LETTER_TOPIC,
    WORK_TOPIC,
    RecordingPublisher,
    deliver,
    enumerator_fn,
    envelope,
    published,
    snapshot_fn,
    work,
)

__all__ = ["enumerator_fn", "published", "snapshot_fn"]  # fixtures used here

ZONE = "us-central1-a"
ORG = "organizations/4242"


@pytest.fixture
def tree(
    fake_compute: ComputeAdmin,
    fake_hierarchy: ResourceManagerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, dict[str, Any]]:
    """org / prod / team, and org / other: a project of each kind, each with a disk
    labelled for the daily schedule. Returns each project's disk."""
    admin = fake_hierarchy.admin
    admin.organization("4242")
    prod = admin.folder(ORG, "prod")
    team = admin.folder(prod, "team")
    other = admin.folder(ORG, "other")
    projects = {
        "prod-web-1": prod,
        "team-db-2": team,
        "team-gone-3": team,  # DELETE_REQUESTED below
        "team-skip-4": team,  # in EXCLUDE_PROJECTS
        "other-app-5": other,  # outside the folder
    }
    disks = {}
    for project, parent in projects.items():
        admin.project(project, parent)
        fake_compute.seed_project(project)
        disks[project] = fake_compute.seed_disk(
            project, "data", zone=ZONE, labels={"snapshot-daily": "2"}
        )
    admin.set_state("projects/team-gone-3", DELETE_REQUESTED)
    for key, value in {
        "GOOGLE_CLOUD_PROJECT": "snapkeeper-host",
        "TARGET_FOLDERS": prod,
        "EXCLUDE_PROJECTS": "team-skip-4",
        "COMPUTE_EMULATOR_HOST": fake_compute.host,
        "MAX_DELIVERY_ATTEMPTS": "5",
        "READY_WAIT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(key, value)
    for key in (
        "TARGET_PROJECTS",
        "TARGET_ORGANIZATION",
        "SNAPSHOT_PROJECT",
        "PUBSUB_EMULATOR_HOST",
    ):
        monkeypatch.delenv(key, raising=False)
    fake_compute.configure(creating_seconds=0.1, uploading_seconds=0.1, wait_seconds=0.5)
    return disks


def test_a_tick_over_a_folder_tree_snapshots_every_active_project_under_it(
    tree: dict[str, dict[str, Any]],
    fake_compute: ComputeAdmin,
    fake_hierarchy: ResourceManagerServer,
    published: RecordingPublisher,
    enumerator_fn: FlaskClient,
    snapshot_fn: FlaskClient,
) -> None:
    tick = Tick("daily", "0 3 * * *", "Etc/UTC").to_json()

    assert deliver(enumerator_fn, envelope("eventarc-binary", tick, attempt=1)) == 200

    messages = published.on(WORK_TOPIC)
    assert sorted(m.body["project"] for m in messages) == ["prod-web-1", "team-db-2"]
    assert published.on(DEAD_LETTER_TOPIC) == []
    # Two folders (prod, team): one projects.list and one folders.list each.
    assert fake_hierarchy.admin.request_counts() == {
        "cloudresourcemanager.projects.list": 2,
        "cloudresourcemanager.folders.list": 2,
    }
    for message in messages:
        assert deliver(snapshot_fn, envelope("eventarc-binary", message.data, attempt=1)) == 200
    made = {s["selfLink"].split("/projects/")[1].split("/")[0]: s for s in fake_compute.snapshots()}
    assert sorted(made) == ["prod-web-1", "team-db-2"]
    assert {s["status"] for s in made.values()} == {"READY"}


@pytest.mark.parametrize(
    ("project", "says"),
    [
        ("other-app-5", "not in TARGET_PROJECTS nor an ACTIVE project under"),
        ("team-gone-3", "not in TARGET_PROJECTS nor an ACTIVE project under"),
        ("team-skip-4", "is in EXCLUDE_PROJECTS"),
    ],
)
def test_work_for_a_project_outside_the_tree_is_dead_lettered(
    project: str,
    says: str,
    tree: dict[str, dict[str, Any]],
    fake_compute: ComputeAdmin,
    published: RecordingPublisher,
    snapshot_fn: FlaskClient,
) -> None:
    payload = work(tree[project], project=project)

    assert deliver(snapshot_fn, envelope("eventarc-binary", payload, attempt=1)) == 200

    [letter] = published.on(DEAD_LETTER_TOPIC)
    assert letter.attributes["error_class"] == "NotAllowed"
    assert says in letter.attributes["error"]
    assert fake_compute.snapshots() == []


def test_the_snapshot_function_asks_a_projects_ancestry_once(
    tree: dict[str, dict[str, Any]],
    fake_compute: ComputeAdmin,
    fake_hierarchy: ResourceManagerServer,
    published: RecordingPublisher,
    snapshot_fn: FlaskClient,
) -> None:
    logs = fake_compute.seed_disk("team-db-2", "logs", zone=ZONE, labels={"snapshot-daily": "2"})
    disks = [tree["team-db-2"], logs]

    for disk in disks:
        payload = work(disk, project="team-db-2")
        assert deliver(snapshot_fn, envelope("eventarc-binary", payload, attempt=1)) == 200

    assert published.on(DEAD_LETTER_TOPIC) == []
    assert len(fake_compute.snapshots()) == 2
    # projects.get, then folders.get of team, whose parent is the root (nothing above a
    # root is read: the account may see nothing there); the second disk asks nothing.
    assert fake_hierarchy.admin.request_counts() == {
        "cloudresourcemanager.projects.get": 1,
        "cloudresourcemanager.folders.get": 1,
    }


def test_a_folder_that_cannot_be_read_dead_letters_the_tick_with_the_reason(
    tree: dict[str, dict[str, Any]],
    published: RecordingPublisher,
    enumerator_fn: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TARGET_FOLDERS", "folders/999999")  # not one the caller may see
    tick = Tick("daily", "0 3 * * *", "Etc/UTC").to_json()

    assert deliver(enumerator_fn, envelope("eventarc-binary", tick, attempt=1)) == 200

    [letter] = published.on(DEAD_LETTER_TOPIC)
    assert letter.attributes["error_class"] == "ApiError"
    assert "folders/999999" in letter.attributes["error"]
    assert json.loads(letter.data)["schedule"] == "daily"
    assert published.on(WORK_TOPIC) == []


def test_with_the_organization_as_root_every_active_project_in_it_is_covered(
    tree: dict[str, dict[str, Any]],
    fake_compute: ComputeAdmin,
    published: RecordingPublisher,
    enumerator_fn: FlaskClient,
    snapshot_fn: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TARGET_FOLDERS")
    monkeypatch.setenv("TARGET_ORGANIZATION", "4242")
    tick = Tick("daily", "0 3 * * *", "Etc/UTC").to_json()

    assert deliver(enumerator_fn, envelope("eventarc-binary", tick, attempt=1)) == 200
    payload = work(tree["other-app-5"], project="other-app-5")  # right under the organization
    assert deliver(snapshot_fn, envelope("eventarc-binary", payload, attempt=1)) == 200

    projects = sorted(m.body["project"] for m in published.on(WORK_TOPIC))
    assert projects == ["other-app-5", "prod-web-1", "team-db-2"]
    assert published.on(DEAD_LETTER_TOPIC) == []
    made = [s["selfLink"].split("/projects/")[1].split("/")[0] for s in fake_compute.snapshots()]
    assert made == ["other-app-5"]

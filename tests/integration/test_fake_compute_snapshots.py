"""Snapshots and operations of the fake Compute Engine, through the real client, with the
fake clock frozen so every status change happens when the test moves time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from snapkeeper_local.compute import AdminError, ComputeAdmin
from tests.fixtures_compute import ComputeClients

PROJECT = "workload-a"
VAULT = "backup-vault"
ZONE = "us-central1-a"
DISK_URL = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks/data"
T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
RUNNING = compute_v1.Operation.Status.RUNNING
DONE = compute_v1.Operation.Status.DONE


@pytest.fixture
def world(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.set_clock(T0, frozen=True)
    fake_compute.configure(creating_seconds=2, uploading_seconds=3, wait_seconds=0.2)
    fake_compute.seed_disk(PROJECT, "data", zone=ZONE, size_gb=100, labels={"app": "db"}, id=7)
    fake_compute.seed_disk(PROJECT, "shared", region="us-central1", size_gb=20)
    return fake_compute


def _insert(
    clients: ComputeClients,
    name: str,
    source: str = DISK_URL,
    project: str = PROJECT,
    **extra: object,
) -> compute_v1.Operation:
    request: dict[str, object] = {
        "project": project,
        "snapshot_resource": {"name": name, "source_disk": source, **extra},
    }
    return clients.snapshots.insert_unary(request=request)


def _restore(
    clients: ComputeClients,
    snapshot: str,
    name: str = "restored",
    *,
    zone: str = ZONE,
    region: str | None = None,
    **fields: object,
) -> compute_v1.Operation:
    """Insert disk `name` in PROJECT from `snapshot` (a URL or a partial path): zonal in
    `zone`, or regional in `region`."""
    disk = compute_v1.Disk(mapping={"name": name, "source_snapshot": snapshot, **fields})
    if region is not None:
        return clients.region_disks.insert_unary(project=PROJECT, region=region, disk_resource=disk)
    return clients.disks.insert_unary(project=PROJECT, zone=zone, disk_resource=disk)


def test_snapshot_moves_creating_uploading_ready_with_the_clock(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    op = _insert(compute, "snap-1", labels={"managed-by": "snapkeeper"})
    assert op.status == RUNNING
    assert op.operation_type == "insert"
    assert op.target_link.endswith(f"/projects/{PROJECT}/global/snapshots/snap-1")
    snapshot = compute.snapshots.get(project=PROJECT, snapshot="snap-1")
    assert snapshot.status == "CREATING"
    assert op.target_id == snapshot.id
    assert snapshot.source_disk == DISK_URL
    assert snapshot.source_disk_id == "7"
    assert snapshot.disk_size_gb == 100
    assert snapshot.labels == {"managed-by": "snapkeeper"}
    assert snapshot.storage_locations == ["us"]
    assert snapshot.auto_created is False
    assert datetime.fromisoformat(snapshot.creation_timestamp) == T0

    world.advance_clock(2)
    assert compute.snapshots.get(project=PROJECT, snapshot="snap-1").status == "UPLOADING"
    assert compute.global_operations.get(project=PROJECT, operation=op.name).status == RUNNING
    world.advance_clock(3)
    ready = compute.snapshots.get(project=PROJECT, snapshot="snap-1")
    assert ready.status == "READY"
    assert ready.storage_bytes > 0
    done = compute.global_operations.get(project=PROJECT, operation=op.name)
    assert done.status == DONE
    assert done.progress == 100
    assert not done.error.errors
    assert done.end_time


def test_wait_answers_running_after_a_bounded_wait_then_done(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    op = _insert(compute, "snap-1")
    assert compute.global_operations.wait(project=PROJECT, operation=op.name).status == RUNNING
    world.advance_clock(5)
    assert compute.global_operations.wait(project=PROJECT, operation=op.name).status == DONE


def test_snapshot_of_a_regional_disk_and_partial_source_urls(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    _insert(compute, "regional", source="regions/us-central1/disks/shared")
    _insert(compute, "partial", source=f"projects/{PROJECT}/zones/{ZONE}/disks/data")
    regional = compute.snapshots.get(project=PROJECT, snapshot="regional")
    assert regional.source_disk.endswith(f"/projects/{PROJECT}/regions/us-central1/disks/shared")
    assert regional.disk_size_gb == 20
    assert compute.snapshots.get(project=PROJECT, snapshot="partial").source_disk == DISK_URL


def test_storage_location_and_guest_flush(world: ComputeAdmin, compute: ComputeClients) -> None:
    _insert(compute, "snap-1", storage_locations=["asia-northeast1"], guest_flush=True)
    snapshot = compute.snapshots.get(project=PROJECT, snapshot="snap-1")
    assert snapshot.storage_locations == ["asia-northeast1"]
    assert snapshot.guest_flush is True


def test_snapshot_in_a_vault_project(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.seed_project(VAULT)
    op = _insert(compute, "vaulted", project=VAULT)
    assert op.target_link.endswith(f"/projects/{VAULT}/global/snapshots/vaulted")
    snapshot = compute.snapshots.get(project=VAULT, snapshot="vaulted")
    assert snapshot.source_disk == DISK_URL
    assert [s.name for s in compute.snapshots.list(project=VAULT)] == ["vaulted"]
    assert list(compute.snapshots.list(project=PROJECT)) == []


def test_snapshot_of_a_disk_in_a_locked_project_is_forbidden(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_project(VAULT)
    world.seed_project(PROJECT, accessible=False)
    with pytest.raises(exceptions.Forbidden) as caught:
        _insert(compute, "vaulted", project=VAULT)
    assert caught.value.errors[0]["reason"] == "forbidden"


def test_a_project_denying_operations_get_can_insert_but_not_follow_the_operation(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_project(VAULT, denied_permissions=["compute.globalOperations.get"])
    op = _insert(compute, "vaulted", project=VAULT)
    assert compute.snapshots.get(project=VAULT, snapshot="vaulted").status == "CREATING"
    for call in (compute.global_operations.get, compute.global_operations.wait):
        with pytest.raises(exceptions.Forbidden) as caught:
            call(project=VAULT, operation=op.name)
        assert caught.value.errors[0]["reason"] == "forbidden"
        assert caught.value.message.endswith(
            "Required 'compute.globalOperations.get' permission for "
            f"'projects/{VAULT}/global/operations/{op.name}'"
        )
    # Other projects still grant it.
    world.advance_clock(600)
    local = _insert(compute, "local")
    assert compute.global_operations.get(project=PROJECT, operation=local.name).status == RUNNING


@pytest.mark.parametrize(
    ("project", "denied", "permission", "resource"),
    [
        (
            VAULT,
            "compute.snapshots.create",
            "compute.snapshots.create",
            f"projects/{VAULT}/global/snapshots/vaulted",
        ),
        (
            PROJECT,
            "compute.disks.createSnapshot",
            "compute.disks.createSnapshot",
            f"projects/{PROJECT}/zones/{ZONE}/disks/data",
        ),
    ],
)
def test_snapshot_insert_needs_create_in_the_target_and_create_snapshot_on_the_disk(
    world: ComputeAdmin,
    compute: ComputeClients,
    project: str,
    denied: str,
    permission: str,
    resource: str,
) -> None:
    world.seed_project(VAULT)
    world.seed_project(project, denied_permissions=[denied])
    with pytest.raises(exceptions.Forbidden) as caught:
        _insert(compute, "vaulted", project=VAULT)
    assert caught.value.errors[0]["reason"] == "forbidden"
    assert f"Required '{permission}' permission for '{resource}'" in caught.value.message
    assert world.snapshots() == []
    # Seeding the project again replaces its settings.
    world.seed_project(project)
    _insert(compute, "vaulted", project=VAULT)


def test_denied_permissions_survive_in_the_state_and_are_validated(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    seeded = world.seed_project(VAULT, denied_permissions=["compute.snapshots.list"])
    assert seeded["denied_permissions"] == ["compute.snapshots.list"]
    with pytest.raises(exceptions.Forbidden):
        list(compute.snapshots.list(project=VAULT))
    with pytest.raises(AdminError, match="400"):
        world.seed_project(VAULT, denied_permissions=["not a permission"])


def test_request_id_makes_an_insert_idempotent(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    request = {
        "project": PROJECT,
        "request_id": "0b6c1a2e-6c8e-4a53-9d55-3f7b5a1c2d3e",
        "snapshot_resource": {"name": "snap-1", "source_disk": DISK_URL},
    }
    first = compute.snapshots.insert_unary(request=request)
    # A retry within the rate-limit window: neither 403 nor 409, the same operation.
    second = compute.snapshots.insert_unary(request=request)
    assert second.name == first.name
    assert second.target_id == first.target_id
    assert [s.name for s in compute.snapshots.list(project=PROJECT)] == ["snap-1"]
    assert len(world.snapshots()) == 1


def test_an_existing_name_is_a_conflict(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.seed_snapshot(PROJECT, "snap-1", source_disk=DISK_URL)
    with pytest.raises(exceptions.Conflict) as caught:
        _insert(compute, "snap-1")
    assert caught.value.errors[0]["reason"] == "alreadyExists"
    assert f"'projects/{PROJECT}/global/snapshots/snap-1' already exists" in caught.value.message


def test_a_missing_source_disk_is_not_found(world: ComputeAdmin, compute: ComputeClients) -> None:
    with pytest.raises(exceptions.NotFound) as caught:
        _insert(compute, "snap-1", source=f"zones/{ZONE}/disks/gone")
    assert caught.value.errors[0]["reason"] == "notFound"
    assert f"projects/{PROJECT}/zones/{ZONE}/disks/gone" in caught.value.message


@pytest.mark.parametrize(
    "resource",
    [
        {"name": "Snap_1"},
        {"name": "1snap"},
        {"name": "snap-"},
        {"name": "s" * 64},
        {"name": "ok", "labels": {"Upper": "x"}},
        {"name": "ok", "labels": {"1starts-with-digit": "x"}},
        {"name": "ok", "labels": {"k": "UPPER"}},
        {"name": "ok", "labels": {"k": "v" * 64}},
        {"name": "ok", "labels": {f"k{i}": "v" for i in range(65)}},
    ],
)
def test_invalid_names_and_labels_are_bad_requests(
    world: ComputeAdmin, compute: ComputeClients, resource: dict[str, object]
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.snapshots.insert_unary(
            request={
                "project": PROJECT,
                "snapshot_resource": {**resource, "source_disk": DISK_URL},
            }
        )
    assert caught.value.errors[0]["reason"] == "invalid"


def test_valid_edge_names_and_labels_are_accepted(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    labels = {f"k{i}": "" for i in range(62)} | {"k" + "x" * 62: "v" * 63, "clé": "été"}
    _insert(compute, "s" * 63, labels=labels)
    assert len(compute.snapshots.get(project=PROJECT, snapshot="s" * 63).labels) == 64


def test_second_snapshot_of_a_disk_within_ten_minutes_is_rate_limited(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    _insert(compute, "first")
    world.advance_clock(9 * 60 + 59)
    with pytest.raises(exceptions.Forbidden) as caught:
        _insert(compute, "second")
    assert caught.value.errors[0]["reason"] == "RESOURCE_OPERATION_RATE_EXCEEDED"
    assert caught.value.reason == "RESOURCE_OPERATION_RATE_EXCEEDED"
    assert "Too frequent operations from the source resource" in caught.value.message
    # Another disk is not limited.
    _insert(compute, "other", source="regions/us-central1/disks/shared")
    world.advance_clock(1)
    _insert(compute, "second")
    assert {s["name"] for s in world.snapshots()} == {"first", "other", "second"}


def test_list_snapshots_with_label_filters_and_paging(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    for i in range(12):
        world.seed_snapshot(
            PROJECT,
            f"snap-{i:02d}",
            source_disk=DISK_URL,
            labels={
                "managed-by": "snapkeeper",
                "snapkeeper-schedule": "daily" if i % 2 else "hourly",
            },
        )
    world.seed_snapshot(PROJECT, "manual", source_disk=DISK_URL)
    pager = compute.snapshots.list(
        request={
            "project": PROJECT,
            "filter": "(labels.managed-by = snapkeeper) (labels.snapkeeper-schedule = daily)",
            "max_results": 4,
        }
    )
    pages = list(pager.pages)
    assert [len(page.items) for page in pages] == [4, 2]
    names = [s.name for page in pages for s in page.items]
    assert names == [f"snap-{i:02d}" for i in range(1, 12, 2)]


def test_seeded_snapshots_keep_their_status_and_time(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    created = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    world.seed_snapshot(
        PROJECT, "stuck", source_disk=DISK_URL, status="CREATING", creation_timestamp=created
    )
    world.seed_snapshot(PROJECT, "broken", source_disk=DISK_URL, status="FAILED")
    world.advance_clock(3600)
    stuck = compute.snapshots.get(project=PROJECT, snapshot="stuck")
    assert stuck.status == "CREATING"
    assert datetime.fromisoformat(stuck.creation_timestamp) == created
    assert stuck.source_disk_id == "7"
    assert compute.snapshots.get(project=PROJECT, snapshot="broken").status == "FAILED"
    listed = compute.snapshots.list(request={"project": PROJECT, "filter": "status = FAILED"})
    assert [s.name for s in listed] == ["broken"]


def test_delete_snapshot(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.seed_snapshot(PROJECT, "old", source_disk=DISK_URL)
    op = compute.snapshots.delete_unary(project=PROJECT, snapshot="old")
    assert op.operation_type == "delete"
    assert op.status == DONE
    with pytest.raises(exceptions.NotFound):
        compute.snapshots.get(project=PROJECT, snapshot="old")
    with pytest.raises(exceptions.NotFound):
        compute.snapshots.delete_unary(project=PROJECT, snapshot="old")


def test_a_snapshot_still_being_created_cannot_be_deleted(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    _insert(compute, "young")
    for status, seconds in (("CREATING", 2), ("UPLOADING", 3)):
        assert compute.snapshots.get(project=PROJECT, snapshot="young").status == status
        with pytest.raises(exceptions.BadRequest) as caught:
            compute.snapshots.delete_unary(project=PROJECT, snapshot="young")
        assert caught.value.errors[0]["reason"] == "resourceNotReady"
        assert f"'projects/{PROJECT}/global/snapshots/young' is not ready" in (caught.value.message)
        world.advance_clock(seconds)
    compute.snapshots.delete_unary(project=PROJECT, snapshot="young")


def test_set_labels_needs_the_current_fingerprint(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_snapshot(PROJECT, "pin-me", source_disk=DISK_URL, labels={"a": "1"})
    current = compute.snapshots.get(project=PROJECT, snapshot="pin-me")
    compute.snapshots.set_labels_unary(
        project=PROJECT,
        resource="pin-me",
        global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
            mapping={
                "labels": {"a": "1", "snapshot-keep": "true"},
                "label_fingerprint": current.label_fingerprint,
            }
        ),
    )
    updated = compute.snapshots.get(project=PROJECT, snapshot="pin-me")
    assert updated.labels == {"a": "1", "snapshot-keep": "true"}
    assert updated.label_fingerprint != current.label_fingerprint
    with pytest.raises(exceptions.PreconditionFailed) as caught:
        compute.snapshots.set_labels_unary(
            project=PROJECT,
            resource="pin-me",
            global_set_labels_request_resource=compute_v1.GlobalSetLabelsRequest(
                mapping={
                    "labels": {},
                    "label_fingerprint": current.label_fingerprint,  # stale now
                }
            ),
        )
    assert caught.value.errors[0]["reason"] == "conditionNotMet"
    assert compute.snapshots.get(project=PROJECT, snapshot="pin-me").labels == updated.labels


def test_restore_a_zonal_disk_from_a_snapshot(world: ComputeAdmin, compute: ComputeClients) -> None:
    snap = world.seed_snapshot(PROJECT, "snap-1", source_disk=DISK_URL)
    op = _restore(
        compute,
        "global/snapshots/snap-1",
        "data-restored",
        zone="us-central1-b",
        labels={"restored": "true"},
    )
    assert op.status == RUNNING
    assert op.zone.endswith("/zones/us-central1-b")
    disk = compute.disks.get(project=PROJECT, zone="us-central1-b", disk="data-restored")
    assert disk.status == "CREATING"
    assert disk.source_snapshot == snap["selfLink"]
    assert str(disk.source_snapshot_id) == snap["id"]
    assert disk.size_gb == 100
    world.advance_clock(1)
    assert (
        compute.zone_operations.wait(
            project=PROJECT, zone="us-central1-b", operation=op.name
        ).status
        == DONE
    )
    assert (
        compute.disks.get(project=PROJECT, zone="us-central1-b", disk="data-restored").status
        == "READY"
    )
    with pytest.raises(exceptions.Conflict):
        _restore(compute, snap["selfLink"], "data-restored", zone="us-central1-b")


def test_restore_a_regional_disk_from_a_vault_snapshot(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_snapshot(VAULT, "vaulted", source_disk=DISK_URL)
    op = _restore(
        compute,
        f"projects/{VAULT}/global/snapshots/vaulted",
        region="us-central1",
        replica_zones=["zones/us-central1-a", "zones/us-central1-b"],
        size_gb=200,
    )
    world.advance_clock(1)
    done = compute.region_operations.get(project=PROJECT, region="us-central1", operation=op.name)
    assert done.status == DONE
    disk = compute.region_disks.get(project=PROJECT, region="us-central1", disk="restored")
    assert disk.size_gb == 200
    assert disk.source_snapshot.endswith(f"/projects/{VAULT}/global/snapshots/vaulted")


def test_restore_refuses_a_snapshot_that_is_not_ready(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    _insert(compute, "young")
    with pytest.raises(exceptions.BadRequest) as caught:
        _restore(compute, "global/snapshots/young")
    assert caught.value.errors[0]["reason"] == "resourceNotReady"


def test_unknown_operations_are_not_found(world: ComputeAdmin, compute: ComputeClients) -> None:
    with pytest.raises(exceptions.NotFound):
        compute.global_operations.get(project=PROJECT, operation="operation-nope")
    with pytest.raises(exceptions.NotFound):
        compute.zone_operations.wait(project=PROJECT, zone=ZONE, operation="operation-nope")


def test_admin_lists_snapshots_of_every_project(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_project(VAULT)
    _insert(compute, "here")
    _insert(
        compute,
        "there",
        project=VAULT,
        source=f"projects/{PROJECT}/regions/us-central1/disks/shared",
    )
    by_link = {s["selfLink"]: s for s in world.snapshots()}
    assert set(by_link) == {
        f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/snapshots/here",
        f"https://www.googleapis.com/compute/v1/projects/{VAULT}/global/snapshots/there",
    }
    assert all(
        s["status"] == "CREATING" and s["kind"] == "compute#snapshot" for s in by_link.values()
    )


@pytest.mark.parametrize(
    "expression",
    [
        'labels.managed-by = "snapkeeper" AND labels.snapkeeper-schedule = "daily"',
        'labels.managed-by = "snapkeeper" labels.snapkeeper-schedule = "daily"',
    ],
)
def test_several_unparenthesized_filter_expressions_are_a_bad_request(
    world: ComputeAdmin, compute: ComputeClients, expression: str
) -> None:
    world.seed_snapshot(PROJECT, "snap-1", source_disk=DISK_URL, labels={"managed-by": "x"})
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.snapshots.list(request={"project": PROJECT, "filter": expression})
    assert caught.value.errors[0]["reason"] == "invalid"
    assert "Invalid list filter expression" in caught.value.message
    # Each expression in its own parentheses is the accepted form.
    parenthesized = compute.snapshots.list(
        request={
            "project": PROJECT,
            "filter": '(labels.managed-by = "x") AND (status = READY)',
        }
    )
    assert [s.name for s in parenthesized] == ["snap-1"]


def test_restore_from_a_missing_snapshot_is_not_found_and_a_restoring_disk_cannot_be_deleted(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    with pytest.raises(exceptions.NotFound):
        _restore(compute, "global/snapshots/nope")
    world.seed_snapshot(PROJECT, "snap-1", source_disk=DISK_URL)
    world.configure(disk_creating_seconds=60)
    _restore(compute, "global/snapshots/snap-1")
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.disks.delete_unary(project=PROJECT, zone=ZONE, disk="restored")
    assert caught.value.errors[0]["reason"] == "resourceNotReady"
    world.advance_clock(60)
    op = compute.disks.delete_unary(project=PROJECT, zone=ZONE, disk="restored")
    assert op.operation_type == "delete" and op.zone.endswith(f"/zones/{ZONE}")
    with pytest.raises(exceptions.NotFound):
        compute.disks.get(project=PROJECT, zone=ZONE, disk="restored")


def test_restore_needs_use_read_only_on_the_snapshot_where_it_lives(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_project(VAULT, denied_permissions=["compute.snapshots.useReadOnly"])
    world.seed_snapshot(VAULT, "vaulted", source_disk=DISK_URL)
    with pytest.raises(exceptions.Forbidden) as caught:
        _restore(compute, f"projects/{VAULT}/global/snapshots/vaulted")
    assert "compute.snapshots.useReadOnly" in caught.value.message
    assert f"projects/{VAULT}/global/snapshots/vaulted" in caught.value.message

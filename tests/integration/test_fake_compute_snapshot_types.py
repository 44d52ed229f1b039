"""What a snapshot carries beyond its source in the fake Compute Engine, through the real
client: snapshotType, snapshotEncryptionKey (never the key itself), chainName, and
storageBytes that are incremental as the real API bills them. Strict where unsure."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from snapkeeper_local.compute import ComputeAdmin
from tests.fixtures_compute import ComputeClients

PROJECT = "workload-a"
ZONE = "us-central1-a"
DISK = f"projects/{PROJECT}/zones/{ZONE}/disks/data"
GIB = 2**30
KMS = "projects/kms-proj-1/locations/us/keyRings/backups/cryptoKeys/snapshots"


@pytest.fixture
def world(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.set_clock(datetime(2027, 3, 1, tzinfo=UTC), frozen=True)
    fake_compute.configure(creating_seconds=1, uploading_seconds=1, rate_limit_seconds=0)
    fake_compute.seed_disk(PROJECT, "data", zone=ZONE, size_gb=100)
    return fake_compute


def insert(clients: ComputeClients, name: str, **extra: object) -> compute_v1.Snapshot:
    resource = {"name": name, "source_disk": DISK, **extra}
    clients.snapshots.insert_unary(request={"project": PROJECT, "snapshot_resource": resource})
    return clients.snapshots.get(project=PROJECT, snapshot=name)


def ready(world: ComputeAdmin, clients: ComputeClients, name: str) -> compute_v1.Snapshot:
    world.advance_clock(60)
    return clients.snapshots.get(project=PROJECT, snapshot=name)


def test_snapshot_type_is_standard_unless_archive_is_asked(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    assert insert(compute, "plain").snapshot_type == "STANDARD"
    assert insert(compute, "cold", snapshot_type="ARCHIVE").snapshot_type == "ARCHIVE"
    listed = {s.name: s.snapshot_type for s in compute.snapshots.list(project=PROJECT)}
    assert listed == {"plain": "STANDARD", "cold": "ARCHIVE"}


def test_an_unknown_snapshot_type_is_a_400(world: ComputeAdmin, compute: ComputeClients) -> None:
    with pytest.raises(exceptions.BadRequest, match=r"resource\.snapshotType"):
        insert(compute, "odd", snapshot_type="COLDLINE")
    assert world.snapshots() == []


def test_a_kms_key_is_answered_by_name_with_its_version(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    key = compute_v1.CustomerEncryptionKey(kms_key_name=KMS)
    snapshot = insert(compute, "sealed", snapshot_encryption_key=key)
    assert snapshot.snapshot_encryption_key.kms_key_name == f"{KMS}/cryptoKeyVersions/1"
    assert not snapshot.snapshot_encryption_key.raw_key


def test_a_raw_key_is_never_answered_only_its_hash(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    raw = base64.b64encode(bytes(range(32))).decode()
    snapshot = insert(
        compute, "raw", snapshot_encryption_key=compute_v1.CustomerEncryptionKey(raw_key=raw)
    )
    assert snapshot.snapshot_encryption_key.sha256 and not snapshot.snapshot_encryption_key.raw_key
    assert raw not in str(world.snapshots())


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ({"kms_key_name": "my-key"}, "kmsKeyName"),
        ({"raw_key": base64.b64encode(b"short").decode()}, "256-bit"),
        ({"kms_key_name": KMS, "raw_key": base64.b64encode(bytes(32)).decode()}, "Exactly one"),
    ],
)
def test_a_bad_encryption_key_is_a_400(
    key: dict[str, str], says: str, world: ComputeAdmin, compute: ComputeClients
) -> None:
    with pytest.raises(exceptions.BadRequest, match=says):
        insert(compute, "bad", snapshot_encryption_key=compute_v1.CustomerEncryptionKey(**key))


def test_chain_name_is_kept_and_checked(world: ComputeAdmin, compute: ComputeClients) -> None:
    assert insert(compute, "chained", chain_name="db-chain").chain_name == "db-chain"
    with pytest.raises(exceptions.BadRequest, match="RFC1035"):
        insert(compute, "badchain", chain_name="Db_Chain")


def test_storage_bytes_are_incremental_per_disk_and_chain(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    insert(compute, "first")
    first = ready(world, compute, "first")
    assert first.storage_bytes == 100 * GIB  # the whole disk
    insert(compute, "second")
    second = ready(world, compute, "second")
    assert 0 < second.storage_bytes <= 3 * GIB  # a delta
    insert(compute, "other-chain", chain_name="monthly")
    assert ready(world, compute, "other-chain").storage_bytes == 100 * GIB
    # Deleting the first hands what the second still needs to it.
    compute.snapshots.delete_unary(project=PROJECT, snapshot="first")
    heir = compute.snapshots.get(project=PROJECT, snapshot="second")
    assert heir.storage_bytes == 100 * GIB


def test_storage_bytes_are_zero_until_ready(world: ComputeAdmin, compute: ComputeClients) -> None:
    assert insert(compute, "young").storage_bytes == 0
    assert ready(world, compute, "young").storage_bytes > 0


def test_seeded_snapshots_take_a_type(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.seed_snapshot(PROJECT, "old-archive", source_disk=DISK, snapshot_type="ARCHIVE")
    assert compute.snapshots.get(project=PROJECT, snapshot="old-archive").snapshot_type == (
        "ARCHIVE"
    )

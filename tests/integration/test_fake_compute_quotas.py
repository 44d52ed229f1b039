"""Quotas of the fake Compute Engine, through the unmodified google-cloud-compute client:
rate buckets, concurrent operations, the SNAPSHOTS quota in projects.get and in an
insert's operation, and the time scale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from snapkeeper.compute import classify, error_reasons
from snapkeeper.errors import Outcome
from snapkeeper_local.compute import AdminError, ComputeAdmin
from tests.fixtures_compute import ComputeClients

PROJECT = "workload-a"
OTHER = "workload-b"
ZONE = "us-central1-a"
TIMEOUT = 5.0


@pytest.fixture
def world(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.set_clock(datetime(2026, 3, 1, tzinfo=UTC), frozen=True)
    for project in (PROJECT, OTHER):
        for name in ("d0", "d1", "d2"):
            fake_compute.seed_disk(project, name, zone=ZONE)
    return fake_compute


def _insert(
    compute: ComputeClients, name: str, disk: str = "d0", project: str = PROJECT
) -> compute_v1.Operation:
    resource = compute_v1.Snapshot(
        name=name, source_disk=f"projects/{project}/zones/{ZONE}/disks/{disk}"
    )
    return compute.snapshots.insert_unary(
        project=project, snapshot_resource=resource, retry=None, timeout=TIMEOUT
    )


def test_the_write_bucket_answers_the_real_rate_limit_body(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.set_quotas(PROJECT, writes_per_minute=2)
    _insert(compute, "s0", "d0")
    _insert(compute, "s1", "d1")
    with pytest.raises(exceptions.Forbidden) as caught:
        _insert(compute, "s2", "d2")
    exc = caught.value
    assert exc.code == 403
    assert exc.reason == "RATE_LIMIT_EXCEEDED"
    assert exc.domain == "googleapis.com"
    assert exc.metadata["quota_limit_value"] == "2"
    assert exc.errors[0]["reason"] == "rateLimitExceeded"
    assert exc.errors[0]["domain"] == "usageLimits"
    # snapkeeper's error table reads it as "slow down", not as a permission problem.
    assert error_reasons(exc).transient and classify(exc) is Outcome.TRANSIENT
    # Reads have their own bucket, and other projects their own quotas.
    assert compute.snapshots.get(project=PROJECT, snapshot="s0", timeout=TIMEOUT).name == "s0"
    _insert(compute, "s2", "d2", project=OTHER)
    assert world.quotas()["refused"] == {"global_write": 1}


def test_the_window_is_a_minute_of_the_fake_clock(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.set_quotas(writes_per_minute=1)
    _insert(compute, "s0", "d0")
    with pytest.raises(exceptions.Forbidden):
        _insert(compute, "s1", "d1")
    world.advance_clock(61)
    _insert(compute, "s1", "d1")


def test_the_read_bucket_and_a_lifted_limit(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.set_quotas(PROJECT, reads_per_minute=1)
    compute.disks.get(project=PROJECT, zone=ZONE, disk="d0", timeout=TIMEOUT)
    with pytest.raises(exceptions.Forbidden) as caught:
        compute.disks.get(project=PROJECT, zone=ZONE, disk="d0", retry=None, timeout=TIMEOUT)
    assert caught.value.reason == "RATE_LIMIT_EXCEEDED"
    world.set_quotas(PROJECT, reads_per_minute=None)
    compute.disks.get(project=PROJECT, zone=ZONE, disk="d0", timeout=TIMEOUT)


def test_disk_writes_count_per_region(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.set_quotas(PROJECT, region_writes_per_minute=1, writes_per_minute=0)
    compute.disks.delete_unary(project=PROJECT, zone=ZONE, disk="d0", timeout=TIMEOUT)
    with pytest.raises(exceptions.Forbidden):
        compute.disks.delete_unary(project=PROJECT, zone=ZONE, disk="d1", timeout=TIMEOUT)
    world.seed_disk(PROJECT, "e0", zone="europe-west1-b")
    compute.disks.delete_unary(project=PROJECT, zone="europe-west1-b", disk="e0", timeout=TIMEOUT)


def test_concurrent_operations(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.set_quotas(PROJECT, concurrent_operations=1)
    _insert(compute, "s0", "d0")  # runs until the (frozen) clock passes its end
    with pytest.raises(exceptions.Forbidden) as caught:
        _insert(compute, "s1", "d1")
    assert caught.value.reason == "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED"
    assert classify(caught.value) is Outcome.TRANSIENT
    world.advance_clock(5)
    _insert(compute, "s1", "d1")


def test_projects_get_lists_the_snapshots_quota_and_an_insert_beyond_it_fails(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    projects = compute_v1.ProjectsClient(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://{world.host}"},
        transport="rest",
    )
    world.set_quotas(PROJECT, snapshots=2)
    world.seed_snapshot(PROJECT, "old", source_disk=f"projects/{PROJECT}/zones/{ZONE}/disks/d0")
    _insert(compute, "s1", "d1")

    quota = {q.metric: q for q in projects.get(project=PROJECT, timeout=TIMEOUT).quotas}
    assert (quota["SNAPSHOTS"].limit, quota["SNAPSHOTS"].usage) == (2.0, 2.0)

    operation = _insert(compute, "s2", "d2")
    assert operation.status == compute_v1.Operation.Status.DONE
    assert operation.http_error_status_code == 403
    assert operation.error.errors[0].code == "QUOTA_EXCEEDED"
    assert "SNAPSHOTS" in operation.error.errors[0].message
    with pytest.raises(exceptions.NotFound):
        compute.snapshots.get(project=PROJECT, snapshot="s2", timeout=TIMEOUT)

    compute.snapshots.delete_unary(project=PROJECT, snapshot="old", timeout=TIMEOUT)
    quota = {q.metric: q for q in projects.get(project=PROJECT, timeout=TIMEOUT).quotas}
    assert quota["SNAPSHOTS"].usage == 1.0


def test_a_bad_quota_is_refused(world: ComputeAdmin) -> None:
    with pytest.raises(AdminError, match="writes_per_hour"):
        world.set_quotas(writes_per_hour=3)
    with pytest.raises(AdminError, match="Must be an integer"):
        world.set_quotas(writes_per_minute=-1)


def test_the_time_scale_speeds_operations_up(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disk(PROJECT, "d0", zone=ZONE)
    fake_compute.configure(creating_seconds=30, uploading_seconds=30, time_scale=600)
    operation = _insert(compute, "s0", "d0")
    done = compute.global_operations.wait(
        project=PROJECT, operation=operation.name, timeout=TIMEOUT
    )
    # 60 fake seconds are a tenth of a real second: one wait call sees it DONE.
    assert done.status == compute_v1.Operation.Status.DONE
    snapshot = compute.snapshots.get(project=PROJECT, snapshot="s0", timeout=TIMEOUT)
    assert snapshot.status == "READY"


def test_disks_create_snapshot_counts_in_its_region(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.set_quotas(PROJECT, region_writes_per_minute=1, writes_per_minute=0)
    operation = compute.disks.create_snapshot_unary(
        project=PROJECT,
        zone=ZONE,
        disk="d0",
        snapshot_resource=compute_v1.Snapshot(name="s0"),
        timeout=TIMEOUT,
    )
    assert operation.zone.endswith(f"zones/{ZONE}")  # a zonal operation
    snapshot = compute.snapshots.get(project=PROJECT, snapshot="s0", timeout=TIMEOUT)
    assert snapshot.source_disk.endswith(f"projects/{PROJECT}/zones/{ZONE}/disks/d0")
    with pytest.raises(exceptions.Forbidden) as caught:
        compute.disks.create_snapshot_unary(
            project=PROJECT,
            zone=ZONE,
            disk="d1",
            snapshot_resource=compute_v1.Snapshot(name="s1"),
            timeout=TIMEOUT,
        )
    assert caught.value.metadata["quota_location"] == "us-central1"

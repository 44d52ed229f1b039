"""Fault rules, the request log and reset of the fake Compute Engine, through the real
client. Every call that meets an injected 5xx passes `retry=None` or a short Retry: list
calls would otherwise retry 503 for minutes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from google.api_core import exceptions
from google.api_core.retry import Retry, if_exception_type
from google.cloud import compute_v1

from snapkeeper_local.compute import AdminError, ComputeAdmin
from tests.fixtures_compute import ComputeClients

PROJECT = "workload-a"
ZONE = "us-central1-a"
DISK_URL = f"projects/{PROJECT}/zones/{ZONE}/disks/data"
TIMEOUT = 5.0


@pytest.fixture
def world(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.set_clock(datetime(2026, 3, 1, tzinfo=UTC), frozen=True)
    fake_compute.seed_disk(PROJECT, "data", zone=ZONE)
    fake_compute.seed_disk(PROJECT, "logs", zone=ZONE)
    return fake_compute


def _get_disk(clients: ComputeClients, retry: Retry | None = None) -> compute_v1.Disk:
    return clients.disks.get(project=PROJECT, zone=ZONE, disk="data", retry=retry, timeout=TIMEOUT)


def test_a_counted_fault_fires_n_times(world: ComputeAdmin, compute: ComputeClients) -> None:
    rule = world.add_fault(api_method="compute.disks.get", status=503, count=2)
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable) as caught:
            _get_disk(compute)
        assert caught.value.errors[0]["reason"] == "backendError"
    assert _get_disk(compute).name == "data"
    assert [(f["id"], f["fired"]) for f in world.faults()] == [(rule, 2)]


def test_a_short_retry_rides_over_a_counted_503_on_a_list(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.add_fault(api_method="compute.disks.aggregatedList", status=503, count=2)
    retry = Retry(
        initial=0.01,
        maximum=0.05,
        timeout=TIMEOUT,
        predicate=if_exception_type(exceptions.ServiceUnavailable),
    )
    pager = compute.disks.aggregated_list(
        request={"project": PROJECT}, retry=retry, timeout=TIMEOUT
    )
    assert sorted(d.name for _, scoped in pager for d in scoped.disks) == ["data", "logs"]
    assert world.counts()["compute.disks.aggregatedList"] == 3


def test_429_on_insert_with_a_custom_reason(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.add_fault(
        api_method="compute.snapshots.insert",
        status=429,
        reason="rateLimitExceeded",
        message="Quota exceeded for quota metric 'Heavy-weight write requests'",
        count=1,
    )
    request = {"project": PROJECT, "snapshot_resource": {"name": "s1", "source_disk": DISK_URL}}
    with pytest.raises(exceptions.TooManyRequests) as caught:
        compute.snapshots.insert_unary(request=request, timeout=TIMEOUT)
    assert caught.value.errors[0]["reason"] == "rateLimitExceeded"
    assert "Heavy-weight" in caught.value.message
    # The refused call created nothing, so it neither conflicts nor trips the disk limit.
    compute.snapshots.insert_unary(request=request, timeout=TIMEOUT)
    assert [s["name"] for s in world.snapshots()] == ["s1"]


def test_matching_by_http_method_and_path(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.add_fault(http_method="GET", path_regex=r"/disks/logs$", status=500)
    assert _get_disk(compute).name == "data"
    with pytest.raises(exceptions.InternalServerError):
        compute.disks.get(project=PROJECT, zone=ZONE, disk="logs", retry=None, timeout=TIMEOUT)


def test_probability_is_seeded_and_repeatable(world: ComputeAdmin, compute: ComputeClients) -> None:
    def outcomes() -> list[bool]:
        results = []
        for _ in range(40):
            try:
                _get_disk(compute)
                results.append(True)
            except exceptions.ServiceUnavailable:
                results.append(False)
        return results

    world.add_fault(api_method="compute.disks.get", status=503, probability=0.5, seed=7)
    first = outcomes()
    assert 5 < first.count(False) < 35
    world.clear_faults()
    assert all(outcomes())
    world.add_fault(api_method="compute.disks.get", status=503, probability=0.5, seed=7)
    assert outcomes() == first


def test_latency_delays_only_the_matching_method(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.add_fault(kind="latency", api_method="compute.disks.get", latency_seconds=0.4)
    started = time.monotonic()
    _get_disk(compute)
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    compute.disks.list(project=PROJECT, zone=ZONE, retry=None, timeout=TIMEOUT)
    assert time.monotonic() - started < 0.4


def test_a_failed_snapshot_rule_ends_the_snapshot_and_its_operation_failed(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.add_fault(kind="fail_snapshot", body_regex="disks/logs", count=1)
    bad = compute.snapshots.insert_unary(
        request={
            "project": PROJECT,
            "snapshot_resource": {"name": "bad", "source_disk": f"zones/{ZONE}/disks/logs"},
        }
    )
    good = compute.snapshots.insert_unary(
        request={"project": PROJECT, "snapshot_resource": {"name": "good", "source_disk": DISK_URL}}
    )
    assert compute.snapshots.get(project=PROJECT, snapshot="bad").status == "CREATING"
    world.advance_clock(60)
    assert compute.snapshots.get(project=PROJECT, snapshot="bad").status == "FAILED"
    assert compute.snapshots.get(project=PROJECT, snapshot="good").status == "READY"
    failed = compute.global_operations.wait(project=PROJECT, operation=bad.name)
    assert failed.status == compute_v1.Operation.Status.DONE
    assert failed.error.errors[0].code == "INTERNAL_ERROR"
    assert failed.http_error_status_code == 500
    ok = compute.global_operations.wait(project=PROJECT, operation=good.name)
    assert not ok.error.errors


def test_unknown_fault_fields_are_refused(world: ComputeAdmin) -> None:
    with pytest.raises(AdminError, match="400"):
        world.add_fault(kind="explode")
    with pytest.raises(AdminError, match="400"):
        world.add_fault(probability=1.5)


def test_the_request_log_records_api_calls(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.clear_requests()
    _get_disk(compute)
    with pytest.raises(exceptions.NotFound):
        compute.snapshots.get(project=PROJECT, snapshot="nope")
    compute.disks.aggregated_list(request={"project": PROJECT, "filter": "labels.a:*"})
    log = world.requests()
    assert [(e["method"], e["api_method"], e["status"]) for e in log] == [
        ("GET", "compute.disks.get", 200),
        ("GET", "compute.snapshots.get", 404),
        ("GET", "compute.disks.aggregatedList", 200),
    ]
    assert log[0]["path"] == f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks/data"
    assert log[2]["query"]["filter"] == "labels.a:*"
    assert datetime.fromisoformat(log[0]["time"]) == datetime(2026, 3, 1, tzinfo=UTC)
    assert world.counts() == {
        "compute.disks.get": 1,
        "compute.snapshots.get": 1,
        "compute.disks.aggregatedList": 1,
    }


def test_reset_empties_everything(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.add_fault(api_method="compute.disks.get", status=503)
    world.configure(creating_seconds=99)
    world.reset()
    assert world.faults() == []
    assert world.requests() == []
    assert world.snapshots() == []
    assert world.configure()["creating_seconds"] == 1.0
    assert abs((world.now() - datetime.now(UTC)).total_seconds()) < 5
    with pytest.raises(exceptions.NotFound):
        _get_disk(compute)

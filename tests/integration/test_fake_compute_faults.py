"""Fault rules, the request log and reset of the fake Compute Engine, through the real
client. Every call that meets an injected 5xx passes `retry=None` or a short Retry: list
calls would otherwise retry 503 for minutes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

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


@pytest.mark.parametrize(
    ("error_info", "reason"),
    [
        ("RATE_LIMIT_EXCEEDED", "rateLimitExceeded"),
        ("CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", "quotaExceeded"),
    ],
)
def test_a_rate_limit_403_carries_an_error_info_and_a_domain(
    world: ComputeAdmin, compute: ComputeClients, error_info: str, reason: str
) -> None:
    world.add_fault(
        api_method="compute.snapshots.insert",
        status=403,
        reason=reason,
        domain="usageLimits",
        error_info=error_info,
        message="Rate Limit Exceeded",
        count=1,
    )
    request = {"project": PROJECT, "snapshot_resource": {"name": "s1", "source_disk": DISK_URL}}
    with pytest.raises(exceptions.Forbidden) as caught:
        compute.snapshots.insert_unary(request=request, timeout=TIMEOUT)
    # `.reason` comes from the ErrorInfo, errors[] keeps the legacy reason and domain.
    assert caught.value.reason == error_info
    assert caught.value.domain == "compute.googleapis.com"
    assert caught.value.metadata["consumer"] == f"projects/{PROJECT}"
    assert caught.value.errors[0]["reason"] == reason
    assert caught.value.errors[0]["domain"] == "usageLimits"
    assert caught.value.message.endswith(": Rate Limit Exceeded")
    compute.snapshots.insert_unary(request=request, timeout=TIMEOUT)


def test_an_injected_error_without_error_info_has_no_details(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.add_fault(api_method="compute.disks.get", status=403, count=1)
    with pytest.raises(exceptions.Forbidden) as caught:
        _get_disk(compute)
    assert caught.value.reason is None
    assert caught.value.errors[0] == {
        "message": "The caller does not have permission",
        "domain": "global",
        "reason": "forbidden",
    }


def test_an_unreachable_zone_leaves_its_disks_out_of_one_aggregated_list(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.seed_disk(PROJECT, "east", zone="us-east1-b")
    world.seed_disk("other-project", "far", zone=ZONE)
    rule = world.add_fault(
        kind="unreachable",
        scope=f"zones/{ZONE}",
        path_regex=f"/projects/{PROJECT}/",
        count=1,
    )
    other = compute.disks.aggregated_list(request={"project": "other-project"}, timeout=TIMEOUT)
    assert [d.name for d in dict(other)[f"zones/{ZONE}"].disks] == ["far"]
    assert list(next(iter(other.pages)).unreachables) == []

    pager = compute.disks.aggregated_list(request={"project": PROJECT}, timeout=TIMEOUT)
    page = next(iter(pager.pages))
    # A partial result, not an error: the scope warns and is named in `unreachables`.
    assert list(page.unreachables) == [f"zones/{ZONE}"]
    scoped = page.items[f"zones/{ZONE}"]
    assert not scoped.disks
    assert scoped.warning.code == compute_v1.Warning.Code.UNREACHABLE.name == "UNREACHABLE"
    assert [(d.key, d.value) for d in scoped.warning.data] == [("scope", f"zones/{ZONE}")]
    assert [d.name for d in page.items["zones/us-east1-b"].disks] == ["east"]
    assert [(f["id"], f["fired"]) for f in world.faults()] == [(rule, 1)]

    whole = compute.disks.aggregated_list(request={"project": PROJECT}, timeout=TIMEOUT)
    first = next(iter(whole.pages))
    assert list(first.unreachables) == []
    assert sorted(d.name for d in first.items[f"zones/{ZONE}"].disks) == ["data", "logs"]


def test_an_unreachable_region_and_instances(world: ComputeAdmin, compute: ComputeClients) -> None:
    world.seed_disk(PROJECT, "shared", region="us-central1")
    world.seed_instance(PROJECT, "vm", zone=ZONE, disks=["data"])
    world.add_fault(kind="unreachable", scope="regions/us-central1")
    world.add_fault(kind="unreachable", scope=f"zones/{ZONE}")
    disks = next(iter(compute.disks.aggregated_list(request={"project": PROJECT}).pages))
    assert sorted(disks.unreachables) == ["regions/us-central1", f"zones/{ZONE}"]
    assert disks.items["regions/us-central1"].warning.code == "UNREACHABLE"
    instances = next(iter(compute.instances.aggregated_list(request={"project": PROJECT}).pages))
    assert sorted(instances.unreachables) == ["regions/us-central1", f"zones/{ZONE}"]
    assert not instances.items[f"zones/{ZONE}"].instances
    # Only aggregated lists are affected: a zonal list and a get still see the zone.
    assert sorted(d.name for d in compute.disks.list(project=PROJECT, zone=ZONE)) == [
        "data",
        "logs",
    ]
    assert compute.instances.get(project=PROJECT, zone=ZONE, instance="vm").name == "vm"


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
    assert failed.http_error_message == "INTERNAL_SERVER_ERROR"
    ok = compute.global_operations.wait(project=PROJECT, operation=good.name)
    assert not ok.error.errors
    assert not ok.http_error_status_code


def _insert_snapshot(
    clients: ComputeClients, name: str, request_id: str | None = None
) -> compute_v1.Operation:
    request: dict[str, object] = {
        "project": PROJECT,
        "snapshot_resource": {"name": name, "source_disk": DISK_URL},
    }
    if request_id:
        request["request_id"] = request_id
    return clients.snapshots.insert_unary(request=request, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("code", "http_status", "http_message"),
    [
        ("QUOTA_EXCEEDED", 403, "FORBIDDEN"),
        ("RESOURCE_OPERATION_RATE_EXCEEDED", 403, "FORBIDDEN"),
        ("RATE_LIMIT_EXCEEDED", 403, "FORBIDDEN"),
        ("CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", 403, "FORBIDDEN"),
        ("INTERNAL_ERROR", 500, "INTERNAL_SERVER_ERROR"),
        ("INVALID_USAGE", 400, "BAD_REQUEST"),
    ],
)
def test_a_failed_operation_runs_then_ends_with_the_http_status_of_its_code(
    world: ComputeAdmin, compute: ComputeClients, code: str, http_status: int, http_message: str
) -> None:
    world.add_fault(kind="fail_snapshot", reason=code, message="Quota 'SNAPSHOTS' exceeded.")
    op = _insert_snapshot(compute, "bad")
    running = compute.global_operations.get(project=PROJECT, operation=op.name, timeout=TIMEOUT)
    assert running.status == compute_v1.Operation.Status.RUNNING
    assert not running.error.errors
    assert not running.http_error_status_code
    world.advance_clock(60)
    done = compute.global_operations.get(project=PROJECT, operation=op.name, timeout=TIMEOUT)
    assert done.status == compute_v1.Operation.Status.DONE
    assert done.error.errors[0].code == code
    assert done.error.errors[0].message == "Quota 'SNAPSHOTS' exceeded."
    assert done.http_error_status_code == http_status
    assert done.http_error_message == http_message
    assert compute.snapshots.get(project=PROJECT, snapshot="bad").status == "FAILED"


def test_a_repeated_request_id_answers_the_original_operation_as_it_stands(
    world: ComputeAdmin, compute: ComputeClients
) -> None:
    world.add_fault(kind="fail_snapshot", reason="QUOTA_EXCEEDED", count=1)
    request_id = "5d0f3c1a-7b2e-4c9d-8a6f-1e2d3c4b5a69"
    first = _insert_snapshot(compute, "snap-1", request_id)
    again = _insert_snapshot(compute, "snap-1", request_id)
    assert (again.name, again.status) == (first.name, compute_v1.Operation.Status.RUNNING)

    world.advance_clock(60)
    failed = _insert_snapshot(compute, "snap-1", request_id)
    assert failed.name == first.name
    assert failed.status == compute_v1.Operation.Status.DONE
    assert failed.error.errors[0].code == "QUOTA_EXCEEDED"
    compute.snapshots.delete_unary(project=PROJECT, snapshot="snap-1", timeout=TIMEOUT)
    # The snapshot is gone, the operation is not: the replay still answers it.
    replay = _insert_snapshot(compute, "snap-1", request_id)
    assert replay.name == first.name
    assert replay.error.errors[0].code == "QUOTA_EXCEEDED"
    assert world.snapshots() == []

    # A fresh requestId inserts anew (past the disk's snapshot rate limit).
    world.advance_clock(600)
    fresh = _insert_snapshot(compute, "snap-1", "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b")
    assert fresh.name != first.name
    world.advance_clock(60)
    done = compute.global_operations.wait(project=PROJECT, operation=fresh.name, timeout=TIMEOUT)
    assert not done.error.errors
    assert compute.snapshots.get(project=PROJECT, snapshot="snap-1").status == "READY"


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "explode"},
        {"probability": 1.5},
        {"kind": "unreachable"},  # no scope
        {"kind": "unreachable", "scope": "us-central1-a"},
        {"kind": "unreachable", "scope": "zones/Nowhere"},
        {"kind": "unreachable", "scope": "global"},
        {"kind": "error", "scope": "zones/us-central1-a"},
        {"kind": "latency", "error_info": "RATE_LIMIT_EXCEEDED"},
        {"kind": "fail_snapshot", "domain": "usageLimits"},
    ],
)
def test_malformed_fault_rules_are_refused(world: ComputeAdmin, rule: dict[str, Any]) -> None:
    with pytest.raises(AdminError, match="400"):
        world.add_fault(**rule)
    assert world.faults() == []


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

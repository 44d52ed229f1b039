"""The snapshot step against the fake Compute Engine through the real client, without
Pub/Sub: done means READY, retakes of FAILED snapshots, 409s, exactly N (the disk's N, read
from its labels at run time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapkeeper import quotaguard
from snapkeeper.compute import ComputeGateway, Snapshot
from snapkeeper.config import Config
from snapkeeper.errors import ComputeError, NameCollision, Outcome, SnapshotInProgress
from snapkeeper.messages import WorkItem
from snapkeeper.snapshotter import plan_snapshot, take_snapshot
from snapkeeper_local.compute import ComputeAdmin
from tests.support_snapshots import fake_config, relabel_disk

PROJECT = "prod-app-1"
ZONE = "us-central1-a"
DAY = datetime(2027, 3, 1, 3, tzinfo=UTC)
INSERT = "compute.snapshots.insert"


@pytest.fixture
def disk(fake_compute: ComputeAdmin) -> dict[str, Any]:
    fake_compute.set_clock(DAY)
    fake_compute.configure(creating_seconds=0.2, uploading_seconds=0.2, wait_seconds=0.5)
    return fake_compute.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2"})


@pytest.fixture
def config(fake_compute: ComputeAdmin) -> Config:
    return fake_config(fake_compute, PROJECT, READY_WAIT_SECONDS="5")


def work(disk: dict[str, Any], day: int, keep: int = 2) -> WorkItem:
    slot = (DAY + timedelta(days=day)).strftime("%Y%m%d-%H%M")
    return WorkItem(PROJECT, ZONE, False, "web-data", disk["id"], "daily", slot, keep)


def calls(fake: ComputeAdmin, method: str, status: int = 200) -> int:
    return sum(1 for r in fake.requests() if r["api_method"] == method and r["status"] == status)


def managed(fake: ComputeAdmin) -> list[dict[str, Any]]:
    return [s for s in fake.snapshots() if s.get("labels", {}).get("managed-by") == "snapkeeper"]


def test_returns_only_once_the_snapshot_is_ready(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    gateway = ComputeGateway.for_config(config)
    result = take_snapshot(work(disk, 0), config, gateway)
    assert (result.action, result.status) == ("created", "READY")
    assert [s["status"] for s in managed(fake_compute)] == ["READY"]
    assert calls(fake_compute, "compute.globalOperations.wait") >= 1


def test_holds_exactly_n_after_each_run(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    gateway = ComputeGateway.for_config(config)
    fake_compute.configure(rate_limit_seconds=0)
    relabel_disk(config.endpoints.compute, PROJECT, ZONE, disk["name"], {"snapshot-daily": "3"})
    for day in range(5):
        result = take_snapshot(work(disk, day, keep=3), config, gateway)
        assert result.held == min(day + 1, 3)
        assert len(managed(fake_compute)) == min(day + 1, 3)
    slots = sorted(s["labels"]["snapkeeper-slot"] for s in managed(fake_compute))
    assert slots == ["20270303-0300", "20270304-0300", "20270305-0300"]


def test_a_failed_snapshot_is_deleted_and_taken_again_with_a_fresh_request_id(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    gateway = ComputeGateway.for_config(config)
    fake_compute.configure(rate_limit_seconds=0)
    fake_compute.add_fault(kind="fail_snapshot", api_method=INSERT, count=1)
    with pytest.raises(ComputeError) as caught:
        take_snapshot(work(disk, 0), config, gateway)
    assert caught.value.outcome is Outcome.TRANSIENT and caught.value.reason == "INTERNAL_ERROR"
    assert [s["status"] for s in managed(fake_compute)] == ["FAILED"]

    result = take_snapshot(work(disk, 0), config, gateway)  # the redelivery

    assert (result.action, result.status) == ("created", "READY")
    assert [s["status"] for s in managed(fake_compute)] == ["READY"]
    # Had the requestId been reused, Compute would have answered the failed operation.
    assert calls(fake_compute, INSERT) == 2


def test_a_retake_whose_insert_failed_is_not_answered_with_the_old_failure(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    """The FAILED snapshot is deleted, then the retake's insert itself fails: the next
    delivery finds no snapshot, and its first insert (the original requestId) is
    answered with the original failed operation. That must not be the end of it."""
    gateway = ComputeGateway.for_config(config)
    fake_compute.configure(rate_limit_seconds=0)
    fake_compute.add_fault(kind="fail_snapshot", api_method=INSERT, count=1)
    with pytest.raises(ComputeError):
        take_snapshot(work(disk, 0), config, gateway)  # fails inside its operation
    fake_compute.add_fault(api_method=INSERT, status=503, count=1)
    with pytest.raises(ComputeError, match="503"):
        take_snapshot(work(disk, 0), config, gateway)  # FAILED one deleted; retake refused
    assert managed(fake_compute) == []

    result = take_snapshot(work(disk, 0), config, gateway)

    assert (result.action, result.status) == ("created", "READY")
    assert [s["status"] for s in managed(fake_compute)] == ["READY"]


def test_a_retake_of_a_failed_retake_is_not_stuck_on_the_old_failures(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    """Two failures in a row, then a refused retake: every requestId derived for the slot
    is answered with an old failed operation. The delivery after that must still end
    READY, through a requestId none of them used."""
    gateway = ComputeGateway.for_config(config)
    fake_compute.configure(rate_limit_seconds=0)
    fake_compute.add_fault(kind="fail_snapshot", api_method=INSERT, count=2)
    with pytest.raises(ComputeError):
        take_snapshot(work(disk, 0), config, gateway)  # fails inside its operation
    with pytest.raises(ComputeError):
        take_snapshot(work(disk, 0), config, gateway)  # FAILED one deleted; retake fails too
    fake_compute.add_fault(api_method=INSERT, status=503, count=1)
    with pytest.raises(ComputeError, match="503"):
        take_snapshot(work(disk, 0), config, gateway)  # second FAILED deleted; retake refused
    assert managed(fake_compute) == []

    result = take_snapshot(work(disk, 0), config, gateway)

    assert (result.action, result.status) == ("created", "READY")
    assert [s["status"] for s in managed(fake_compute)] == ["READY"]


def test_a_refused_insert_is_tried_once_more_per_delivery_and_never_sticks(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    """An insert whose operation fails without making a snapshot (the project at its
    SNAPSHOTS quota): each delivery inserts at most twice, and once there is room, the
    next delivery is not answered with any of the failed operations."""
    gateway = ComputeGateway.for_config(config)
    fake_compute.configure(rate_limit_seconds=0)
    quotaguard.reading(gateway, PROJECT, work(disk, 0).slot)  # the guard saw room then
    fake_compute.set_quotas(PROJECT, snapshots=1)
    fake_compute.seed_snapshot(PROJECT, "someone-elses", source_disk=disk["selfLink"])
    for delivery in (1, 2):
        with pytest.raises(ComputeError) as caught:
            take_snapshot(work(disk, 0), config, gateway)
        assert caught.value.reason == "QUOTA_EXCEEDED"
        assert calls(fake_compute, INSERT) == 2 * delivery
    fake_compute.set_quotas(PROJECT, snapshots=10)

    result = take_snapshot(work(disk, 0), config, gateway)

    assert (result.action, result.status) == ("created", "READY")
    assert calls(fake_compute, INSERT) == 6  # the first one answered with the old failure


def test_still_in_progress_raises_and_the_next_delivery_follows_it(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    gateway = ComputeGateway.for_config(config)
    fake_compute.configure(creating_seconds=3600)
    started = time.monotonic()
    with pytest.raises(SnapshotInProgress, match="still CREATING"):
        take_snapshot(work(disk, 0), config, gateway, deadline=time.monotonic() + 1.5)
    assert time.monotonic() - started < 5  # the bound held
    fake_compute.advance_clock(7200)

    result = take_snapshot(work(disk, 0), config, gateway)

    assert (result.action, result.status) == ("exists", "READY")
    assert calls(fake_compute, INSERT) == 1


def test_a_409_of_our_own_snapshot_is_followed_but_a_strangers_is_a_collision(
    fake_compute: ComputeAdmin, disk: dict[str, Any], config: Config
) -> None:
    gateway = ComputeGateway.for_config(config)
    item = work(disk, 0)
    name = plan_snapshot(item, [], config).name
    fake_compute.seed_snapshot(PROJECT, name, source_disk=disk["selfLink"], labels={"a": "b"})
    with pytest.raises(NameCollision, match=name):
        take_snapshot(item, config, gateway)
    assert calls(fake_compute, "compute.snapshots.delete") == 0


def test_pruning_never_trusts_the_server_filter_alone(disk: dict[str, Any], config: Config) -> None:
    def snap(name: str, slot: str, **labels: str) -> Snapshot:
        return Snapshot(PROJECT, name, "READY", {"snapkeeper-slot": slot, **labels}, None, "", "")

    ours = {"managed-by": "snapkeeper", "snapkeeper-disk-id": disk["id"]}
    listed = [
        # What a filter gone wrong might return: none of these may ever be deleted.
        snap("other-disk", "20200101-0300", **{**ours, "snapkeeper-disk-id": "1"}),
        snap("other-schedule", "20200101-0300", **ours, **{"snapkeeper-schedule": "hourly"}),
        snap("unmanaged", "20200101-0300", **{"snapkeeper-schedule": "daily"}),
        snap("old", "20200101-0300", **ours, **{"snapkeeper-schedule": "daily"}),
    ]
    plan = plan_snapshot(work(disk, 0, keep=1), listed, config)
    assert [s.name for s in plan.retention.delete] == ["old"]

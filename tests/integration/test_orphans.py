"""Orphans (snapshots of deleted disks) through the real client and the fake Compute
Engine: found by the enumerator once per tick and project, kept or pruned per
ORPHAN_POLICY by the snapshot function's orphan step, within pins, the ARCHIVE rule,
the brake, the vault's floor and the deployment."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapkeeper import clients, orphans
from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper.enumerator import plan_tick
from snapkeeper.messages import OrphanWork, Tick, parse_message
from snapkeeper.snapshotter import Action, take_snapshot
from snapkeeper_local.compute import ComputeAdmin
from tests.support_snapshots import fake_config, seed_managed_snapshot

PROJECT = "prod-app-1"
VAULT = "vault-backups"
ZONE = "us-central1-a"
NOW = datetime(2027, 6, 1, 3, tzinfo=UTC)
TICK = Tick("daily", "0 3 * * *", "Etc/UTC", NOW)


@pytest.fixture
def fake(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.set_clock(NOW)
    fake_compute.seed_project(PROJECT)
    return fake_compute


def settings(fake: ComputeAdmin, **env: str) -> Config:
    return fake_config(fake, PROJECT, **env)


def seed_generations(
    fake: ComputeAdmin,
    disk: dict[str, Any],
    days: list[int],
    *,
    where: str = PROJECT,
    keep: str | None = None,
    kind: str = "STANDARD",
    **extra: str,
) -> None:
    """Managed daily snapshots of `disk`, taken `days` before NOW."""
    for day in days:
        recorded = {"snapkeeper-keep": keep} if keep else {}
        seed_managed_snapshot(
            fake,
            where,
            f"{disk['name']}-{kind.lower()}-{day}{extra.get('snapkeeper-deployment', '')}",
            disk,
            NOW - timedelta(days=day),
            snapshot_type=kind,
            extra_labels={**recorded, **extra},
        )


def delete_disk(config: Config, name: str) -> None:
    client = clients.compute(config.endpoints.compute).disks
    client.delete(project=PROJECT, zone=ZONE, disk=name).result(timeout=10)


def left(fake: ComputeAdmin, disk: dict[str, Any], where: str = PROJECT) -> set[int]:
    """The days (before NOW) of the disk's snapshots still there."""
    return {
        int(s["name"].rsplit("-", 1)[1])
        for s in fake.snapshots()
        if f"/projects/{where}/" in s["selfLink"]
        and s["labels"].get("snapkeeper-disk-id") == disk["id"]
        and s["labels"].get("snapkeeper-deployment") is None
    }


def tick_then_prune(config: Config) -> tuple[list[OrphanWork], list[Any]]:
    """One tick's orphan messages (through their JSON, as Pub/Sub carries them), each
    carried out by the snapshot function's orphan step."""
    gateway = ComputeGateway.for_config(config)
    plan = plan_tick(TICK, NOW, config, gateway)
    messages = [parse_message(m.to_json()) for m in plan.orphan_work]
    assert all(isinstance(m, OrphanWork) for m in messages)
    results = [orphans.prune_orphans(m, config, gateway) for m in messages]  # type: ignore[arg-type]
    return messages, results  # type: ignore[return-value]


def test_keep_looks_for_nothing_and_touches_nothing(fake: ComputeAdmin) -> None:
    config = settings(fake)
    gone = fake.seed_disk(PROJECT, "gone-data", zone=ZONE, labels={"snapshot-daily": "1"})
    seed_generations(fake, gone, [100, 200, 300])
    delete_disk(config, "gone-data")
    fake.clear_requests()

    plan = plan_tick(TICK, NOW, config, ComputeGateway.for_config(config))

    assert plan.orphans == [] and plan.orphan_work == []
    calls = Counter(r["api_method"] for r in fake.requests())
    assert calls["compute.snapshots.list"] == 0  # the default costs no extra call
    assert left(fake, gone) == {100, 200, 300}


def test_keep_newest_prunes_to_the_recorded_n_within_the_brake(fake: ComputeAdmin) -> None:
    config = settings(fake, ORPHAN_POLICY="keep-newest")
    gone = fake.seed_disk(PROJECT, "gone-data", zone=ZONE, labels={"snapshot-daily": "2"})
    live = fake.seed_disk(PROJECT, "live-data", zone=ZONE, labels={"snapshot-daily": "1"})
    # The disk's N was 7, then 2 (recorded by its newest snapshot) when it was deleted.
    seed_generations(fake, gone, [5, 6, 7, 8, 9, 10], keep="7")
    seed_generations(fake, gone, [1], keep="2")
    seed_generations(fake, gone, [11], **{"snapshot-keep": "true"})
    seed_generations(fake, gone, [2, 3, 4], **{"snapkeeper-deployment": "dr"})
    seed_generations(fake, live, [1, 2, 3, 4])
    delete_disk(config, "gone-data")
    fake.clear_requests()

    messages, results = tick_then_prune(config)

    [message] = messages
    assert (message.disk, message.disk_id, message.location) == ("gone-data", gone["id"], ZONE)
    # Newest two stay; of the five older READY ones the brake lets the oldest three go.
    [result] = results
    assert result.action is Action.ORPHANS and len(result.deleted) == 3
    assert len(result.held_back) == 2
    assert left(fake, gone) == {1, 5, 6, 7, 11}  # 11: the pinned one
    calls = Counter(r["api_method"] for r in fake.requests())
    assert calls["compute.disks.aggregatedList"] == 1  # the listing it makes anyway
    assert calls["compute.snapshots.list"] == 2  # one in the tick, one in the orphan step
    assert calls["compute.disks.get"] == 1  # the disk is still gone
    # The next tick finishes the job; the one after that has nothing left to publish.
    tick_then_prune(config)
    assert left(fake, gone) == {1, 5, 11}
    assert tick_then_prune(config) == ([], [])
    # Another deployment's snapshots of the disk, and the live disk's, are untouched.
    dr = [s for s in fake.snapshots() if s["labels"].get("snapkeeper-deployment") == "dr"]
    assert len(dr) == 3 and left(fake, live) == {1, 2, 3, 4}


def test_max_age_prunes_old_orphans_but_no_young_archive(fake: ComputeAdmin) -> None:
    config = settings(fake, ORPHAN_POLICY="max-age:30d")
    gone = fake.seed_disk(PROJECT, "gone-data", zone=ZONE, labels={"snapshot-daily": "5"})
    seed_generations(fake, gone, [10, 40, 100])
    seed_generations(fake, gone, [50, 120], kind="ARCHIVE")
    delete_disk(config, "gone-data")

    _, [result] = tick_then_prune(config)

    assert len(result.deleted) == 3  # 40 and 100 STANDARD, 120 ARCHIVE (past 90 days)
    remaining = {s["name"] for s in fake.snapshots()}
    assert remaining == {"gone-data-standard-10", "gone-data-archive-50"}


def test_in_a_vault_max_age_leaves_min_keep(fake: ComputeAdmin) -> None:
    config = settings(fake, ORPHAN_POLICY="max-age:1d", SNAPSHOT_PROJECT=VAULT, MIN_KEEP="2")
    fake.seed_project(VAULT)
    gone = fake.seed_disk(PROJECT, "gone-data", zone=ZONE, labels={"snapshot-daily": "5"})
    other = fake.seed_disk("prod-db-2", "gone-too", zone=ZONE, labels={"snapshot-daily": "5"})
    seed_generations(fake, gone, [10, 20, 30], where=VAULT)
    seed_generations(fake, other, [10, 20, 30], where=VAULT)  # not this tick's project
    delete_disk(config, "gone-data")

    messages, [result] = tick_then_prune(config)

    assert [m.disk for m in messages] == ["gone-data"]
    assert len(result.deleted) == 1 and left(fake, gone, VAULT) == {10, 20}
    assert left(fake, other, VAULT) == {10, 20, 30}


def test_an_orphan_message_for_a_disk_that_exists_does_nothing(fake: ComputeAdmin) -> None:
    config = settings(fake, ORPHAN_POLICY="max-age:1d")
    disk = fake.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "5"})
    seed_generations(fake, disk, [10, 20, 30])
    stale = OrphanWork(PROJECT, ZONE, False, "web-data", disk["id"], "daily", "20270601-0300")

    result = orphans.prune_orphans(stale, config, ComputeGateway.for_config(config))

    assert result.action is Action.SKIPPED and "exists" in result.reason
    assert left(fake, disk) == {10, 20, 30}
    # Nor does it when the policy is keep by the time it runs.
    kept = orphans.prune_orphans(stale, settings(fake), ComputeGateway.for_config(config))
    assert kept.action is Action.SKIPPED and "ORPHAN_POLICY is keep" in kept.reason


def test_a_new_snapshot_records_the_disks_n(fake: ComputeAdmin) -> None:
    config = settings(fake)
    fake.configure(creating_seconds=0, uploading_seconds=0, wait_seconds=0.5)
    fake.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "4"})
    gateway = ComputeGateway.for_config(config)
    [work] = plan_tick(TICK, NOW, config, gateway).work
    take_snapshot(work, config, gateway)

    [made] = fake.snapshots()
    assert made["labels"]["snapkeeper-keep"] == "4"

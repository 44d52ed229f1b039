"""Pruning beyond N, through the real client and the fake Compute Engine: the schedule's
options (max-age and min-keep, type, kms-key, chain-name, storage-location), the vault's
floor, the brake, N read from the disk at run time, and deployments that share a disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper.enumerator import plan_tick
from snapkeeper.messages import Tick, WorkItem
from snapkeeper.options import parse_text
from snapkeeper.snapshotter import Action, SnapshotResult, take_snapshot
from snapkeeper_local.compute import ComputeAdmin
from tests.support_snapshots import fake_config, relabel_disk, seed_managed_snapshot

PROJECT = "prod-app-1"
VAULT = "vault-backups"
ZONE = "us-central1-a"
NOW = datetime(2027, 6, 1, 3, tzinfo=UTC)
KMS = "projects/kms-proj-1/locations/us/keyRings/backups/cryptoKeys/snapshots"


@pytest.fixture
def fake(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.set_clock(NOW)
    fake_compute.configure(
        creating_seconds=0.2, uploading_seconds=0.2, wait_seconds=0.5, rate_limit_seconds=0
    )
    return fake_compute


def settings(fake: ComputeAdmin, **env: str) -> Config:
    return fake_config(fake, PROJECT, **{"READY_WAIT_SECONDS": "5", **env})


def seed_disk(fake: ComputeAdmin, keep: str | None = "1", **labels: str) -> dict[str, Any]:
    own = {"snapshot-daily": keep} if keep else {}
    return fake.seed_disk(PROJECT, "web-data", zone=ZONE, labels={**own, **labels})


def seed_history(
    fake: ComputeAdmin,
    disk: dict[str, Any],
    days: list[int],
    *,
    project: str = PROJECT,
    status: str = "READY",
    kind: str = "STANDARD",
    **extra: str,
) -> None:
    """Managed snapshots of the disk's daily schedule, taken `days` before NOW."""
    for day in days:
        seed_managed_snapshot(
            fake,
            project,
            f"old-{kind.lower()}-{status.lower()}-{day}",
            disk,
            NOW - timedelta(days=day),
            status=status,
            snapshot_type=kind,
            extra_labels=extra,
        )


def item(disk: dict[str, Any], keep: int = 1, day: int = 0, **options: str) -> WorkItem:
    slot = (NOW + timedelta(days=day)).strftime("%Y%m%d-%H%M")
    return WorkItem(
        PROJECT, ZONE, False, "web-data", disk["id"], "daily", slot, keep, options=options
    )


def run(work: WorkItem, config: Config) -> SnapshotResult:
    return take_snapshot(work, config, ComputeGateway.for_config(config))


def names(fake: ComputeAdmin, project: str = PROJECT) -> set[str]:
    return {s["name"] for s in fake.snapshots() if f"/projects/{project}/" in s["selfLink"]}


# -- max-age and min-keep ----------------------------------------------------------------------


@pytest.mark.parametrize(("min_keep", "left"), [("1", {"old-standard-ready-10"}), ("3", None)])
def test_max_age_prunes_within_n_but_never_below_min_keep(
    fake: ComputeAdmin, min_keep: str, left: set[str] | None
) -> None:
    disk = seed_disk(fake, keep="10")
    seed_history(fake, disk, [10, 50, 100, 200])
    options = {"max-age": "30d", "min-keep": min_keep}

    result = run(item(disk, keep=10, **options), settings(fake))

    olds = {n for n in names(fake) if n.startswith("old-")}
    if min_keep == "1":
        # The new one and the one within 30 days; the other three are older than max-age.
        assert olds == left and result.held == 2
    else:  # min-keep 3: the newest three stay, however old
        assert olds == {"old-standard-ready-10", "old-standard-ready-50"} and result.held == 3


# -- type, kms-key, chain-name -------------------------------------------------------------------


def test_the_schedules_type_key_and_chain_reach_the_insert(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake)
    options = {"type": "ARCHIVE", "kms-key": KMS, "chain-name": "monthly"}

    result = run(item(disk, **options), settings(fake))

    [made] = [s for s in fake.snapshots() if s["name"] == result.snapshot]
    assert made["snapshotType"] == "ARCHIVE"
    assert made["snapshotEncryptionKey"] == {"kmsKeyName": f"{KMS}/cryptoKeyVersions/1"}
    assert made["chainName"] == "monthly"


def test_a_young_archive_survives_n_and_max_age(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="1")
    seed_history(fake, disk, [40, 89], kind="ARCHIVE")
    seed_history(fake, disk, [91], kind="ARCHIVE")
    seed_history(fake, disk, [60])

    result = run(item(disk, type="ARCHIVE", **{"max-age": "30d"}), settings(fake))

    # N=1 and max-age 30 days would take all four; ARCHIVE is billed 90 days anyway.
    assert set(result.deleted) == {"old-archive-ready-91", "old-standard-ready-60"}
    assert {"old-archive-ready-40", "old-archive-ready-89"} <= names(fake)


# -- storage-location: the label wins over the schedule, the schedule over the deployment -------


def test_the_schedules_storage_location_sits_between_label_and_default(
    fake: ComputeAdmin,
) -> None:
    fake.seed_disk(PROJECT, "plain", zone=ZONE, labels={"snapshot-daily": "1"})
    fake.seed_disk(
        PROJECT,
        "labelled",
        zone=ZONE,
        labels={"snapshot-daily": "1", "snapshot-location": "asia-northeast1"},
    )
    config = settings(fake, DEFAULT_STORAGE_LOCATION="us")
    gateway = ComputeGateway.for_config(config)
    tick = Tick("daily", "0 3 * * *", "Etc/UTC", options=parse_text("storage-location=eu"))

    plan = plan_tick(tick, NOW, config, gateway)

    where = {w.disk: w.storage_location for w in plan.work}
    assert where == {"plain": "eu", "labelled": "asia-northeast1"}
    assert {w.disk: w.options for w in plan.work}["plain"] == {"storage-location": "eu"}
    without = plan_tick(Tick("daily", "0 3 * * *", "Etc/UTC"), NOW, config, gateway)
    assert {w.disk: w.storage_location for w in without.work}["plain"] == "us"


def test_the_tick_says_until_when_its_labels_stand(fake: ComputeAdmin) -> None:
    # The snapshot step trusts them on a first delivery until the schedule fires again.
    seed_disk(fake)
    config = settings(fake)
    gateway = ComputeGateway.for_config(config)
    at = datetime.now(UTC)
    tick = Tick("daily", "0 3 * * *", "Etc/UTC", at)

    [item] = plan_tick(tick, at, config, gateway).work

    read_at = datetime.fromisoformat(item.labels_read_at or "")
    assert at <= read_at <= datetime.now(UTC)
    slot = at.replace(hour=3, minute=0, second=0, microsecond=0)
    slot -= timedelta(days=1) if slot > at else timedelta(0)
    following = max(slot + timedelta(days=1), read_at + timedelta(minutes=10))
    assert datetime.fromisoformat(item.labels_fresh_until or "") == following


# -- the vault's floor and the brake -------------------------------------------------------------


def test_a_vault_keeps_min_keep_whatever_the_label_says(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="1")
    seed_history(fake, disk, [1, 2, 3, 4], project=VAULT)
    config = settings(fake, SNAPSHOT_PROJECT=VAULT)  # MIN_KEEP defaults to 3

    result = run(item(disk, **{"max-age": "1h"}), config)

    # Neither N=1 nor max-age take the vault below its floor.
    assert (result.wanted, result.held) == (3, 3)
    assert set(result.deleted) == {"old-standard-ready-3", "old-standard-ready-4"}
    assert {"old-standard-ready-1", "old-standard-ready-2"} <= names(fake, VAULT)


def test_the_brake_deletes_the_oldest_and_holds_back_the_rest(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="1")
    seed_history(fake, disk, list(range(1, 31)))  # N was 30; now it is 1
    config = settings(fake)

    first = run(item(disk), config)

    assert set(first.deleted) == {f"old-standard-ready-{d}" for d in (28, 29, 30)}
    assert len(first.held_back) == 27 and first.held == 28
    second = run(item(disk, day=1), config)
    assert set(second.deleted) == {f"old-standard-ready-{d}" for d in (25, 26, 27)}
    assert second.held == 26  # one more made, three more gone: it converges


def test_failed_snapshots_do_not_count_against_the_brake(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="1")
    seed_history(fake, disk, [1, 2, 3, 4, 5])
    seed_history(fake, disk, [6, 7, 8, 9], status="FAILED")
    config = settings(fake, MAX_DELETES_PER_RUN="2")

    result = run(item(disk), config)

    assert len(result.deleted) == 6  # the four FAILED ones, and two READY ones
    assert {n for n in result.deleted if "failed" in n} == {
        f"old-standard-failed-{d}" for d in (6, 7, 8, 9)
    }
    assert len(result.held_back) == 3


# -- N is the disk's, read at run time -----------------------------------------------------------


def test_n_is_read_from_the_disk_not_from_an_old_message(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="5")
    seed_history(fake, disk, [1, 2, 3, 4, 5, 6])
    config = settings(fake)

    # A replay of a message from the days the disk was labelled 1: the label says 5 now.
    result = run(item(disk, keep=1), config)

    assert (result.wanted, result.held) == (5, 5)
    assert set(result.deleted) == {"old-standard-ready-5", "old-standard-ready-6"}


def test_a_regional_disks_n_is_read_with_region_disks_get(fake: ComputeAdmin) -> None:
    disk = fake.seed_disk(PROJECT, "pg-data", region="us-central1", labels={"snapshot-daily": "2"})
    seed_history(fake, disk, [1, 2, 3])
    slot = NOW.strftime("%Y%m%d-%H%M")
    work = WorkItem(PROJECT, "us-central1", True, "pg-data", disk["id"], "daily", slot, 9)

    result = run(work, settings(fake))

    assert (result.wanted, result.held) == (2, 2)
    reads = [r for r in fake.requests() if r["api_method"] == "compute.regionDisks.get"]
    assert len(reads) == 1


def test_an_instance_sourced_n_is_read_from_the_instance_now(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep=None)
    fake.seed_instance(
        PROJECT, "web-vm", zone=ZONE, labels={"snapshot-daily": "2"}, disks=["web-data"]
    )
    seed_history(fake, disk, [1, 2, 3])

    result = run(item(disk, keep=9), settings(fake))

    assert (result.wanted, result.held) == (2, 2)
    assert set(result.deleted) == {"old-standard-ready-2", "old-standard-ready-3"}


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        ({}, "the disk no longer carries snapshot-daily"),
        ({"snapshot-daily": "1", "snapshot-exclude": "true"}, "excluded by snapshot-exclude"),
        ({"snapshot-daily": "many"}, "not a whole number"),
    ],
)
def test_a_disk_that_left_the_schedule_is_neither_snapshotted_nor_pruned(
    fake: ComputeAdmin, labels: dict[str, str], says: str
) -> None:
    disk = seed_disk(fake, keep="1")
    seed_history(fake, disk, [1, 2, 3])
    config = settings(fake)
    relabel_disk(config.endpoints.compute, PROJECT, ZONE, disk["name"], labels)

    result = run(item(disk), config)

    assert result.action is Action.SKIPPED and says in result.reason
    assert result.deleted == () and len(names(fake)) == 3
    assert not [r for r in fake.requests() if r["api_method"] == "compute.snapshots.insert"]


def test_a_disk_whose_name_now_belongs_to_another_is_gone(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="1")
    work = item({**disk, "id": "999"})  # enumerated before the disk was recreated

    result = run(work, settings(fake))

    assert result.action is Action.GONE and "is gone" in result.reason
    assert names(fake) == set()


# -- deployments ---------------------------------------------------------------------------------


def test_two_deployments_on_one_disk_keep_their_own_n(fake: ComputeAdmin) -> None:
    disk = seed_disk(fake, keep="2", **{"dr-daily": "1"})
    main = settings(fake)
    dr = settings(fake, DEPLOYMENT_ID="dr", LABEL_PREFIX="dr-")

    for day in range(4):
        run(item(disk, day=day), main)
        run(item(disk, day=day), dr)

    made = [s for s in fake.snapshots() if s["labels"]["managed-by"] == "snapkeeper"]
    by_deployment: dict[str, list[str]] = {}
    for snapshot in made:
        owner = snapshot["labels"]["snapkeeper-deployment"]
        by_deployment.setdefault(owner, []).append(snapshot["name"])
    assert {k: len(v) for k, v in by_deployment.items()} == {"default": 2, "dr": 1}
    assert all("-daily-dr-" in name for name in by_deployment["dr"])
    assert not any("-dr-" in name for name in by_deployment["default"])


def test_snapshots_made_before_deployment_ids_are_the_default_deployments(
    fake: ComputeAdmin,
) -> None:
    disk = seed_disk(fake, keep="1")
    seed_history(fake, disk, [1, 2])  # no snapkeeper-deployment label

    assert set(run(item(disk), settings(fake)).deleted) == {
        "old-standard-ready-1",
        "old-standard-ready-2",
    }
    seed_history(fake, disk, [3])
    other = settings(fake, DEPLOYMENT_ID="dr")
    assert run(item(disk, day=1), other).deleted == ()  # never another deployment's


def test_the_literal_pin_holds_whatever_the_label_prefix(fake: ComputeAdmin) -> None:
    disk = fake.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"backup-daily": "1"})
    seed_history(fake, disk, [1], **{"snapshot-keep": "true"})
    seed_history(fake, disk, [2], **{"backup-keep": "true"})
    seed_history(fake, disk, [3])
    config = settings(fake, LABEL_PREFIX="backup-")

    result = run(item(disk), config)

    assert result.deleted == ("old-standard-ready-3",)

"""The pure parts of orphan handling and the cost view: which snapshots are orphans,
what each ORPHAN_POLICY deletes, and how storageBytes become a monthly estimate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from snapkeeper import costs, orphans
from snapkeeper.compute import Snapshot
from snapkeeper.config import Config
from snapkeeper.errors import ConfigError
from snapkeeper.options import ScheduleOptions, orphan_policy, parse_text

NOW = datetime(2027, 6, 1, 3, tzinfo=UTC)
GIB = 2**30


def snap(
    name: str,
    days: int,
    *,
    disk_id: str = "11",
    project: str = "prod-app-1",
    deployment: str | None = None,
    keep: str | None = None,
    kind: str = "STANDARD",
    size: int = GIB,
    **extra: str,
) -> Snapshot:
    taken = NOW - timedelta(days=days)
    tags = {
        "managed-by": "snapkeeper",
        "snapkeeper-disk-id": disk_id,
        "snapkeeper-schedule": "daily",
        "snapkeeper-slot": taken.strftime("%Y%m%d-%H%M"),
        **({"snapkeeper-deployment": deployment} if deployment else {}),
        **({"snapkeeper-keep": keep} if keep else {}),
        **extra,
    }
    source = f"projects/{project}/zones/us-central1-a/disks/disk-{disk_id}"
    return Snapshot(project, name, "READY", tags, taken, source, disk_id, size, "", kind)


def config(**env: str) -> Config:
    return Config.from_env({"GOOGLE_CLOUD_PROJECT": "snapkeeper-host", **env})


def test_an_orphan_is_a_managed_snapshot_of_a_disk_id_not_listed() -> None:
    found = orphans.find(
        [
            snap("live", 1, disk_id="10"),
            snap("gone-a", 1),
            snap("gone-b", 2),
            snap("theirs", 1, deployment="dr"),
            snap("elsewhere", 1, disk_id="12", project="prod-db-2"),
            snap("by-hand", 1, **{"managed-by": "someone"}),
        ],
        {"10"},
        "prod-app-1",
        "default",
    )
    [group] = found
    assert (group.disk, group.disk_id, group.location, group.regional) == (
        "disk-11",
        "11",
        "us-central1-a",
        False,
    )
    assert {s.name for s in group.snapshots} == {"gone-a", "gone-b"}
    assert group.storage_bytes == 2 * GIB and group.newest == NOW - timedelta(days=1)


def names(plan: object) -> set[str]:
    return {s.name for s in plan.delete}  # type: ignore[attr-defined]


def test_keep_newest_keeps_the_n_its_newest_snapshot_recorded() -> None:
    series = [snap(f"d{d}", d, keep="5" if d > 2 else "2") for d in range(1, 6)]
    plan = orphans.plan(series, orphan_policy("keep-newest"), config(), ScheduleOptions(), NOW)
    assert names(plan) == {"d3", "d4", "d5"}
    # Without any recorded N (made before the label), all it holds are kept...
    bare = [snap(f"d{d}", d) for d in range(1, 6)]
    assert (
        names(orphans.plan(bare, orphan_policy("keep-newest"), config(), ScheduleOptions(), NOW))
        == set()
    )
    # ...but the schedule's max-age still applies, as while the disk lived.
    aged = orphans.plan(bare, orphan_policy("keep-newest"), config(), parse_text("max-age=2d"), NOW)
    assert names(aged) == {"d3", "d4", "d5"}


def test_max_age_deletes_every_old_orphan_but_a_vault_keeps_min_keep() -> None:
    series = [snap(f"d{d}", d) for d in (40, 50, 60)]
    policy = orphan_policy("max-age:30d")
    assert names(orphans.plan(series, policy, config(), ScheduleOptions(), NOW)) == {
        "d40", "d50", "d60"
    }  # fmt: skip
    vault = config(SNAPSHOT_PROJECT="vault-backups", MIN_KEEP="2")
    assert names(orphans.plan(series, policy, vault, ScheduleOptions(), NOW)) == {"d60"}


def test_keep_deletes_nothing_and_the_brake_holds_every_policy() -> None:
    series = [snap(f"d{d}", d) for d in range(40, 50)]
    assert (
        names(orphans.plan(series, orphan_policy("keep"), config(), ScheduleOptions(), NOW))
        == set()
    )
    plan = orphans.plan(series, orphan_policy("max-age:1d"), config(), ScheduleOptions(), NOW)
    assert names(plan) == {"d49", "d48", "d47"} and len(plan.held_back) == 7
    pinned = [
        snap("pin", 400, **{"snapshot-keep": "true"}),
        snap("old-archive", 100, kind="ARCHIVE"),
        snap("young-archive", 10, kind="ARCHIVE"),
    ]
    assert names(
        orphans.plan(pinned, orphan_policy("max-age:1d"), config(), ScheduleOptions(), NOW)
    ) == {"old-archive"}


def test_prices_are_dated_and_overridable() -> None:
    assert costs.Prices().as_of == costs.PRICES_AS_OF
    assert costs.Prices().monthly("ARCHIVE", 10 * GIB) == pytest.approx(10 * 0.019)
    custom = costs.parse_prices("standard=0.065")
    assert (custom.standard, custom.archive, custom.as_of) == (0.065, 0.019, "custom")
    for bad in ("gold=1", "standard", "archive=cheap", "standard=-1"):
        with pytest.raises(ConfigError):
            costs.parse_prices(bad)


def test_costs_per_disk_and_schedule_and_the_top_disks() -> None:
    snapshots = [
        snap("a1", 1, size=100 * GIB),
        snap("a2", 2, size=2 * GIB),
        snap("a3", 3, kind="ARCHIVE", size=100 * GIB),
        snap("b1", 1, disk_id="10", size=5 * GIB),
    ]
    rows = costs.disk_costs(snapshots, {"prod-app-1": frozenset({"10"})}, costs.Prices())
    by_disk = {r.disk_id: r for r in rows}
    gone = by_disk["11"]
    assert gone.orphan and not by_disk["10"].orphan
    assert (gone.snapshots, gone.standard_bytes, gone.archive_bytes) == (3, 102 * GIB, 100 * GIB)
    assert gone.monthly == pytest.approx(102 * 0.05 + 100 * 0.019)
    top = costs.top_disks(rows, count=1)
    assert [(t.disk_id, t.schedule) for t in top] == [("11", "*")]
    [project] = costs.by_project(rows)
    assert (project.project, project.snapshots) == ("prod-app-1", 4)
    assert project.storage_bytes == 207 * GIB
    assert project.monthly == pytest.approx(sum(r.monthly for r in rows))

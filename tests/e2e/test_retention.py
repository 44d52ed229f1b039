"""Retention you can trust, end to end: ticks through the Pub/Sub emulator into both
functions under functions-framework, against the fake Compute Engine. A lowered N takes
effect over several ticks (the brake), a vault keeps MIN_KEEP, a young ARCHIVE snapshot
outlives max-age, two deployments on one disk keep their own N each, and a deleted
disk's snapshots are kept or pruned per ORPHAN_POLICY."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from snapkeeper import clients, coverage
from snapkeeper.compute import ComputeGateway
from snapkeeper.config import DEFAULT_MAX_DELETES_PER_RUN, DEFAULT_MIN_KEEP, Config
from snapkeeper.messages import Tick
from snapkeeper.options import parse_text
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.stack import LocalStack
from tests.e2e.helpers import ZONE, daily, fresh_day, managed, run_tick
from tests.fixtures_stack import TARGET_PROJECTS
from tests.support_snapshots import relabel_disk, seed_managed_snapshot

PROJECT = "prod-app-1"
VAULT = "vault-backups"
_hosts = itertools.count(1)


def _second_stack(emulator: PubSubEmulator, **settings: Any) -> Iterator[LocalStack]:
    with LocalStack(
        TARGET_PROJECTS,
        host_project=f"snapkeeper-retention-{next(_hosts)}",
        emulator=emulator,
        **settings,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def vault_stack(pubsub_emulator: PubSubEmulator) -> Iterator[LocalStack]:
    """A deployment whose snapshots go to a vault project (MIN_KEEP left at its default)."""
    yield from _second_stack(pubsub_emulator, snapshot_project=VAULT)


@pytest.fixture(scope="module")
def dr_stack(pubsub_emulator: PubSubEmulator, local_stack: LocalStack) -> Iterator[LocalStack]:
    """A second deployment ("dr", labels dr-<schedule>) on the same disks as `stack`."""
    yield from _second_stack(
        pubsub_emulator,
        compute=local_stack.compute,
        extra_env={"DEPLOYMENT_ID": "dr", "LABEL_PREFIX": "dr-"},
    )


def seed_generations(stack: LocalStack, disk: dict[str, Any], before: datetime, count: int) -> None:
    """`count` READY daily generations of the disk, one a day before `before`."""
    admin = stack.compute.admin  # type: ignore[union-attr]
    for day in range(1, count + 1):
        seed_managed_snapshot(admin, PROJECT, f"gen-{day:02d}", disk, before - timedelta(days=day))


def test_lowering_n_from_30_to_1_deletes_at_most_the_brakes_count_per_tick(
    stack: LocalStack,
) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.seed_project(PROJECT)
    disk = admin.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "30"})
    start = fresh_day()
    seed_generations(stack, disk, start, 29)
    first = run_tick(stack, daily(start))
    assert [e["held"] for e in first.outcomes.values()] == [30]

    relabel_disk(admin.host, PROJECT, ZONE, "web-data", {"snapshot-daily": "1"})
    held = []
    for day in range(1, 4):
        report = run_tick(stack, daily(start + timedelta(days=day)))
        [entry] = report.outcomes.values()
        assert len(entry["deleted"]) == DEFAULT_MAX_DELETES_PER_RUN  # never more
        assert entry["wanted"] == 1 and entry["held_back"] > 0
        held.append(entry["held"])
        assert stack.snapshotter is not None
        [brake] = [
            e
            for e in stack.snapshotter.log_entries()
            if e.get("slot") == report.slot and e["message"].startswith("pruning held back")
        ]
        assert brake["severity"] == "WARNING"
        assert len(brake["held_back"]) == entry["held_back"]
    # 31 READY, then each tick adds one and deletes three: it converges, two a tick.
    assert held == [28, 26, 24]
    assert len(managed(stack, PROJECT, "web-data")) == 24


def test_a_vault_disk_labelled_1_keeps_min_keep(vault_stack: LocalStack) -> None:
    admin = vault_stack.compute.admin  # type: ignore[union-attr]
    admin.reset()
    admin.seed_project(PROJECT)
    admin.seed_project(VAULT)
    admin.seed_disk(PROJECT, "pg-data", zone=ZONE, labels={"snapshot-daily": "1"})
    start = fresh_day()

    for day in range(5):
        report = run_tick(vault_stack, daily(start + timedelta(days=day)))
        [entry] = report.outcomes.values()
        assert entry["snapshot_project"] == VAULT
        assert (entry["wanted"], entry["held"]) == (
            DEFAULT_MIN_KEEP,
            min(day + 1, DEFAULT_MIN_KEEP),
        )

    kept = managed(vault_stack, VAULT, "pg-data")
    assert Counter(s["status"] for s in kept) == {"READY": DEFAULT_MIN_KEEP}
    assert managed(vault_stack, PROJECT) == []


def test_an_archive_snapshot_younger_than_90_days_survives_max_age(stack: LocalStack) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.seed_project(PROJECT)
    admin.seed_disk(PROJECT, "pg-data", zone=ZONE, labels={"snapshot-cold": "1"})
    options = parse_text("type=ARCHIVE,max-age=30d")
    start = fresh_day()

    def tick(days: int) -> dict[str, Any]:
        at = start + timedelta(days=days)
        report = run_tick(stack, Tick("cold", "0 3 * * *", "Etc/UTC", at, options=options))
        [entry] = report.outcomes.values()
        return entry

    for days in (0, 40, 80):
        entry = tick(days)
        # N is 1 and max-age 30 days, yet every ARCHIVE snapshot so far is under 90 days.
        assert entry["deleted"] == []
    kept = managed(stack, PROJECT, "pg-data")
    assert len(kept) == 3 and {s["snapshotType"] for s in kept} == {"ARCHIVE"}

    entry = tick(135)  # ages now 135, 95, 55 and 0 days
    slots = sorted(s["labels"]["snapkeeper-slot"] for s in managed(stack, PROJECT, "pg-data"))
    assert slots == [(start + timedelta(days=d)).strftime("%Y%m%d-0300") for d in (80, 135)]
    assert len(entry["deleted"]) == 2 and entry["held"] == 2


def test_two_deployments_on_one_disk_keep_their_own_n(
    stack: LocalStack, dr_stack: LocalStack
) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.seed_project(PROJECT)
    admin.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "2", "dr-daily": "1"})
    start = fresh_day()

    for day in range(4):
        at = start + timedelta(days=day)
        main = run_tick(stack, daily(at))
        # An hour later, as a staggered cron would: the same slot, past the rate limit.
        dr = run_tick(dr_stack, daily(at + timedelta(hours=1)))
        assert dr.slot == main.slot
        [mine], [theirs] = main.outcomes.values(), dr.outcomes.values()
        assert (mine["held"], theirs["held"]) == (min(day + 1, 2), 1)

    owners = Counter(
        s["labels"]["snapkeeper-deployment"] for s in managed(stack, PROJECT, "web-data")
    )
    assert owners == {"default": 2, "dr": 1}


@pytest.fixture(scope="module")
def orphan_stack(pubsub_emulator: PubSubEmulator, local_stack: LocalStack) -> Iterator[LocalStack]:
    """The same deployment as `stack`, on the same disks, with ORPHAN_POLICY=max-age:2d."""
    yield from _second_stack(
        pubsub_emulator,
        compute=local_stack.compute,
        extra_env={"ORPHAN_POLICY": "max-age:2d"},
    )


def test_orphans_of_a_deleted_disk_are_kept_or_pruned_per_policy(
    stack: LocalStack, orphan_stack: LocalStack
) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.seed_project(PROJECT)
    admin.seed_disk(PROJECT, "web-data", zone=ZONE, labels={"snapshot-daily": "1"})
    old = admin.seed_disk(PROJECT, "old-data", zone=ZONE, labels={"snapshot-daily": "3"})
    start = fresh_day()
    for day in range(4):
        run_tick(stack, daily(start + timedelta(days=day)))
    assert len(managed(stack, PROJECT, "old-data")) == 3
    clients.compute(stack.compute.host).disks.delete(  # type: ignore[union-attr]
        project=PROJECT, zone=ZONE, disk="old-data"
    ).result(timeout=10)

    kept = run_tick(stack, daily(start + timedelta(days=4)))  # ORPHAN_POLICY=keep

    assert (kept.summary["orphans_found"], kept.summary["orphan_messages"]) == (0, 0)
    assert list(kept.outcomes) == [f"{PROJECT}/{ZONE}/web-data"]
    assert len(managed(stack, PROJECT, "old-data")) == 3

    admin.clear_requests()
    pruned = run_tick(orphan_stack, daily(start + timedelta(days=5)))

    assert (pruned.summary["orphans_found"], pruned.summary["orphan_messages"]) == (1, 1)
    orphan = pruned.outcomes[f"{PROJECT}/{ZONE}/old-data"]
    assert (orphan["action"], orphan["kind"], len(orphan["deleted"])) == ("orphans", "orphans", 2)
    # Ages at the tick: 4, 3 and 2 days; only those older than 2 days went.
    [left] = managed(stack, PROJECT, "old-data")
    assert left["labels"]["snapkeeper-slot"] == (start + timedelta(days=3)).strftime("%Y%m%d-0300")
    assert left["labels"]["snapkeeper-keep"] == "3"
    assert pruned.outcomes[f"{PROJECT}/{ZONE}/web-data"]["action"] == "created"
    calls = Counter(r["api_method"] for r in admin.requests())
    # The tick's one extra list, the web disk's list, and the orphan step's disk read and list.
    assert calls["compute.snapshots.list"] == 3 and calls["compute.disks.get"] == 2
    assert calls["compute.snapshots.delete"] == 3  # two orphans, and web-data's previous one
    # status shows what is left of the orphans.
    config = Config.from_env(orphan_stack.env)
    survey = coverage.survey([PROJECT], config, ComputeGateway.for_config(config))
    [shown] = [o.summary(start + timedelta(days=5)) for o in survey.orphans("default")]
    assert (shown["disk"], shown["disk_id"], shown["snapshots"]) == ("old-data", old["id"], 1)
    assert shown["storage_bytes"] == int(left["storageBytes"])

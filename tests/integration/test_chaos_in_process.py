"""The chaos soak's own moves against the fake Compute Engine, in process: its label
changes and disk deletions meet the fake's faults as any caller does, and it leaves
alone what it may not or cannot change."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from google.api_core import exceptions as gexc

from snapkeeper import clients
from snapkeeper_local.chaos.checker import Expected
from snapkeeper_local.chaos.fleet import DiskModel, Fleet
from snapkeeper_local.chaos.soak import Rates, Settings, Soak
from snapkeeper_local.compute import ComputeAdmin

ZONE = "us-central1-a"
LABELS = {"snapshot-daily": "3"}


def soak_on(fake: ComputeAdmin, *disks: DiskModel, label_change: float = 0.0) -> Soak:
    settings = Settings(disks=0, projects=0, rates=Rates(label_change=label_change))
    soak = Soak(settings, print)
    soak.fleet = Fleet(sorted({d.project for d in disks}), list(disks), {})
    soak.stack = SimpleNamespace(compute=SimpleNamespace(host=fake.host, admin=fake))  # type: ignore[assignment]
    for project in soak.fleet.projects:
        fake.seed_project(project)
    for disk in disks:
        disk.id = str(fake.seed_disk(disk.project, disk.name, zone=ZONE, labels=disk.labels)["id"])
    return soak


def labels_of(fake: ComputeAdmin, disk: DiskModel) -> dict[str, str]:
    compute = clients.compute(fake.host)
    return dict(compute.disks.get(project=disk.project, zone=ZONE, disk=disk.name).labels)


def test_the_soaks_own_label_change_and_deletion_retry_the_fakes_faults(
    fake_compute: ComputeAdmin,
) -> None:
    disk = DiskModel("chaos-p01", "disk-1", ZONE, False, dict(LABELS))
    soak = soak_on(fake_compute, disk)
    fake_compute.add_fault(status=503, count=2)
    fake_compute.add_fault(status=429, reason="rateLimitExceeded", count=1)

    disk.labels["snapshot-daily"] = "5"
    soak._set_labels(disk)
    assert labels_of(fake_compute, disk) == {"snapshot-daily": "5"}

    fake_compute.add_fault(status=503, count=1)
    soak._delete_disk(disk)
    with pytest.raises(gexc.NotFound):
        labels_of(fake_compute, disk)
    assert disk.deleted and disk.id in soak.gone


def test_a_new_day_leaves_a_refusing_project_and_a_disk_gone_for_good_alone(
    fake_compute: ComputeAdmin,
) -> None:
    allowed = DiskModel("chaos-p01", "disk-1", ZONE, False, dict(LABELS))
    refusing = DiskModel("chaos-p02", "disk-2", ZONE, False, dict(LABELS))
    gone = DiskModel("chaos-p01", "disk-3", ZONE, False, dict(LABELS))
    soak = soak_on(fake_compute, allowed, refusing, gone, label_change=1.0)
    soak._delete_disk(gone)
    gone.for_good = True
    fake_compute.seed_project("chaos-p02", accessible=False)
    soak.revoked.add("chaos-p02")

    soak._new_day(1)  # every disk it may change gets a label change

    assert labels_of(fake_compute, allowed) != LABELS
    assert refusing.labels == LABELS
    assert gone.deleted and soak.days[1].faults["disk re-created"] == 0


def test_a_replay_expects_only_disks_still_in_the_schedule_at_their_n_now(
    fake_compute: ComputeAdmin,
) -> None:
    # Dead-lettered on day 1; by the replay one disk is excluded, one has N raised, one
    # is deleted: the replayed messages read the disks, so only the raised disk's slot is
    # due, at its new N.
    excluded, raised, deleted = (
        DiskModel("chaos-p01", f"disk-{i}", ZONE, False, dict(LABELS)) for i in range(3)
    )
    soak = soak_on(fake_compute, excluded, raised, deleted)
    lettered = [
        Expected(d.id, d.name, d.project, "daily", "20270201-0300", 3)
        for d in (excluded, raised, deleted)
    ]
    excluded.labels["snapshot-exclude"] = "true"
    raised.labels["snapshot-daily"] = "5"
    soak._delete_disk(deleted)

    assert [(e.disk, e.keep) for e in soak._still_due(lettered)] == [("disk-1", 5)]

"""Seeding snapshots as snapkeeper would have made them, and changing a disk's labels as a
person would: shared by the tests that run retention against the fake Compute Engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.cloud import compute_v1

from snapkeeper import clients, labels
from snapkeeper.config import Config
from snapkeeper_local.compute import ComputeAdmin


def fake_config(fake: ComputeAdmin, project: str, **env: str) -> Config:
    """The config of a deployment that targets `project` on the fake Compute Engine."""
    return Config.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "snapkeeper-host",
            "TARGET_PROJECTS": project,
            "COMPUTE_EMULATOR_HOST": fake.host,
            **env,
        }
    )


def managed_labels(
    disk: Mapping[str, Any], taken: datetime, schedule: str = "daily", **extra: str
) -> dict[str, str]:
    """The labels snapkeeper writes on a snapshot of `disk` for the slot at `taken`."""
    return {
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.DISK_ID: disk["id"],
        labels.SCHEDULE: schedule,
        labels.SLOT: taken.strftime("%Y%m%d-%H%M"),
        **extra,
    }


def seed_managed_snapshot(
    world: ComputeAdmin,
    project: str,
    name: str,
    disk: Mapping[str, Any],
    taken: datetime,
    *,
    extra_labels: Mapping[str, str] | None = None,
    **snapshot: Any,
) -> dict[str, Any]:
    """A snapshot of `disk` in `project` created at `taken`, labelled as snapkeeper's
    daily one of that slot (plus `extra_labels`); `snapshot` goes to the fake as is."""
    return world.seed_snapshot(
        project,
        name,
        source_disk=disk["selfLink"],
        creation_timestamp=taken,
        labels=managed_labels(disk, taken, **(extra_labels or {})),
        **snapshot,
    )


def relabel_disk(host: str, project: str, zone: str, disk: str, new: Mapping[str, str]) -> None:
    """Set a disk's labels through the real API (as a person would), with its fingerprint."""
    client = clients.compute(host).disks
    current = client.get(project=project, zone=zone, disk=disk)
    client.set_labels(
        project=project,
        zone=zone,
        resource=disk,
        zone_set_labels_request_resource=compute_v1.ZoneSetLabelsRequest(
            labels=dict(new), label_fingerprint=current.label_fingerprint
        ),
    )

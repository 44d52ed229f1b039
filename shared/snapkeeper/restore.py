"""Restore: a new disk from a disk's managed snapshot, the newest READY one at or before a
time (or one named), never over an existing disk."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from snapkeeper.compute import ComputeGateway, Snapshot, managed_filter
from snapkeeper.config import Config
from snapkeeper.coverage import taken
from snapkeeper.errors import ComputeError, RestoreError
from snapkeeper.retention import READY

RESTORED_FROM = "snapkeeper-restored-from"


@dataclass(frozen=True)
class Request:
    """A restore asked for: `disk` of `project` as of `at`, or from its managed snapshot
    named `snapshot` (exactly one of the two), into the new disk `new_disk` in `zone`
    (default: the source disk's zone)."""

    project: str
    disk: str
    new_disk: str
    at: datetime | None = None
    snapshot: str | None = None
    zone: str | None = None

    def __post_init__(self) -> None:
        if (self.at is None) == (self.snapshot is None):
            raise RestoreError("give exactly one of a time or a snapshot name")


@dataclass(frozen=True)
class Restored:
    project: str
    zone: str
    disk: str
    snapshot: str
    snapshot_link: str
    taken: datetime | None
    operation: str


def of_disk(snapshots: Iterable[Snapshot], project: str, disk: str) -> list[Snapshot]:
    """The snapshots whose source is `disk` of `project` (any zone or region)."""
    return [
        s
        for s in snapshots
        if s.source_disk.startswith(f"projects/{project}/")
        and s.source_disk.endswith(f"/disks/{disk}")
    ]


def restore_point(snapshots: Iterable[Snapshot], at: datetime) -> Snapshot | None:
    """The newest READY snapshot taken at or before `at`."""
    dated = [(t, s.name, s) for s in snapshots if s.status == READY and (t := taken(s))]
    candidates = [entry for entry in dated if entry[0] <= at]
    return max(candidates, key=lambda entry: (entry[0], entry[1]))[2] if candidates else None


def choose(
    snapshots: list[Snapshot], disk: str, *, at: datetime | None, name: str | None
) -> Snapshot:
    if name is not None:
        chosen = next((s for s in snapshots if s.name == name), None)
        if chosen is None:
            raise RestoreError(f"{name} is not a managed snapshot of disk {disk}")
        if chosen.status != READY:
            raise RestoreError(f"snapshot {name} is {chosen.status}, not READY")
        return chosen
    assert at is not None
    point = restore_point(snapshots, at)
    if point is None:
        raise RestoreError(f"disk {disk} has no READY managed snapshot at or before {at}")
    return point


def source_zone(snapshot: Snapshot) -> str | None:
    """The zone of a snapshot's source disk, None for a regional disk."""
    parts = snapshot.source_disk.split("/")
    return parts[3] if len(parts) > 4 and parts[2] == "zones" else None


def restore(
    config: Config, gateway: ComputeGateway, request: Request, timeout: float = 300.0
) -> Restored:
    """Create the new disk from the right managed snapshot, and wait (bounded)."""
    project, disk, new_disk, zone = request.project, request.disk, request.new_disk, request.zone
    vault = config.snapshot_project or project
    candidates = of_disk(gateway.snapshots(vault, managed_filter()), project, disk)
    if not candidates:
        raise RestoreError(f"no managed snapshot of disk {disk} of {project} in {vault}")
    sources = {s.source_disk for s in candidates}
    if zone and len(sources) > 1:
        candidates = [s for s in candidates if source_zone(s) == zone] or candidates
    if len({s.source_disk for s in candidates}) > 1:
        raise RestoreError(f"several disks named {disk}: {', '.join(sorted(sources))}; give --zone")
    chosen = choose(candidates, disk, at=request.at, name=request.snapshot)
    zone = zone or source_zone(chosen)
    if not zone:
        raise RestoreError(f"{chosen.source_disk} is a regional disk: give --zone")
    if gateway.disk_exists(project, zone, False, new_disk):
        raise RestoreError(f"disk {new_disk} already exists in {project}/{zone}: not touched")
    link = f"projects/{vault}/global/snapshots/{chosen.name}"
    try:
        operation = gateway.create_disk_from_snapshot(
            project, zone, new_disk, link, {RESTORED_FROM: chosen.name}
        )
    except ComputeError as exc:
        if exc.status == 409:  # created between our check and the insert
            raise RestoreError(f"disk {new_disk} already exists in {project}/{zone}") from exc
        raise
    if not gateway.follow_operation(project, operation, time.monotonic() + timeout, zone):
        raise RestoreError(f"{operation} (restore of {chosen.name}) not done after {timeout:.0f} s")
    return Restored(project, zone, new_disk, chosen.name, link, taken(chosen), operation)

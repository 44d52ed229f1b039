"""The fake's resources, one dataclass each, and the state that holds them.

A resource keeps only what was set on it; its status is derived from the fake clock when
read, so moving the clock is all it takes to move a snapshot to READY.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .clock import Timings

FIRST_ID = 1_000_000_000_000_000_001


@dataclass
class Project:
    name: str
    id: int
    accessible: bool = True
    denied_permissions: list[str] = field(default_factory=list)


@dataclass
class Disk:
    project: str
    name: str
    id: int
    scope: str  # "zones/us-central1-a" or "regions/us-central1"
    size_gb: int
    created: float
    ready_at: float
    labels: dict[str, str] = field(default_factory=dict)
    type: str = "pd-balanced"
    users: list[str] = field(default_factory=list)
    replica_zones: list[str] = field(default_factory=list)
    source_snapshot: str | None = None
    source_snapshot_id: str | None = None

    @property
    def path(self) -> str:
        return f"projects/{self.project}/{self.scope}/disks/{self.name}"

    def status(self, now: float) -> str:
        return "READY" if now >= self.ready_at else "CREATING"


@dataclass
class Instance:
    project: str
    name: str
    id: int
    zone: str
    created: float
    labels: dict[str, str] = field(default_factory=dict)
    disks: list[str] = field(default_factory=list)  # disk selfLinks, boot disk first
    machine_type: str = "e2-medium"

    @property
    def path(self) -> str:
        return f"projects/{self.project}/zones/{self.zone}/instances/{self.name}"


@dataclass
class Snapshot:
    project: str
    name: str
    id: int
    source_disk: str  # selfLink
    source_disk_id: str
    disk_size_gb: int
    created: float
    storage_locations: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    fixed_status: str | None = None  # seeded with a status: never moves
    fails: bool = False
    failure_code: str = "INTERNAL_ERROR"
    failure_message: str = "Internal error. Please try again or contact Google Support."
    guest_flush: bool = False
    description: str = ""
    snapshot_type: str = "STANDARD"
    chain_name: str | None = None
    kms_key_name: str | None = None  # with its key version, as the API answers it
    raw_key_sha256: str | None = None  # a customer-supplied key is never kept, its hash is
    stored_bytes: int | None = None  # None (seeded, or an older state file): the disk's size

    @property
    def path(self) -> str:
        return snapshot_path(self.project, self.name)

    @property
    def chain(self) -> tuple[str, str, str]:
        """Snapshots of one disk in one project and chain share their data incrementally."""
        return (self.project, self.source_disk_id, self.chain_name or "")

    @property
    def full_bytes(self) -> int:
        return self.disk_size_gb * 2**30

    def status(self, now: float, timings: Timings) -> str:
        if self.fixed_status:
            return self.fixed_status
        elapsed = now - self.created
        if elapsed < timings.creating_seconds:
            return "CREATING"
        if elapsed < timings.creating_seconds + timings.uploading_seconds:
            return "UPLOADING"
        return "FAILED" if self.fails else "READY"


@dataclass
class Operation:
    project: str
    name: str
    id: int
    scope: str  # "global", "zones/z" or "regions/r"
    operation_type: str
    target_link: str
    target_id: str
    inserted: float
    done_at: float
    error: list[dict[str, str]] | None = None

    @property
    def path(self) -> str:
        return f"projects/{self.project}/{self.scope}/operations/{self.name}"

    def done(self, now: float) -> bool:
        return now >= self.done_at


def snapshot_path(project: str, name: str) -> str:
    return f"projects/{project}/global/snapshots/{name}"


@dataclass
class State:
    """Every resource by its key, and what the API remembers between calls."""

    projects: dict[str, Project] = field(default_factory=dict)
    disks: dict[tuple[str, str, str], Disk] = field(default_factory=dict)  # project, scope, name
    instances: dict[tuple[str, str, str], Instance] = field(default_factory=dict)  # p, zone, n
    snapshots: dict[tuple[str, str], Snapshot] = field(default_factory=dict)  # project, name
    operations: dict[tuple[str, str, str], Operation] = field(default_factory=dict)  # p, s, n
    # (project, requestId) -> the key of the operation that call started
    request_ids: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    last_snapshot_at: dict[str, float] = field(default_factory=dict)  # disk path -> when
    extra_zones: set[str] = field(default_factory=set)  # zones seeding added
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_ID))

    def new_id(self) -> int:
        return next(self.ids)

    def continue_ids(self) -> None:
        """After a load: new ids follow the largest one in use."""
        everything: list[Project | Disk | Instance | Snapshot | Operation] = [
            *self.projects.values(),
            *self.disks.values(),
            *self.instances.values(),
            *self.snapshots.values(),
            *self.operations.values(),
        ]
        self.ids = itertools.count(max((x.id for x in everything), default=10**18) + 1)

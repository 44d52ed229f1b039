"""The fake Compute Engine's backend: the API's rules over the state in `models`, behind
one lock.

It ties the parts together: `models` (the resources), `clock` (the fake time every status
derives from), `views` (their JSON), `listing` (filters and pages), `permissions`,
`faults`, `request_log` and `persistence`. Every public method takes the lock.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from functools import partial
from typing import Any, TypeVar

from . import errors, faults, listing, persistence, storage, views
from .clock import FakeClock, Timings, parse_time, rfc3339
from .faults import SNAPSHOT_INSERT, FaultDecision, FaultRule
from .filters import required_labels
from .models import Disk, Instance, Operation, Project, Snapshot, State, snapshot_path
from .permissions import (
    RESTORE_SOURCE_PERMISSION,
    SNAPSHOT_SOURCE_PERMISSION,
    check_permission,
    permission_of,
    validate_denied,
)
from .quotas import Quotas
from .request_log import RequestLog
from .validation import (
    KNOWN_ZONES,
    REGION,
    REGIONS,
    ZONE,
    default_storage_location,
    int_field,
    label_fingerprint,
    region_of,
    region_of_scope,
    self_link,
    split_resource_url,
    split_zone,
    validate_chain_name,
    validate_encryption_key,
    validate_labels,
    validate_name,
    validate_snapshot_type,
)

# Names other modules imported from here before the split.
__all__ = [
    "Backend",
    "Disk",
    "FakeClock",
    "FaultDecision",
    "FaultRule",
    "Instance",
    "Operation",
    "Project",
    "Snapshot",
    "Timings",
    "rfc3339",
]

SNAPSHOT_STATUSES = ("CREATING", "UPLOADING", "READY", "FAILED", "DELETING")
_Target = TypeVar("_Target", Disk, Snapshot)
_R = TypeVar("_R", Disk, Instance)  # a resource an aggregatedList lists


class Backend:
    """All state and behaviour; every public method takes the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._start_empty()

    def _start_empty(self) -> None:
        self.clock = FakeClock()
        self.timings = Timings()
        self.state = State()
        self.faults: list[FaultRule] = []
        self.log = RequestLog()
        self.quotas = Quotas()
        self._count_snapshots()

    def _count_snapshots(self) -> None:
        """Snapshots per project (the SNAPSHOTS quota's usage), kept up to date by every
        change rather than counted on each insert."""
        self.snapshot_counts = Counter(project for project, _ in self.state.snapshots)

    def reset(self) -> None:
        with self._lock:
            self._start_empty()

    def now(self) -> float:
        return self.clock.now()

    # --- projects and scopes

    def _project(self, name: str, api_method: str, resource: str | None = None) -> Project:
        """The project of a call, which must grant the permission `api_method` needs;
        a 403 names `resource` (default: the project), as the real message does."""
        project = self.state.projects.get(name)
        if project is None:
            raise errors.NotFound.resource(f"projects/{name}")
        check_permission(project, permission_of(api_method), resource)
        return project

    def _zones(self) -> set[str]:
        return set(KNOWN_ZONES) | self.state.extra_zones

    def _regions(self) -> set[str]:
        return {region_of(zone) for zone in self._zones()}

    def _all_scopes(self) -> list[str]:
        return [f"zones/{z}" for z in self._zones()] + [f"regions/{r}" for r in self._regions()]

    def _check_zone(self, zone: str) -> None:
        if zone not in self._zones():
            raise errors.Invalid.field("zone", zone, "Unknown zone.")

    def _check_scope(self, scope: str) -> None:
        kind, where = scope.split("/")
        if kind == "zones":
            self._check_zone(where)
        elif where not in self._regions():
            raise errors.Invalid.field("region", where, "Unknown region.")

    def _add_zone(self, zone: str) -> None:
        if not ZONE.fullmatch(zone):
            raise errors.Invalid.field("zone", zone, "Unknown zone.")
        self.state.extra_zones.add(zone)

    # --- seeding (admin API)

    def seed_project(
        self, name: str, accessible: bool = True, denied_permissions: Iterable[str] = ()
    ) -> dict[str, Any]:
        """A project (or new settings of one): `accessible=False` denies everything,
        `denied_permissions` only those IAM permissions (e.g. compute.snapshots.create)."""
        with self._lock:
            validate_name(name, "name")
            denied = validate_denied(denied_permissions)
            project = self.state.projects.get(name) or Project(name, self.state.new_id())
            project.accessible = accessible
            project.denied_permissions = denied
            self.state.projects[name] = project
            return asdict(project) | {"id": str(project.id)}

    def _ensure_project(self, name: str) -> None:
        if name not in self.state.projects:
            self.seed_project(name)

    def seed_disk(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            project = str(spec.get("project") or "")
            self._ensure_project(project)
            name = validate_name(spec.get("name"))
            zone, region = spec.get("zone"), spec.get("region")
            if bool(zone) == bool(region):
                raise errors.Invalid.field("zone", zone, "Give exactly one of zone and region.")
            if zone:
                self._add_zone(str(zone))
                scope = f"zones/{zone}"
            else:
                if not REGION.fullmatch(str(region)):
                    raise errors.Invalid.field("region", region, "Unknown region.")
                scope = f"regions/{region}"
            replica_zones = list(spec.get("replicaZones") or [])
            if region and not replica_zones:
                replica_zones = [f"{region}-{z}" for z in REGIONS.get(str(region), ("a", "b"))[:2]]
            for replica in replica_zones:
                self._add_zone(replica)
            now = self.now()
            disk = Disk(
                project=project,
                name=name,
                id=int(spec.get("id") or self.state.new_id()),
                scope=scope,
                size_gb=int_field(spec.get("sizeGb"), "sizeGb", 10),
                created=now,
                ready_at=now,
                labels=validate_labels(spec.get("labels")),
                type=str(spec.get("type") or "pd-balanced"),
                replica_zones=replica_zones,
            )
            key = (project, scope, name)
            if key in self.state.disks:
                raise errors.AlreadyExists.resource(disk.path)
            self.state.disks[key] = disk
            return self._disk_json(disk)

    def seed_instance(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            project = str(spec.get("project") or "")
            self._ensure_project(project)
            name = validate_name(spec.get("name"))
            zone = str(spec.get("zone") or "")
            self._add_zone(zone)
            if (project, zone, name) in self.state.instances:
                raise errors.AlreadyExists.resource(
                    f"projects/{project}/zones/{zone}/instances/{name}"
                )
            instance = Instance(
                project=project,
                name=name,
                id=int(spec.get("id") or self.state.new_id()),
                zone=zone,
                created=self.now(),
                labels=validate_labels(spec.get("labels")),
            )
            for ref in spec.get("disks") or []:
                disk = self._disk_for_instance(project, zone, str(ref))
                disk.users.append(self_link(instance.path))
                instance.disks.append(self_link(disk.path))
            self.state.instances[(project, zone, name)] = instance
            return self._instance_json(instance)

    def _disk_for_instance(self, project: str, zone: str, ref: str) -> Disk:
        """A disk name (zonal, in the instance's zone; created when missing) or a path."""
        if "/" in ref:
            disk_project, scope, name = split_resource_url(ref, "disks", "disks")
            key = (disk_project or project, scope, name)
            if key not in self.state.disks:
                raise errors.NotFound.resource(f"projects/{key[0]}/{scope}/disks/{name}")
            return self.state.disks[key]
        key = (project, f"zones/{zone}", ref)
        if key not in self.state.disks:
            self.seed_disk({"project": project, "zone": zone, "name": ref})
        return self.state.disks[key]

    def seed_snapshot(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            project = str(spec.get("project") or "")
            self._ensure_project(project)
            name = validate_name(spec.get("name"))
            if (project, name) in self.state.snapshots:
                raise errors.AlreadyExists.resource(snapshot_path(project, name))
            status = str(spec.get("status") or "READY")
            if status not in SNAPSHOT_STATUSES:
                raise errors.Invalid.field("status", status, "Unknown snapshot status.")
            source = spec.get("sourceDisk")
            source_link, source_id, size, region = "", "", 10, "us-central1"
            if source:
                disk_project, scope, disk_name = split_resource_url(source, "sourceDisk", "disks")
                disk_key = (disk_project or project, scope, disk_name)
                source_link = self_link(f"projects/{disk_key[0]}/{scope}/disks/{disk_name}")
                region = region_of_scope(scope)
                disk = self.state.disks.get(disk_key)
                if disk is not None:
                    source_id, size = str(disk.id), disk.size_gb
            created = spec.get("creationTimestamp")
            snapshot = Snapshot(
                project=project,
                name=name,
                id=int(spec.get("id") or self.state.new_id()),
                source_disk=source_link,
                source_disk_id=str(spec.get("sourceDiskId") or source_id),
                disk_size_gb=int_field(spec.get("diskSizeGb"), "diskSizeGb", size),
                created=parse_time(str(created)) if created else self.now(),
                storage_locations=list(
                    spec.get("storageLocations") or [default_storage_location(region)]
                ),
                labels=validate_labels(spec.get("labels")),
                fixed_status=status,
                snapshot_type=validate_snapshot_type(spec.get("snapshotType")),
                chain_name=validate_chain_name(spec.get("chainName")),
            )
            self.state.snapshots[(project, name)] = snapshot
            self.snapshot_counts[project] += 1
            return self._snapshot_json(snapshot)

    def all_snapshots(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._snapshot_json(s) for _, s in sorted(self.state.snapshots.items())]

    def inventory(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every disk and every snapshot as the API shows them now: what the Cloud Asset
        Inventory fake indexes, so that its view is this fleet's."""
        with self._lock:
            disks = [self._disk_json(d) for _, d in sorted(self.state.disks.items())]
            return disks, [self._snapshot_json(s) for _, s in sorted(self.state.snapshots.items())]

    # --- clock, timings, faults, request log

    def set_clock(self, when: float, frozen: bool) -> None:
        with self._lock:
            self.clock.set(when, frozen)

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self.clock.advance(seconds)

    def freeze_clock(self, frozen: bool) -> None:
        with self._lock:
            self.clock.set(self.clock.now(), frozen)

    def clock_json(self) -> dict[str, Any]:
        with self._lock:
            return self.clock.to_json()

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            known = {f.name for f in fields(Timings)}
            unknown = set(changes) - known
            if unknown:
                raise errors.Invalid.field("config", sorted(unknown), f"Known: {sorted(known)}.")
            for key, value in changes.items():
                if not isinstance(value, int | float) or value < 0:
                    raise errors.Invalid.field(key, value, "Must be a number >= 0.")
                if key == "time_scale":
                    self.clock.set_rate(float(value))
                setattr(self.timings, key, float(value))
            return asdict(self.timings)

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            rule = faults.new_rule(spec)
            self.faults.append(rule)
            return rule.to_json()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def fault_rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self.faults]

    def set_quotas(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self.quotas.configure(spec)

    def quotas_json(self) -> dict[str, Any]:
        with self._lock:
            return self.quotas.to_json()

    def charge_quota(self, api_method: str, args: Mapping[str, str]) -> None:
        """Count one API call against its project's rate quotas (quotas.Quotas.charge)."""
        with self._lock:
            scope = args.get("zone") or args.get("region") or ""
            region = region_of(scope) if "zone" in args else scope
            self.quotas.charge(args["project"], api_method, region, self.now())

    def get_project(self, project: str) -> dict[str, Any]:
        """projects.get: the project with the `quotas[]` this fake keeps."""
        with self._lock:
            found = self._project(project, "compute.projects.get")
            return views.project_json(
                found, self.quotas.project_quotas(project, self.snapshot_counts[project])
            )

    def decide_faults(
        self, method: str, path: str, api_method: str | None, body: str
    ) -> FaultDecision:
        """Latency to add, an error to answer, and whether an inserted snapshot fails."""
        with self._lock:
            return faults.decide(self.faults, method, path, api_method, body)

    def record(
        self, method: str, path: str, query: Mapping[str, str], api_method: str | None, status: int
    ) -> None:
        with self._lock:
            self.log.add(rfc3339(self.now()), method, path, query, api_method, status)

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return self.log.to_json()

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.log.counts)

    def clear_requests(self) -> None:
        with self._lock:
            self.log.clear()

    # --- JSON views as of now

    def _disk_json(self, disk: Disk) -> dict[str, Any]:
        return views.disk_json(disk, self.now())

    def _instance_json(self, instance: Instance) -> dict[str, Any]:
        sizes = {}
        for link in instance.disks:
            project, scope, name = split_resource_url(link, "source", "disks")
            disk = self.state.disks.get((project or "", scope, name))
            if disk is not None:
                sizes[link] = disk.size_gb
        return views.instance_json(instance, sizes)

    def _snapshot_json(self, snapshot: Snapshot) -> dict[str, Any]:
        return views.snapshot_json(snapshot, self.now(), self.timings)

    def _operation_json(self, op: Operation) -> dict[str, Any]:
        return views.operation_json(op, self.now())

    # --- reads

    def aggregated_disks(
        self, project: str, query: Mapping[str, str], unreachable: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Disks of every scope; those of the `unreachable` scopes are left out."""
        with self._lock:
            disks = ((d.scope, d) for key, d in self.state.disks.items() if key[0] == project)
            return self._aggregated(
                project, "disks", self._all_scopes(), disks, self._disk_json, query, unreachable
            )

    def _aggregated(
        self,
        project: str,
        collection: str,
        scopes: Sequence[str],
        scoped: Iterable[tuple[str, _R]],
        to_json: Callable[[_R], dict[str, Any]],
        query: Mapping[str, str],
        unreachable: Sequence[str],
    ) -> dict[str, Any]:
        """`collection`.aggregatedList of a project's (scope, resource) pairs, read only
        once the caller may (`scoped` is lazy); the `unreachable` scopes left out."""
        with self._lock:
            self._project(project, f"compute.{collection}.aggregatedList")
            entries = [
                (scope, to_json(resource)) for scope, resource in scoped if scope not in unreachable
            ]
            return listing.aggregated_response(
                f"compute#{collection.removesuffix('s')}AggregatedList",
                f"projects/{project}/aggregated/{collection}",
                collection,
                scopes,
                listing.page(entries, query),
                unreachable,
            )

    def list_disks(
        self, project: str, scope: str, query: Mapping[str, str], api_method: str
    ) -> dict[str, Any]:
        with self._lock:
            self._project(project, api_method)
            self._check_scope(scope)
            disks = (d for key, d in self.state.disks.items() if key[:2] == (project, scope))
            return listing.scope_response(
                "compute#diskList",
                f"projects/{project}/{scope}/disks",
                scope,
                map(self._disk_json, disks),
                query,
            )

    def get_disk(self, project: str, scope: str, name: str, api_method: str) -> dict[str, Any]:
        with self._lock:
            path = f"projects/{project}/{scope}/disks/{name}"
            self._project(project, api_method, path)
            self._check_scope(scope)
            return self._disk_json(self._disk(project, scope, name))

    def delete_disk(
        self, project: str, scope: str, name: str, request_id: str | None, api_method: str
    ) -> dict[str, Any]:
        """Delete a disk; like the real API, not while an instance has it attached."""

        def delete(disk: Disk) -> None:
            if disk.status(self.now()) != "READY":  # still being created or restored
                raise errors.ResourceNotReady.resource(disk.path)
            if disk.users:
                raise errors.ComputeError(
                    f"The disk resource '{disk.path}' is already being used by '{disk.users[0]}'",
                    code=400,
                    reason="resourceInUseByAnotherResource",
                )
            del self.state.disks[(project, scope, name)]

        path = f"projects/{project}/{scope}/disks/{name}"
        find = partial(self._disk, project, scope, name)
        return self._change(project, scope, api_method, path, request_id, "delete", find, delete)

    def set_disk_labels(
        self,
        project: str,
        scope: str,
        name: str,
        body: Mapping[str, Any],
        request_id: str | None,
        api_method: str,
    ) -> dict[str, Any]:
        path = f"projects/{project}/{scope}/disks/{name}"
        find = partial(self._disk, project, scope, name)
        relabel = partial(_relabel, body=body)
        return self._change(
            project, scope, api_method, path, request_id, "setLabels", find, relabel
        )

    def aggregated_instances(
        self, project: str, query: Mapping[str, str], unreachable: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Instances of every zone; those of the `unreachable` scopes are left out."""
        with self._lock:
            instances = (
                (f"zones/{i.zone}", i)
                for key, i in self.state.instances.items()
                if key[0] == project
            )
            zones = [f"zones/{z}" for z in self._zones()]
            return self._aggregated(
                project, "instances", zones, instances, self._instance_json, query, unreachable
            )

    def list_instances(self, project: str, zone: str, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.instances.list")
            self._check_zone(zone)
            instances = (i for key, i in self.state.instances.items() if key[:2] == (project, zone))
            return listing.scope_response(
                "compute#instanceList",
                f"projects/{project}/zones/{zone}/instances",
                f"zones/{zone}",
                map(self._instance_json, instances),
                query,
            )

    def get_instance(self, project: str, zone: str, name: str) -> dict[str, Any]:
        with self._lock:
            path = f"projects/{project}/zones/{zone}/instances/{name}"
            self._project(project, "compute.instances.get", path)
            self._check_zone(zone)
            instance = self.state.instances.get((project, zone, name))
            if instance is None:
                raise errors.NotFound.resource(path)
            return self._instance_json(instance)

    def list_snapshots(self, project: str, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.snapshots.list")
            required = required_labels(query.get("filter")).items()
            snapshots = (
                snap
                for key, snap in self.state.snapshots.items()
                if key[0] == project and all(snap.labels.get(k) == v for k, v in required)
            )
            return listing.scope_response(
                "compute#snapshotList",
                f"projects/{project}/global/snapshots",
                "global",
                map(self._snapshot_json, snapshots),
                query,
            )

    def get_snapshot(self, project: str, name: str) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.snapshots.get", snapshot_path(project, name))
            return self._snapshot_json(self._snapshot(project, name))

    def _disk(self, project: str, scope: str, name: str) -> Disk:
        disk = self.state.disks.get((project, scope, name))
        if disk is None:
            raise errors.NotFound.resource(f"projects/{project}/{scope}/disks/{name}")
        return disk

    def _snapshot(self, project: str, name: str) -> Snapshot:
        snapshot = self.state.snapshots.get((project, name))
        if snapshot is None:
            raise errors.NotFound.resource(snapshot_path(project, name))
        return snapshot

    # --- mutations: each answers an operation, and a repeated requestId the same one

    def _new_operation(
        self,
        project: str,
        scope: str,
        op_type: str,
        target: Disk | Snapshot,
        done_at: float,
        request_id: str | None,
        error: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        now = self.now()
        name = f"operation-{int(now * 1000)}-{secrets.token_hex(6)}-{secrets.token_hex(4)}"
        op = Operation(
            project,
            name,
            self.state.new_id(),
            scope,
            op_type,
            self_link(target.path),
            str(target.id),
            now,
            done_at,
            error,
        )
        self.state.operations[(project, scope, name)] = op
        if done_at > now:
            location = scope if scope == "global" or scope in self._regions() else region_of(scope)
            self.quotas.started(project, location, done_at)
        if request_id:
            self.state.request_ids[(project, request_id)] = (project, scope, name)
        return self._operation_json(op)

    def _replayed(self, project: str, request_id: str | None) -> dict[str, Any] | None:
        """The operation an earlier call with this requestId started, if any."""
        if not request_id:
            return None
        key = self.state.request_ids.get((project, request_id))
        op = self.state.operations.get(key) if key else None
        return self._operation_json(op) if op else None

    def _change(
        self,
        project: str,
        scope: str,
        api_method: str,
        path: str,
        request_id: str | None,
        op_type: str,
        find: Callable[[], _Target],
        change: Callable[[_Target], None],
    ) -> dict[str, Any]:
        """A change to one existing disk or snapshot (`scope` "global"), in the order the
        real API checks: permission, scope, a repeated requestId (its earlier operation,
        and nothing changed again), the resource, then the change; done at once."""
        with self._lock:
            self._project(project, api_method, path)
            if scope != "global":
                self._check_scope(scope)
            replay = self._replayed(project, request_id)
            if replay is not None:
                return replay
            target = find()
            change(target)
            return self._new_operation(project, scope, op_type, target, self.now(), request_id)

    def insert_snapshot(
        self,
        project: str,
        body: Mapping[str, Any],
        request_id: str | None,
        guest_flush: bool,
        fail: FaultRule | None,
        op_scope: str = "global",
    ) -> dict[str, Any]:
        """snapshots.insert; disks.createSnapshot too (`op_scope` its disk's zone or
        region, where its operation lives)."""
        with self._lock:
            name_field = body.get("name")
            self._project(
                project,
                SNAPSHOT_INSERT,
                snapshot_path(project, name_field) if isinstance(name_field, str) else None,
            )
            replay = self._replayed(project, request_id)
            if replay is not None:
                return replay
            name = validate_name(body.get("name"))
            labels = validate_labels(body.get("labels"))
            if not body.get("sourceDisk"):
                raise errors.Required.field("resource.sourceDisk")
            disk_project, scope, disk_name = split_resource_url(
                body["sourceDisk"], "resource.sourceDisk", "disks"
            )
            disk_project = disk_project or project
            disk_path = f"projects/{disk_project}/{scope}/disks/{disk_name}"
            owner = self.state.projects.get(disk_project)
            if owner is not None:
                check_permission(owner, SNAPSHOT_SOURCE_PERMISSION, disk_path)
            disk = self.state.disks.get((disk_project, scope, disk_name))
            if disk is None:
                raise errors.NotFound.resource(disk_path)
            if (project, name) in self.state.snapshots:
                raise errors.AlreadyExists.resource(snapshot_path(project, name))
            locations = list(body.get("storageLocations") or [])
            if len(locations) > 1:
                raise errors.Invalid.field(
                    "resource.storageLocations", locations, "At most one location is allowed."
                )
            snapshot_type = validate_snapshot_type(body.get("snapshotType"))
            chain_name = validate_chain_name(body.get("chainName"))
            key = validate_encryption_key(
                body.get("snapshotEncryptionKey"), "resource.snapshotEncryptionKey"
            )
            now = self.now()
            last = self.state.last_snapshot_at.get(disk_path)
            if last is not None and now - last < self.timings.rate_limit_seconds:
                raise errors.ResourceRateExceeded.resource(disk_path)
            over_quota = self.quotas.snapshot_quota_error(project, self.snapshot_counts[project])
            snapshot = Snapshot(
                project=project,
                name=name,
                id=self.state.new_id(),
                source_disk=self_link(disk_path),
                source_disk_id=str(disk.id),
                disk_size_gb=disk.size_gb,
                created=now,
                storage_locations=locations or [default_storage_location(region_of_scope(scope))],
                labels=labels,
                fails=fail is not None,
                guest_flush=guest_flush or bool(body.get("guestFlush")),
                description=str(body.get("description") or ""),
                snapshot_type=snapshot_type,
                chain_name=chain_name,
                kms_key_name=key.kms_key_name if key else None,
                raw_key_sha256=key.raw_key_sha256 if key else None,
            )
            snapshot.stored_bytes = storage.stored_at_creation(
                snapshot, self.state.snapshots.values()
            )
            if over_quota is not None:  # nothing is made; the operation says why
                return self._new_operation(
                    project,
                    op_scope,
                    "createSnapshot" if op_scope != "global" else "insert",
                    snapshot,
                    now,
                    request_id,
                    over_quota,
                )
            error = None
            if fail is not None:
                snapshot.failure_code = fail.reason or snapshot.failure_code
                snapshot.failure_message = fail.message or snapshot.failure_message
                error = [{"code": snapshot.failure_code, "message": snapshot.failure_message}]
            self.state.snapshots[(project, name)] = snapshot
            self.snapshot_counts[project] += 1
            self.state.last_snapshot_at[disk_path] = now
            done_at = now + self.timings.creating_seconds + self.timings.uploading_seconds
            return self._new_operation(
                project,
                op_scope,
                "createSnapshot" if op_scope != "global" else "insert",
                snapshot,
                done_at,
                request_id,
                error,
            )

    def create_disk_snapshot(
        self,
        project: str,
        scope: str,
        disk: str,
        body: Mapping[str, Any],
        request_id: str | None,
        guest_flush: bool,
        fail: FaultRule | None,
    ) -> dict[str, Any]:
        """disks.createSnapshot: a snapshot of the disk in the URL (in its project), whose
        operation is the disk's zone's or region's."""
        with self._lock:
            self._check_scope(scope)
            source = {**body, "sourceDisk": f"projects/{project}/{scope}/disks/{disk}"}
            return self.insert_snapshot(project, source, request_id, guest_flush, fail, scope)

    def delete_snapshot(self, project: str, name: str, request_id: str | None) -> dict[str, Any]:
        def delete(snapshot: Snapshot) -> None:
            if snapshot.status(self.now(), self.timings) in ("CREATING", "UPLOADING"):
                raise errors.ResourceNotReady.resource(snapshot.path)
            del self.state.snapshots[(project, name)]
            self.snapshot_counts[project] -= 1
            storage.after_delete(snapshot, self.state.snapshots.values())

        api_method, path = "compute.snapshots.delete", snapshot_path(project, name)
        find = partial(self._snapshot, project, name)
        return self._change(project, "global", api_method, path, request_id, "delete", find, delete)

    def set_snapshot_labels(
        self, project: str, name: str, body: Mapping[str, Any], request_id: str | None
    ) -> dict[str, Any]:
        api_method, path = "compute.snapshots.setLabels", snapshot_path(project, name)
        find = partial(self._snapshot, project, name)
        relabel = partial(_relabel, body=body)
        return self._change(
            project, "global", api_method, path, request_id, "setLabels", find, relabel
        )

    def insert_disk(
        self,
        project: str,
        scope: str,
        body: Mapping[str, Any],
        request_id: str | None,
        api_method: str,
    ) -> dict[str, Any]:
        with self._lock:
            name_field = body.get("name")
            self._project(
                project,
                api_method,
                f"projects/{project}/{scope}/disks/{name_field}"
                if isinstance(name_field, str)
                else None,
            )
            self._check_scope(scope)
            replay = self._replayed(project, request_id)
            if replay is not None:
                return replay
            name = validate_name(body.get("name"))
            labels = validate_labels(body.get("labels"))
            size = int_field(body.get("sizeGb"), "resource.sizeGb", 0)
            source_link, source_id = None, None
            if body.get("sourceSnapshot"):
                snap_project, _, snap_name = split_resource_url(
                    body["sourceSnapshot"], "resource.sourceSnapshot", "snapshots"
                )
                snap_project = snap_project or project
                owner = self.state.projects.get(snap_project)
                if owner is not None:
                    path = snapshot_path(snap_project, snap_name)
                    check_permission(owner, RESTORE_SOURCE_PERMISSION, path)
                snapshot = self._snapshot(snap_project, snap_name)
                if snapshot.status(self.now(), self.timings) != "READY":
                    raise errors.ResourceNotReady.resource(snapshot.path)
                if size and size < snapshot.disk_size_gb:
                    raise errors.Invalid.field(
                        "resource.sizeGb",
                        size,
                        f"Must be at least the snapshot's size, {snapshot.disk_size_gb} GB.",
                    )
                size = size or snapshot.disk_size_gb
                source_link, source_id = self_link(snapshot.path), str(snapshot.id)
            if (project, scope, name) in self.state.disks:
                raise errors.AlreadyExists.resource(f"projects/{project}/{scope}/disks/{name}")
            regional = scope.startswith("regions/")
            replica_zones = (
                [split_zone(z) for z in body.get("replicaZones") or []] if regional else []
            )
            if regional and len(replica_zones) != 2:
                raise errors.Invalid.field(
                    "resource.replicaZones", replica_zones, "A regional disk needs two zones."
                )
            now = self.now()
            disk = Disk(
                project=project,
                name=name,
                id=self.state.new_id(),
                scope=scope,
                size_gb=size or 10,
                created=now,
                ready_at=now + self.timings.disk_creating_seconds,
                labels=labels,
                type=str(body.get("type") or "pd-balanced").rsplit("/", 1)[-1],
                replica_zones=replica_zones,
                source_snapshot=source_link,
                source_snapshot_id=source_id,
            )
            self.state.disks[(project, scope, name)] = disk
            return self._new_operation(project, scope, "insert", disk, disk.ready_at, request_id)

    # --- operations

    def get_operation(self, project: str, scope: str, name: str, api_method: str) -> dict[str, Any]:
        with self._lock:
            path = f"projects/{project}/{scope}/operations/{name}"
            self._project(project, api_method, path)
            op = self.state.operations.get((project, scope, name))
            if op is None:
                raise errors.NotFound.resource(path)
            return self._operation_json(op)

    def wait_operation(
        self,
        project: str,
        scope: str,
        name: str,
        api_method: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Any]:
        """Answer when the operation is DONE, or RUNNING after `wait_seconds` (real time)."""
        deadline = time.monotonic() + self.timings.wait_seconds
        while True:
            body = self.get_operation(project, scope, name, api_method)
            if body["status"] == "DONE" or time.monotonic() >= deadline:
                return body
            sleep(0.02)

    # --- persistence

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return persistence.dump(self.state, self.clock, self.timings)

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace the state by `data`; faults and the request log start empty."""
        with self._lock:
            state, clock, timings = persistence.load(data)
            self._start_empty()
            self.state, self.clock, self.timings = state, clock, timings
            self._count_snapshots()

    def save_file(self, path: str) -> None:
        persistence.save_file(path, self.dump())

    def load_file(self, path: str) -> None:
        self.load(persistence.load_file(path))


def _relabel(resource: Disk | Snapshot, body: Mapping[str, Any]) -> None:
    """setLabels: the new labels, if the caller saw the current ones (labelFingerprint)."""
    labels = validate_labels(body.get("labels"), "labels")
    fingerprint = body.get("labelFingerprint")
    if not fingerprint:
        raise errors.Required.field("labelFingerprint")
    if fingerprint != label_fingerprint(resource.labels):
        raise errors.ConditionNotMet(
            "Labels fingerprint either invalid or resource labels have changed"
        )
    resource.labels = labels

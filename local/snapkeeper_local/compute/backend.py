"""In-memory state of the fake Compute Engine API, behind one lock.

Statuses are derived from the fake clock when read (a snapshot is CREATING, then
UPLOADING, then READY as the clock passes its deadlines), so nothing runs in the
background and tests drive time with `advance_clock`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import errors
from .filters import FilterError, Node, parse_filter

API_ROOT = "https://www.googleapis.com/compute/v1/"
# The real API writes timestamps in Pacific time ("...-07:00"); consumers must parse the
# offset, not assume UTC.
try:
    API_TIMEZONE: tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # no tz database: still a valid RFC 3339 offset
    API_TIMEZONE = UTC

MAX_RESULTS = 500
MAX_LABELS = 64
LOG_LIMIT = 20_000
NAME_PATTERN = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
_NAME = re.compile(NAME_PATTERN)
# Label keys and values: lowercase letters (international ones too), digits, _ and -.
_LABEL_KEY = re.compile(r"[^\W\dA-Z_][\w-]{0,62}")
_LABEL_VALUE = re.compile(r"[\w-]{0,63}")
_ZONE = re.compile(r"[a-z]+-[a-z]+[0-9]+-[a-z]")
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_RESOURCE_URL = re.compile(
    r"^(?:https?://[^/]+/compute/(?:v1|beta|alpha)/)?"
    r"(?:projects/(?P<project>[^/]+)/)?"
    r"(?P<scope>zones/[^/]+|regions/[^/]+|global)/(?P<collection>disks|snapshots)/(?P<name>[^/]+)$"
)

# A sample of real regions and their zones: the scopes aggregatedList always reports.
REGIONS: Mapping[str, tuple[str, ...]] = {
    "asia-northeast1": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west4": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "southamerica-east1": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-west1": ("a", "b", "c"),
}
KNOWN_ZONES = frozenset(f"{region}-{z}" for region, zs in REGIONS.items() for z in zs)
# Default storage location of a snapshot: the multi-region of the disk's region.
MULTI_REGIONS: Mapping[str, str] = {"us": "us", "northamerica": "us", "southamerica": "us"}
MULTI_REGIONS_BY_PREFIX: Mapping[str, str] = {"europe": "eu", "asia": "asia", "australia": "asia"}

# The IAM permission each API method needs on the project (for 403 messages).
PERMISSIONS: Mapping[str, str] = {
    "compute.disks.aggregatedList": "compute.disks.list",
    "compute.disks.list": "compute.disks.list",
    "compute.disks.get": "compute.disks.get",
    "compute.disks.insert": "compute.disks.create",
    "compute.regionDisks.list": "compute.disks.list",
    "compute.regionDisks.get": "compute.disks.get",
    "compute.regionDisks.insert": "compute.disks.create",
    "compute.instances.aggregatedList": "compute.instances.list",
    "compute.instances.list": "compute.instances.list",
    "compute.instances.get": "compute.instances.get",
    "compute.snapshots.insert": "compute.snapshots.create",
    "compute.snapshots.list": "compute.snapshots.list",
    "compute.snapshots.get": "compute.snapshots.get",
    "compute.snapshots.delete": "compute.snapshots.delete",
    "compute.snapshots.setLabels": "compute.snapshots.setLabels",
    "compute.globalOperations.get": "compute.globalOperations.get",
    "compute.globalOperations.wait": "compute.globalOperations.get",
    "compute.zoneOperations.get": "compute.zoneOperations.get",
    "compute.zoneOperations.wait": "compute.zoneOperations.get",
    "compute.regionOperations.get": "compute.regionOperations.get",
    "compute.regionOperations.wait": "compute.regionOperations.get",
}
# snapshots.insert also needs this one on the source disk (its project may differ).
SNAPSHOT_SOURCE_PERMISSION = "compute.disks.createSnapshot"
_PERMISSION = re.compile(r"[a-z][A-Za-z]*\.[A-Za-z]+\.[A-Za-z]+")

# Default reason and message of an injected error, by HTTP status.
FAULT_DEFAULTS: Mapping[int, tuple[str, str]] = {
    400: ("invalid", "Invalid request."),
    403: ("forbidden", "The caller does not have permission"),
    404: ("notFound", "The resource was not found"),
    409: ("alreadyExists", "The resource already exists"),
    412: ("conditionNotMet", "Precondition failed"),
    429: ("rateLimitExceeded", "Quota exceeded for quota metric 'Queries'."),
    500: ("backendError", "Internal error. Please try again."),
    503: ("backendError", "The service is currently unavailable."),
}
FAULT_KINDS = frozenset({"error", "latency", "fail_snapshot", "unreachable"})
SNAPSHOT_INSERT = "compute.snapshots.insert"
AGGREGATED_LISTS = frozenset({"compute.disks.aggregatedList", "compute.instances.aggregatedList"})
_FAULT_SCOPE = re.compile(r"zones/(?P<zone>[^/]+)|regions/(?P<region>[^/]+)")
_PATH_PROJECT = re.compile(r"/projects/(?P<project>[^/]+)")

# httpErrorStatusCode and httpErrorMessage of an operation that failed with an error code:
# quota and rate errors are 403s, INTERNAL_ERROR a 500, anything else the caller's 400.
OPERATION_HTTP_ERRORS: Mapping[str, tuple[int, str]] = {
    "QUOTA_EXCEEDED": (403, "FORBIDDEN"),
    "RESOURCE_OPERATION_RATE_EXCEEDED": (403, "FORBIDDEN"),
    "RATE_LIMIT_EXCEEDED": (403, "FORBIDDEN"),
    "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED": (403, "FORBIDDEN"),
    "INTERNAL_ERROR": (500, "INTERNAL_SERVER_ERROR"),
}
OPERATION_HTTP_ERROR_DEFAULT = (400, "BAD_REQUEST")


def rfc3339(epoch: float) -> str:
    """2026-01-02T03:04:05.000-08:00, the real API's timestamp form."""
    return datetime.fromtimestamp(epoch, API_TIMEZONE).isoformat(timespec="milliseconds")


def parse_time(text: str) -> float:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.Invalid.field("creationTimestamp", text, "Not an RFC 3339 time.") from exc
    if when.tzinfo is None:
        raise errors.Invalid.field("creationTimestamp", text, "The time needs an offset.")
    return when.timestamp()


def label_fingerprint(labels: Mapping[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(dict(sorted(labels.items()))).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def validate_name(name: object, field_name: str = "resource.name") -> str:
    if name is None or name == "":
        raise errors.Required.field(field_name)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise errors.Invalid.field(
            field_name, name, f"Must be a match of regex '(?:{NAME_PATTERN})'"
        )
    return name


def validate_labels(labels: object, field_name: str = "resource.labels") -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise errors.Invalid.field(field_name, labels, "Labels must be a map.")
    if len(labels) > MAX_LABELS:
        raise errors.Invalid.field(
            field_name, len(labels), f"Resources can have at most {MAX_LABELS} labels."
        )
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.fullmatch(key) or key != key.lower():
            raise errors.Invalid.field(
                f"{field_name}.key",
                key,
                "Label keys must start with a lowercase letter, contain only lowercase "
                "letters, digits, underscores and dashes, and be 1-63 characters long.",
            )
        if (
            not isinstance(value, str)
            or not _LABEL_VALUE.fullmatch(value)
            or value != value.lower()
        ):
            raise errors.Invalid.field(
                f"{field_name}.value",
                value,
                "Label values can contain only lowercase letters, digits, underscores and "
                "dashes, and be at most 63 characters long.",
            )
    return dict(labels)


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def default_storage_location(region: str) -> str:
    prefix = region.split("-", 1)[0]
    return MULTI_REGIONS.get(prefix) or MULTI_REGIONS_BY_PREFIX.get(prefix, region)


def _int_field(value: object, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError as exc:
        raise errors.Invalid.field(name, value, "Must be an integer.") from exc
    if number < 0:
        raise errors.Invalid.field(name, value, "Must be greater than or equal to 0.")
    return number


# --- state ------------------------------------------------------------------------------


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

    @property
    def path(self) -> str:
        return f"projects/{self.project}/global/snapshots/{self.name}"


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


@dataclass
class Timings:
    """Fake-clock delays, in seconds."""

    creating_seconds: float = 1.0
    uploading_seconds: float = 1.0
    disk_creating_seconds: float = 1.0
    rate_limit_seconds: float = 600.0
    # Real seconds an operations.wait call blocks before answering RUNNING.
    wait_seconds: float = 2.0


@dataclass
class FaultRule:
    id: str
    kind: str = "error"  # "error", "latency", "fail_snapshot" or "unreachable"
    http_method: str | None = None
    path_regex: str | None = None
    api_method: str | None = None
    body_regex: str | None = None
    status: int = 503
    reason: str | None = None
    message: str | None = None
    domain: str | None = None  # errors[0].domain of an "error"; None: "global"
    error_info: str | None = None  # reason of an ErrorInfo detail of an "error"
    scope: str | None = None  # "zones/z" or "regions/r" an "unreachable" rule leaves out
    count: int | None = None  # fire this many times, then stay quiet; None: always
    probability: float = 1.0
    seed: int = 0
    latency_seconds: float = 0.0
    fired: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def matches(self, method: str, path: str, api_method: str | None, body: str) -> bool:
        if self.kind == "fail_snapshot" and api_method != SNAPSHOT_INSERT:
            return False
        if self.kind == "unreachable" and api_method not in AGGREGATED_LISTS:
            return False
        if self.http_method and self.http_method.upper() != method.upper():
            return False
        if self.api_method and self.api_method != api_method:
            return False
        if self.path_regex and not re.search(self.path_regex, path):
            return False
        return not (self.body_regex and not re.search(self.body_regex, body))

    def fire(self) -> bool:
        """Whether the rule acts on this matching request (counts and dice)."""
        if self.count is not None and self.fired >= self.count:
            return False
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class FaultDecision:
    latency_seconds: float = 0.0
    error: errors.ComputeError | None = None
    fail_snapshot: FaultRule | None = None
    unreachable: tuple[str, ...] = ()  # scopes an aggregated list leaves out


@dataclass(frozen=True)
class LogEntry:
    time: str
    method: str
    path: str
    query: dict[str, str]
    api_method: str | None
    status: int


class FakeClock:
    """Wall-clock time plus an offset, or frozen at a moment."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.frozen_at: float | None = None

    def now(self) -> float:
        return self.frozen_at if self.frozen_at is not None else time.time() + self.offset

    def set(self, when: float, frozen: bool) -> None:
        self.offset = when - time.time()
        self.frozen_at = when if frozen else None

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        if self.frozen_at is not None:
            self.frozen_at += seconds


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_token: str | None


def _self_link(path: str) -> str:
    return API_ROOT + path


def _split_resource_url(
    text: object, field_name: str, collection: str
) -> tuple[str | None, str, str]:
    """(project or None, scope, name) of a full or partial resource URL."""
    match = _RESOURCE_URL.match(text) if isinstance(text, str) else None
    if match is None or match["collection"] != collection:
        raise errors.Invalid.field(field_name, text, f"Must be a URL to a {collection[:-1]}.")
    return match["project"], match["scope"], match["name"]


# --- the backend ------------------------------------------------------------------------


class Backend:
    """All state and behaviour; every public method takes the lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.clock = FakeClock()
        self.timings = Timings()
        self._reset_state()

    def _reset_state(self) -> None:
        self._ids = itertools.count(1_000_000_000_000_000_001)
        self.projects: dict[str, Project] = {}
        self.disks: dict[tuple[str, str, str], Disk] = {}
        self.instances: dict[tuple[str, str, str], Instance] = {}
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.operations: dict[tuple[str, str, str], Operation] = {}
        self.request_ids: dict[tuple[str, str], tuple[str, str, str]] = {}
        self.last_snapshot_at: dict[str, float] = {}
        self.extra_zones: set[str] = set()
        self.faults: list[FaultRule] = []
        self.log: deque[LogEntry] = deque(maxlen=LOG_LIMIT)
        self.counts: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self._reset_state()
            self.clock = FakeClock()
            self.timings = Timings()

    def now(self) -> float:
        return self.clock.now()

    def _new_id(self) -> int:
        return next(self._ids)

    # --- projects and scopes

    def _project(self, name: str, api_method: str, resource: str | None = None) -> Project:
        """The project of a call, which must grant the permission `api_method` needs;
        a 403 names `resource` (default: the project), as the real message does."""
        project = self.projects.get(name)
        if project is None:
            raise errors.NotFound.resource(f"projects/{name}")
        _check_permission(project, PERMISSIONS.get(api_method, api_method), resource)
        return project

    def _zones(self) -> set[str]:
        return set(KNOWN_ZONES) | self.extra_zones

    def _regions(self) -> set[str]:
        return {region_of(zone) for zone in self._zones()}

    def _check_zone(self, zone: str) -> None:
        if zone not in self._zones():
            raise errors.Invalid.field("zone", zone, "Unknown zone.")

    def _check_region(self, region: str) -> None:
        if region not in self._regions():
            raise errors.Invalid.field("region", region, "Unknown region.")

    def _add_zone(self, zone: str) -> None:
        if not _ZONE.fullmatch(zone):
            raise errors.Invalid.field("zone", zone, "Unknown zone.")
        self.extra_zones.add(zone)

    # --- seeding (admin API)

    def seed_project(
        self, name: str, accessible: bool = True, denied_permissions: Iterable[str] = ()
    ) -> dict[str, Any]:
        """A project (or new settings of one): `accessible=False` denies everything,
        `denied_permissions` only those IAM permissions (e.g. compute.snapshots.create)."""
        with self._lock:
            validate_name(name, "name")
            if isinstance(denied_permissions, str):
                raise errors.Invalid.field(
                    "deniedPermissions", denied_permissions, "Must be a list of permissions."
                )
            denied = list(denied_permissions)
            for permission in denied:
                if not isinstance(permission, str) or not _PERMISSION.fullmatch(permission):
                    raise errors.Invalid.field(
                        "deniedPermissions", permission, "Not an IAM permission name."
                    )
            project = self.projects.get(name) or Project(name, self._new_id())
            project.accessible = accessible
            project.denied_permissions = sorted(set(denied))
            self.projects[name] = project
            return asdict(project) | {"id": str(project.id)}

    def _ensure_project(self, name: str) -> None:
        if name not in self.projects:
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
                if not _REGION.fullmatch(str(region)):
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
                id=int(spec.get("id") or self._new_id()),
                scope=scope,
                size_gb=_int_field(spec.get("sizeGb"), "sizeGb", 10),
                created=now,
                ready_at=now,
                labels=validate_labels(spec.get("labels")),
                type=str(spec.get("type") or "pd-balanced"),
                replica_zones=replica_zones,
            )
            key = (project, scope, name)
            if key in self.disks:
                raise errors.AlreadyExists.resource(disk.path)
            self.disks[key] = disk
            return self._disk_json(disk)

    def seed_instance(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            project = str(spec.get("project") or "")
            self._ensure_project(project)
            name = validate_name(spec.get("name"))
            zone = str(spec.get("zone") or "")
            self._add_zone(zone)
            if (project, zone, name) in self.instances:
                raise errors.AlreadyExists.resource(
                    f"projects/{project}/zones/{zone}/instances/{name}"
                )
            instance = Instance(
                project=project,
                name=name,
                id=int(spec.get("id") or self._new_id()),
                zone=zone,
                created=self.now(),
                labels=validate_labels(spec.get("labels")),
            )
            for ref in spec.get("disks") or []:
                disk = self._disk_for_instance(project, zone, str(ref))
                disk.users.append(_self_link(instance.path))
                instance.disks.append(_self_link(disk.path))
            self.instances[(project, zone, name)] = instance
            return self._instance_json(instance)

    def _disk_for_instance(self, project: str, zone: str, ref: str) -> Disk:
        """A disk name (zonal, in the instance's zone; created when missing) or a path."""
        if "/" in ref:
            disk_project, scope, name = _split_resource_url(ref, "disks", "disks")
            key = (disk_project or project, scope, name)
            if key not in self.disks:
                raise errors.NotFound.resource(f"projects/{key[0]}/{scope}/disks/{name}")
            return self.disks[key]
        key = (project, f"zones/{zone}", ref)
        if key not in self.disks:
            self.seed_disk({"project": project, "zone": zone, "name": ref})
        return self.disks[key]

    def seed_snapshot(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            project = str(spec.get("project") or "")
            self._ensure_project(project)
            name = validate_name(spec.get("name"))
            if (project, name) in self.snapshots:
                raise errors.AlreadyExists.resource(f"projects/{project}/global/snapshots/{name}")
            status = str(spec.get("status") or "READY")
            if status not in ("CREATING", "UPLOADING", "READY", "FAILED", "DELETING"):
                raise errors.Invalid.field("status", status, "Unknown snapshot status.")
            source = spec.get("sourceDisk")
            source_link, source_id, size, region = "", "", 10, "us-central1"
            if source:
                disk_project, scope, disk_name = _split_resource_url(source, "sourceDisk", "disks")
                source_link = _self_link(
                    f"projects/{disk_project or project}/{scope}/disks/{disk_name}"
                )
                region = (
                    region_of(scope.split("/")[1])
                    if scope.startswith("zones/")
                    else scope.split("/")[1]
                )
                disk = self.disks.get((disk_project or project, scope, disk_name))
                if disk is not None:
                    source_id, size = str(disk.id), disk.size_gb
            created = spec.get("creationTimestamp")
            snapshot = Snapshot(
                project=project,
                name=name,
                id=int(spec.get("id") or self._new_id()),
                source_disk=source_link,
                source_disk_id=str(spec.get("sourceDiskId") or source_id),
                disk_size_gb=_int_field(spec.get("diskSizeGb"), "diskSizeGb", size),
                created=parse_time(str(created)) if created else self.now(),
                storage_locations=list(
                    spec.get("storageLocations") or [default_storage_location(region)]
                ),
                labels=validate_labels(spec.get("labels")),
                fixed_status=status,
            )
            self.snapshots[(project, name)] = snapshot
            return self._snapshot_json(snapshot)

    def all_snapshots(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._snapshot_json(s) for _, s in sorted(self.snapshots.items())]

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
            now = self.now()
            return {"now": rfc3339(now), "epoch": now, "frozen": self.clock.frozen_at is not None}

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            known = {f.name for f in fields(Timings)}
            unknown = set(changes) - known
            if unknown:
                raise errors.Invalid.field("config", sorted(unknown), f"Known: {sorted(known)}.")
            for key, value in changes.items():
                if not isinstance(value, int | float) or value < 0:
                    raise errors.Invalid.field(key, value, "Must be a number >= 0.")
                setattr(self.timings, key, float(value))
            return asdict(self.timings)

    def add_fault(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            known = {f.name for f in fields(FaultRule)} - {"id", "fired"}
            unknown = set(spec) - known
            if unknown:
                raise errors.Invalid.field("fault", sorted(unknown), f"Known: {sorted(known)}.")
            rule = FaultRule(id=secrets.token_hex(4), **spec)
            if rule.kind not in FAULT_KINDS:
                raise errors.Invalid.field("kind", rule.kind, f"One of {sorted(FAULT_KINDS)}.")
            if not 0.0 <= rule.probability <= 1.0:
                raise errors.Invalid.field("probability", rule.probability, "Between 0 and 1.")
            _check_fault_fields(rule)
            for pattern in (rule.path_regex, rule.body_regex):
                if pattern:
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        raise errors.Invalid.field("regex", pattern, str(exc)) from exc
            self.faults.append(rule)
            return rule.to_json()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def fault_rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self.faults]

    def decide_faults(
        self, method: str, path: str, api_method: str | None, body: str
    ) -> FaultDecision:
        """Latency to add, an error to answer, and whether an inserted snapshot fails."""
        with self._lock:
            latency, error, fail = 0.0, None, None
            unreachable: list[str] = []
            for rule in self.faults:
                if not rule.matches(method, path, api_method, body):
                    continue
                if rule.kind == "error" and error is not None:
                    continue  # the first error wins; later rules keep their count
                if not rule.fire():
                    continue
                latency += rule.latency_seconds
                if rule.kind == "error":
                    error = _fault_error(rule, path)
                elif rule.kind == "fail_snapshot" and fail is None:
                    fail = rule
                elif rule.kind == "unreachable" and rule.scope not in unreachable:
                    unreachable.append(str(rule.scope))
            return FaultDecision(latency, error, fail, tuple(unreachable))

    def record(
        self, method: str, path: str, query: Mapping[str, str], api_method: str | None, status: int
    ) -> None:
        with self._lock:
            self.log.append(
                LogEntry(rfc3339(self.now()), method, path, dict(query), api_method, status)
            )
            if api_method:
                self.counts[api_method] += 1

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(entry) for entry in self.log]

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def clear_requests(self) -> None:
        with self._lock:
            self.log.clear()
            self.counts.clear()

    # --- JSON views

    def _disk_status(self, disk: Disk) -> str:
        return "READY" if self.now() >= disk.ready_at else "CREATING"

    def _disk_json(self, disk: Disk) -> dict[str, Any]:
        kind, where = disk.scope.split("/")
        body: dict[str, Any] = {
            "kind": "compute#disk",
            "id": str(disk.id),
            "creationTimestamp": rfc3339(disk.created),
            "name": disk.name,
            "sizeGb": str(disk.size_gb),
            "status": self._disk_status(disk),
            "selfLink": _self_link(disk.path),
            "type": _self_link(f"projects/{disk.project}/{disk.scope}/diskTypes/{disk.type}"),
            "labelFingerprint": label_fingerprint(disk.labels),
            "physicalBlockSizeBytes": "4096",
        }
        if kind == "zones":
            body["zone"] = _self_link(f"projects/{disk.project}/zones/{where}")
        else:
            body["region"] = _self_link(f"projects/{disk.project}/regions/{where}")
            body["replicaZones"] = [
                _self_link(f"projects/{disk.project}/zones/{zone}") for zone in disk.replica_zones
            ]
        if disk.labels:  # the real API leaves out empty maps and lists
            body["labels"] = dict(disk.labels)
        if disk.users:
            body["users"] = list(disk.users)
        if disk.source_snapshot:
            body["sourceSnapshot"] = disk.source_snapshot
            body["sourceSnapshotId"] = disk.source_snapshot_id
        return body

    def _instance_json(self, instance: Instance) -> dict[str, Any]:
        attached = []
        for index, link in enumerate(instance.disks):
            disk = self._disk_by_link(link)
            attached.append(
                {
                    "kind": "compute#attachedDisk",
                    "type": "PERSISTENT",
                    "mode": "READ_WRITE",
                    "source": link,
                    "deviceName": link.rsplit("/", 1)[1],
                    "index": index,
                    "boot": index == 0,
                    "autoDelete": index == 0,
                    "interface": "SCSI",
                    "diskSizeGb": str(disk.size_gb if disk else 10),
                }
            )
        body: dict[str, Any] = {
            "kind": "compute#instance",
            "id": str(instance.id),
            "creationTimestamp": rfc3339(instance.created),
            "name": instance.name,
            "zone": _self_link(f"projects/{instance.project}/zones/{instance.zone}"),
            "machineType": _self_link(
                f"projects/{instance.project}/zones/{instance.zone}/machineTypes/{instance.machine_type}"
            ),
            "status": "RUNNING",
            "selfLink": _self_link(instance.path),
            "labelFingerprint": label_fingerprint(instance.labels),
            "disks": attached,
        }
        if instance.labels:
            body["labels"] = dict(instance.labels)
        return body

    def _disk_by_link(self, link: str) -> Disk | None:
        project, scope, name = _split_resource_url(link, "source", "disks")
        return self.disks.get((project or "", scope, name))

    def _snapshot_status(self, snapshot: Snapshot) -> str:
        if snapshot.fixed_status:
            return snapshot.fixed_status
        elapsed = self.now() - snapshot.created
        if elapsed < self.timings.creating_seconds:
            return "CREATING"
        if elapsed < self.timings.creating_seconds + self.timings.uploading_seconds:
            return "UPLOADING"
        return "FAILED" if snapshot.fails else "READY"

    def _snapshot_json(self, snapshot: Snapshot) -> dict[str, Any]:
        status = self._snapshot_status(snapshot)
        stored = snapshot.disk_size_gb * 2**30 if status == "READY" else 0
        body: dict[str, Any] = {
            "kind": "compute#snapshot",
            "id": str(snapshot.id),
            "creationTimestamp": rfc3339(snapshot.created),
            "name": snapshot.name,
            "status": status,
            "sourceDisk": snapshot.source_disk,
            "sourceDiskId": snapshot.source_disk_id,
            "diskSizeGb": str(snapshot.disk_size_gb),
            "storageBytes": str(stored),
            "storageBytesStatus": "UP_TO_DATE" if status == "READY" else "UPDATING",
            "storageLocations": list(snapshot.storage_locations),
            "labelFingerprint": label_fingerprint(snapshot.labels),
            "selfLink": _self_link(snapshot.path),
            "autoCreated": False,
            "snapshotType": "STANDARD",
        }
        if snapshot.labels:
            body["labels"] = dict(snapshot.labels)
        if snapshot.guest_flush:
            body["guestFlush"] = True
        if snapshot.description:
            body["description"] = snapshot.description
        return body

    def _operation_json(self, op: Operation) -> dict[str, Any]:
        done = self.now() >= op.done_at
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(op.id),
            "name": op.name,
            "operationType": op.operation_type,
            "targetLink": op.target_link,
            "targetId": op.target_id,
            "status": "DONE" if done else "RUNNING",
            "user": "anonymous",
            "progress": 100 if done else 0,
            "insertTime": rfc3339(op.inserted),
            "startTime": rfc3339(op.inserted),
            "selfLink": _self_link(op.path),
        }
        if op.scope != "global":
            kind = op.scope.split("/")[0]
            body["zone" if kind == "zones" else "region"] = _self_link(
                f"projects/{op.project}/{op.scope}"
            )
        if done:
            body["endTime"] = rfc3339(op.done_at)
            if op.error:
                body["error"] = {"errors": [dict(e) for e in op.error]}
                status, message = OPERATION_HTTP_ERRORS.get(
                    op.error[0].get("code", ""), OPERATION_HTTP_ERROR_DEFAULT
                )
                body["httpErrorStatusCode"] = status
                body["httpErrorMessage"] = message
        return body

    # --- listing

    def _page(
        self,
        items: Iterable[tuple[str, dict[str, Any]]],
        query: Mapping[str, str],
    ) -> Page:
        """Filter, order and cut (scope, item) pairs into one page."""
        try:
            predicate: Node = parse_filter(query.get("filter"))
        except FilterError as exc:
            raise errors.Invalid.field(
                "filter", query.get("filter"), f"Invalid list filter expression: {exc}."
            ) from exc
        max_results = _int_field(query.get("maxResults"), "maxResults", MAX_RESULTS) or MAX_RESULTS
        if max_results > MAX_RESULTS:
            # The documented range is 0..500; the real API refuses larger pages.
            raise errors.Invalid.field(
                "maxResults", max_results, f"Must be less than or equal to {MAX_RESULTS}"
            )
        matched = [(scope, item) for scope, item in items if predicate.matches(item)]
        matched = _order(matched, query.get("orderBy"))
        fingerprint = hashlib.sha256(
            f"{query.get('filter')}|{query.get('orderBy')}".encode()
        ).hexdigest()[:12]
        start = _decode_token(query.get("pageToken"), fingerprint)
        end = start + max_results
        token = _encode_token(end, fingerprint) if end < len(matched) else None
        return Page([{"scope": s, "item": i} for s, i in matched[start:end]], token)

    def _list_response(self, kind: str, path: str, page: Page) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind, "id": path, "selfLink": _self_link(path)}
        if page.items:
            body["items"] = [entry["item"] for entry in page.items]
        if page.next_token:
            body["nextPageToken"] = page.next_token
        return body

    def _aggregated_response(
        self,
        kind: str,
        path: str,
        collection: str,
        scopes: Iterable[str],
        page: Page,
        unreachable: Sequence[str] = (),
    ) -> dict[str, Any]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for entry in page.items:
            grouped.setdefault(entry["scope"], []).append(entry["item"])
        items: dict[str, Any] = {}
        for scope in sorted(set(scopes) | set(grouped) | set(unreachable)):
            if scope in unreachable:
                # A partial result: still 200, the scope says why it has nothing.
                items[scope] = {
                    "warning": {
                        "code": "UNREACHABLE",
                        "message": f"Scope '{scope}' is unreachable; its resources are "
                        "missing from this response.",
                        "data": [{"key": "scope", "value": scope}],
                    }
                }
            elif scope in grouped:
                items[scope] = {collection: grouped[scope]}
            else:
                items[scope] = {
                    "warning": {
                        "code": "NO_RESULTS_ON_PAGE",
                        "message": f"There are no results for scope '{scope}' on this page.",
                        "data": [{"key": "scope", "value": scope}],
                    }
                }
        body: dict[str, Any] = {
            "kind": kind,
            "id": path,
            "items": items,
            "selfLink": _self_link(path),
        }
        if page.next_token:
            body["nextPageToken"] = page.next_token
        if unreachable:
            body["unreachables"] = list(unreachable)
        return body

    def _all_scopes(self) -> list[str]:
        return [f"zones/{z}" for z in self._zones()] + [f"regions/{r}" for r in self._regions()]

    def aggregated_disks(
        self, project: str, query: Mapping[str, str], unreachable: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Disks of every scope; those of the `unreachable` scopes are left out."""
        with self._lock:
            self._project(project, "compute.disks.aggregatedList")
            items = [
                (disk.scope, self._disk_json(disk))
                for key, disk in sorted(self.disks.items())
                if key[0] == project and disk.scope not in unreachable
            ]
            page = self._page(items, query)
            return self._aggregated_response(
                "compute#diskAggregatedList",
                f"projects/{project}/aggregated/disks",
                "disks",
                self._all_scopes(),
                page,
                unreachable,
            )

    def list_disks(
        self, project: str, scope: str, query: Mapping[str, str], api_method: str
    ) -> dict[str, Any]:
        with self._lock:
            self._project(project, api_method)
            self._check_scope(scope)
            items = [
                (scope, self._disk_json(disk))
                for key, disk in sorted(self.disks.items())
                if key[:2] == (project, scope)
            ]
            return self._list_response(
                "compute#diskList", f"projects/{project}/{scope}/disks", self._page(items, query)
            )

    def get_disk(self, project: str, scope: str, name: str, api_method: str) -> dict[str, Any]:
        with self._lock:
            path = f"projects/{project}/{scope}/disks/{name}"
            self._project(project, api_method, path)
            self._check_scope(scope)
            disk = self.disks.get((project, scope, name))
            if disk is None:
                raise errors.NotFound.resource(path)
            return self._disk_json(disk)

    def _check_scope(self, scope: str) -> None:
        kind, where = scope.split("/")
        if kind == "zones":
            self._check_zone(where)
        else:
            self._check_region(where)

    def aggregated_instances(
        self, project: str, query: Mapping[str, str], unreachable: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Instances of every zone; those of the `unreachable` scopes are left out."""
        with self._lock:
            self._project(project, "compute.instances.aggregatedList")
            items = [
                (f"zones/{inst.zone}", self._instance_json(inst))
                for key, inst in sorted(self.instances.items())
                if key[0] == project and f"zones/{inst.zone}" not in unreachable
            ]
            return self._aggregated_response(
                "compute#instanceAggregatedList",
                f"projects/{project}/aggregated/instances",
                "instances",
                [f"zones/{z}" for z in self._zones()],
                self._page(items, query),
                unreachable,
            )

    def list_instances(self, project: str, zone: str, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.instances.list")
            self._check_zone(zone)
            items = [
                (f"zones/{zone}", self._instance_json(inst))
                for key, inst in sorted(self.instances.items())
                if key[:2] == (project, zone)
            ]
            return self._list_response(
                "compute#instanceList",
                f"projects/{project}/zones/{zone}/instances",
                self._page(items, query),
            )

    def get_instance(self, project: str, zone: str, name: str) -> dict[str, Any]:
        with self._lock:
            path = f"projects/{project}/zones/{zone}/instances/{name}"
            self._project(project, "compute.instances.get", path)
            self._check_zone(zone)
            instance = self.instances.get((project, zone, name))
            if instance is None:
                raise errors.NotFound.resource(path)
            return self._instance_json(instance)

    def list_snapshots(self, project: str, query: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.snapshots.list")
            items = [
                ("global", self._snapshot_json(snap))
                for key, snap in sorted(self.snapshots.items())
                if key[0] == project
            ]
            return self._list_response(
                "compute#snapshotList",
                f"projects/{project}/global/snapshots",
                self._page(items, query),
            )

    def get_snapshot(self, project: str, name: str) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.snapshots.get", _snapshot_path(project, name))
            return self._snapshot_json(self._snapshot(project, name))

    def _snapshot(self, project: str, name: str) -> Snapshot:
        snapshot = self.snapshots.get((project, name))
        if snapshot is None:
            raise errors.NotFound.resource(f"projects/{project}/global/snapshots/{name}")
        return snapshot

    # --- mutations

    def _new_operation(
        self,
        project: str,
        scope: str,
        op_type: str,
        target_link: str,
        target_id: int,
        done_at: float,
        request_id: str | None,
        error: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        now = self.now()
        name = f"operation-{int(now * 1000)}-{secrets.token_hex(6)}-{secrets.token_hex(4)}"
        op = Operation(
            project,
            name,
            self._new_id(),
            scope,
            op_type,
            target_link,
            str(target_id),
            now,
            done_at,
            error,
        )
        self.operations[(project, scope, name)] = op
        if request_id:
            self.request_ids[(project, request_id)] = (project, scope, name)
        return self._operation_json(op)

    def _replayed(self, project: str, request_id: str | None) -> dict[str, Any] | None:
        """The operation an earlier call with this requestId started, if any."""
        if not request_id:
            return None
        key = self.request_ids.get((project, request_id))
        op = self.operations.get(key) if key else None
        return self._operation_json(op) if op else None

    def insert_snapshot(
        self,
        project: str,
        body: Mapping[str, Any],
        request_id: str | None,
        guest_flush: bool,
        fail: FaultRule | None,
    ) -> dict[str, Any]:
        with self._lock:
            name_field = body.get("name")
            self._project(
                project,
                SNAPSHOT_INSERT,
                _snapshot_path(project, name_field) if isinstance(name_field, str) else None,
            )
            replay = self._replayed(project, request_id)
            if replay is not None:
                return replay
            name = validate_name(body.get("name"))
            labels = validate_labels(body.get("labels"))
            if not body.get("sourceDisk"):
                raise errors.Required.field("resource.sourceDisk")
            disk_project, scope, disk_name = _split_resource_url(
                body["sourceDisk"], "resource.sourceDisk", "disks"
            )
            disk_project = disk_project or project
            disk_path = f"projects/{disk_project}/{scope}/disks/{disk_name}"
            owner = self.projects.get(disk_project)
            if owner is not None:
                _check_permission(owner, SNAPSHOT_SOURCE_PERMISSION, disk_path)
            disk = self.disks.get((disk_project, scope, disk_name))
            if disk is None:
                raise errors.NotFound.resource(disk_path)
            if (project, name) in self.snapshots:
                raise errors.AlreadyExists.resource(f"projects/{project}/global/snapshots/{name}")
            locations = list(body.get("storageLocations") or [])
            if len(locations) > 1:
                raise errors.Invalid.field(
                    "resource.storageLocations", locations, "At most one location is allowed."
                )
            now = self.now()
            last = self.last_snapshot_at.get(disk_path)
            if last is not None and now - last < self.timings.rate_limit_seconds:
                raise errors.ResourceRateExceeded.resource(disk_path)
            region = scope.split("/")[1]
            if scope.startswith("zones/"):
                region = region_of(region)
            snapshot = Snapshot(
                project=project,
                name=name,
                id=self._new_id(),
                source_disk=_self_link(disk_path),
                source_disk_id=str(disk.id),
                disk_size_gb=disk.size_gb,
                created=now,
                storage_locations=locations or [default_storage_location(region)],
                labels=labels,
                fails=fail is not None,
                guest_flush=guest_flush or bool(body.get("guestFlush")),
                description=str(body.get("description") or ""),
            )
            error = None
            if fail is not None:
                snapshot.failure_code = fail.reason or snapshot.failure_code
                snapshot.failure_message = fail.message or snapshot.failure_message
                error = [{"code": snapshot.failure_code, "message": snapshot.failure_message}]
            self.snapshots[(project, name)] = snapshot
            self.last_snapshot_at[disk_path] = now
            done_at = now + self.timings.creating_seconds + self.timings.uploading_seconds
            return self._new_operation(
                project,
                "global",
                "insert",
                _self_link(snapshot.path),
                snapshot.id,
                done_at,
                request_id,
                error,
            )

    def delete_snapshot(self, project: str, name: str, request_id: str | None) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.snapshots.delete", _snapshot_path(project, name))
            replay = self._replayed(project, request_id)
            if replay is not None:
                return replay
            snapshot = self._snapshot(project, name)
            if self._snapshot_status(snapshot) in ("CREATING", "UPLOADING"):
                raise errors.ComputeError(
                    f"The resource '{snapshot.path}' is not ready",
                    code=400,
                    reason="resourceNotReady",
                )
            del self.snapshots[(project, name)]
            return self._new_operation(
                project,
                "global",
                "delete",
                _self_link(snapshot.path),
                snapshot.id,
                self.now(),
                request_id,
            )

    def set_snapshot_labels(
        self, project: str, name: str, body: Mapping[str, Any], request_id: str | None
    ) -> dict[str, Any]:
        with self._lock:
            self._project(project, "compute.snapshots.setLabels", _snapshot_path(project, name))
            replay = self._replayed(project, request_id)
            if replay is not None:
                return replay
            snapshot = self._snapshot(project, name)
            labels = validate_labels(body.get("labels"), "labels")
            fingerprint = body.get("labelFingerprint")
            if not fingerprint:
                raise errors.Required.field("labelFingerprint")
            if fingerprint != label_fingerprint(snapshot.labels):
                raise errors.ConditionNotMet(
                    "Labels fingerprint either invalid or resource labels have changed"
                )
            snapshot.labels = labels
            return self._new_operation(
                project,
                "global",
                "setLabels",
                _self_link(snapshot.path),
                snapshot.id,
                self.now(),
                request_id,
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
            size = _int_field(body.get("sizeGb"), "resource.sizeGb", 0)
            source_link, source_id = None, None
            if body.get("sourceSnapshot"):
                snap_project, _, snap_name = _split_resource_url(
                    body["sourceSnapshot"], "resource.sourceSnapshot", "snapshots"
                )
                snapshot = self._snapshot(snap_project or project, snap_name)
                if self._snapshot_status(snapshot) != "READY":
                    raise errors.ComputeError(
                        f"The resource '{snapshot.path}' is not ready",
                        code=400,
                        reason="resourceNotReady",
                    )
                if size and size < snapshot.disk_size_gb:
                    raise errors.Invalid.field(
                        "resource.sizeGb",
                        size,
                        f"Must be at least the snapshot's size, {snapshot.disk_size_gb} GB.",
                    )
                size = size or snapshot.disk_size_gb
                source_link, source_id = _self_link(snapshot.path), str(snapshot.id)
            if (project, scope, name) in self.disks:
                raise errors.AlreadyExists.resource(f"projects/{project}/{scope}/disks/{name}")
            kind = scope.split("/")[0]
            replica_zones = (
                [_split_zone(z) for z in body.get("replicaZones") or []]
                if kind == "regions"
                else []
            )
            if kind == "regions" and len(replica_zones) != 2:
                raise errors.Invalid.field(
                    "resource.replicaZones", replica_zones, "A regional disk needs two zones."
                )
            disk_type = str(body.get("type") or "pd-balanced").rsplit("/", 1)[-1]
            now = self.now()
            disk = Disk(
                project=project,
                name=name,
                id=self._new_id(),
                scope=scope,
                size_gb=size or 10,
                created=now,
                ready_at=now + self.timings.disk_creating_seconds,
                labels=labels,
                type=disk_type,
                replica_zones=replica_zones,
                source_snapshot=source_link,
                source_snapshot_id=source_id,
            )
            self.disks[(project, scope, name)] = disk
            return self._new_operation(
                project, scope, "insert", _self_link(disk.path), disk.id, disk.ready_at, request_id
            )

    # --- operations

    def get_operation(self, project: str, scope: str, name: str, api_method: str) -> dict[str, Any]:
        with self._lock:
            path = f"projects/{project}/{scope}/operations/{name}"
            self._project(project, api_method, path)
            op = self.operations.get((project, scope, name))
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
            return {
                "version": 1,
                "clock": {"offset": self.clock.offset, "frozen_at": self.clock.frozen_at},
                "timings": asdict(self.timings),
                "projects": [asdict(p) for p in self.projects.values()],
                "disks": [asdict(d) for d in self.disks.values()],
                "instances": [asdict(i) for i in self.instances.values()],
                "snapshots": [asdict(s) for s in self.snapshots.values()],
                "operations": [asdict(o) for o in self.operations.values()],
                "request_ids": [[p, r, list(k)] for (p, r), k in self.request_ids.items()],
                "last_snapshot_at": self.last_snapshot_at,
                "extra_zones": sorted(self.extra_zones),
            }

    def load(self, state: Mapping[str, Any]) -> None:
        with self._lock:
            if state.get("version") != 1:
                raise ValueError(f"unknown state version {state.get('version')!r}")
            self._reset_state()
            self.clock = FakeClock()
            self.clock.offset = float(state["clock"]["offset"])
            self.clock.frozen_at = state["clock"]["frozen_at"]
            self.timings = Timings(**state["timings"])
            self.projects = {p["name"]: Project(**p) for p in state["projects"]}
            self.disks = {(d["project"], d["scope"], d["name"]): Disk(**d) for d in state["disks"]}
            self.instances = {
                (i["project"], i["zone"], i["name"]): Instance(**i) for i in state["instances"]
            }
            self.snapshots = {(s["project"], s["name"]): Snapshot(**s) for s in state["snapshots"]}
            self.operations = {
                (o["project"], o["scope"], o["name"]): Operation(**o) for o in state["operations"]
            }
            self.request_ids = {(p, r): (k[0], k[1], k[2]) for p, r, k in state["request_ids"]}
            self.last_snapshot_at = dict(state["last_snapshot_at"])
            self.extra_zones = set(state["extra_zones"])
            everything: list[Any] = [
                *self.projects.values(),
                *self.disks.values(),
                *self.instances.values(),
                *self.snapshots.values(),
                *self.operations.values(),
            ]
            self._ids = itertools.count(max((x.id for x in everything), default=10**18) + 1)

    def save_file(self, path: str) -> None:
        state = self.dump()
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)

    def load_file(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            self.load(json.load(handle))


def _snapshot_path(project: str, name: str) -> str:
    return f"projects/{project}/global/snapshots/{name}"


def _check_permission(project: Project, permission: str, resource: str | None) -> None:
    """The real 403 when the project does not grant `permission` to the caller."""
    if not project.accessible or permission in project.denied_permissions:
        raise errors.Forbidden.permission(permission, resource or f"projects/{project.name}")


def _check_fault_fields(rule: FaultRule) -> None:
    """Fields that belong to one kind are refused on the others: a rule that could not act
    as written would let a test pass for the wrong reason."""
    if rule.kind == "unreachable":
        match = _FAULT_SCOPE.fullmatch(rule.scope or "")
        if match is None or not (
            _ZONE.fullmatch(match["zone"] or "") or _REGION.fullmatch(match["region"] or "")
        ):
            raise errors.Invalid.field(
                "scope", rule.scope, "Must be zones/<zone> or regions/<region>."
            )
    elif rule.scope is not None:
        raise errors.Invalid.field("scope", rule.scope, "Only for kind 'unreachable'.")
    if rule.kind != "error":
        for name in ("domain", "error_info"):
            if getattr(rule, name) is not None:
                raise errors.Invalid.field(name, getattr(rule, name), "Only for kind 'error'.")


def _fault_error(rule: FaultRule, path: str) -> errors.ComputeError:
    """The error an "error" rule answers, with defaults by HTTP status."""
    reason, message = FAULT_DEFAULTS.get(rule.status, ("backendError", "Error"))
    project = _PATH_PROJECT.search(path)
    return errors.ComputeError(
        rule.message or message,
        code=rule.status,
        reason=rule.reason or reason,
        domain=rule.domain,
        error_info=rule.error_info,
        metadata={"consumer": f"projects/{project['project']}"} if project else None,
    )


def _split_zone(text: object) -> str:
    """A zone name from a zone URL or a bare name."""
    zone = str(text).rstrip("/").rsplit("/", 1)[-1]
    if not _ZONE.fullmatch(zone):
        raise errors.Invalid.field("resource.replicaZones", text, "Unknown zone.")
    return zone


def _order(
    entries: list[tuple[str, dict[str, Any]]], order_by: str | None
) -> list[tuple[str, dict[str, Any]]]:
    """`orderBy=name` or `orderBy=creationTimestamp desc`; default: by scope, then name."""
    if not order_by:
        return entries
    parts = order_by.split()
    if (
        len(parts) > 2
        or (len(parts) == 2 and parts[1] not in ("asc", "desc"))
        or parts[0] not in ("name", "creationTimestamp")
    ):
        raise errors.Invalid.field(
            "orderBy", order_by, "Supported: name, creationTimestamp [desc]."
        )

    def key(entry: tuple[str, dict[str, Any]]) -> Any:
        value = entry[1].get(parts[0], "")
        return parse_time(value) if parts[0] == "creationTimestamp" else value

    return sorted(entries, key=key, reverse=len(parts) == 2 and parts[1] == "desc")


def _encode_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([offset, fingerprint]).encode()).decode()


def _decode_token(token: str | None, fingerprint: str) -> int:
    if not token:
        return 0
    try:
        offset, expected = json.loads(base64.urlsafe_b64decode(token.encode()))
        if expected != fingerprint or not isinstance(offset, int) or offset < 0:
            raise ValueError(token)
    except (ValueError, TypeError) as exc:
        raise errors.Invalid.field("pageToken", token, "Invalid page token.") from exc
    return offset

"""The Compute Engine gateway: the few calls snapkeeper makes, as typed records, with
bounded retries and timeouts, and one classification of errors (errors.Outcome)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import requests
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import compute_v1

from snapkeeper import clients
from snapkeeper.errors import ComputeError, Outcome
from snapkeeper.labels import DISK_ID, MANAGED_BY, MANAGED_BY_VALUE, SCHEDULE, SLOT

PAGE_SIZE = 500
LIST_TIMEOUT = 30.0  # per HTTP request
WRITE_TIMEOUT = 30.0
# Lists are safe to retry, briefly: Pub/Sub redelivery does the long waits. (The client's
# default would retry 503s for 600 s and never retry 429.)
LIST_RETRY = gretry.Retry(
    predicate=gretry.if_exception_type(
        gexc.ServiceUnavailable,
        gexc.InternalServerError,
        gexc.BadGateway,
        gexc.GatewayTimeout,
        gexc.TooManyRequests,
        gexc.DeadlineExceeded,
        requests.exceptions.ConnectionError,
    ),
    initial=0.5,
    maximum=4.0,
    multiplier=2.0,
    timeout=20.0,
)
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# 403s that are rate limits, not permission problems: retry them.
TRANSIENT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "RESOURCE_OPERATION_RATE_EXCEEDED"}
)
_SCOPE = re.compile(r"^(zones|regions)/([-a-z0-9]+)$")
_REQUEST_PREFIX = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")
_DISK_PATH = re.compile(r"projects/([^/]+)/(zones|regions)/([^/]+)/disks/([^/]+)$")


@dataclass(frozen=True)
class Disk:
    project: str
    location: str
    regional: bool
    name: str
    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    size_gb: int = 0

    @property
    def path(self) -> str:
        scope = "regions" if self.regional else "zones"
        return f"projects/{self.project}/{scope}/{self.location}/disks/{self.name}"


@dataclass(frozen=True)
class Instance:
    project: str
    zone: str
    name: str
    labels: Mapping[str, str]
    disk_paths: tuple[str, ...]  # projects/P/zones/Z/disks/D of every attached disk


@dataclass(frozen=True)
class Snapshot:
    project: str
    name: str
    status: str
    labels: Mapping[str, str]
    created: datetime | None
    source_disk: str
    source_disk_id: str
    storage_bytes: int = 0

    @property
    def slot(self) -> str:
        return self.labels.get(SLOT, "")


def disk_path(url: str) -> str:
    """projects/P/zones/Z/disks/D from a full or partial disk URL."""
    match = _DISK_PATH.search(url)
    if not match:
        return url
    project, scope, location, name = match.groups()
    return f"projects/{project}/{scope}/{location}/disks/{name}"


def error_reason(exc: BaseException) -> str | None:
    if isinstance(exc, gexc.GoogleAPICallError):
        if exc.reason:
            return exc.reason
        for detail in exc.errors or []:
            if isinstance(detail, Mapping) and detail.get("reason"):
                return str(detail["reason"])
    return None


def classify(exc: BaseException) -> Outcome:
    """DESIGN.md's error table: what an exception from a Compute call means."""
    if isinstance(exc, gexc.Conflict):
        return Outcome.DONE
    if isinstance(exc, gexc.NotFound):
        return Outcome.GONE
    if isinstance(exc, gexc.GoogleAPICallError):
        if exc.code in TRANSIENT_STATUS or exc.code == 412:
            return Outcome.TRANSIENT
        if isinstance(exc, gexc.Forbidden) and error_reason(exc) in TRANSIENT_REASONS:
            return Outcome.TRANSIENT
        return Outcome.PERMANENT
    # Timeouts, exhausted retries, dropped connections: worth another delivery.
    return Outcome.TRANSIENT


def as_compute_error(exc: BaseException, action: str) -> ComputeError:
    status = exc.code if isinstance(exc, gexc.GoogleAPICallError) else None
    reason = error_reason(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = _REQUEST_PREFIX.sub("", message)  # the URL adds noise, not information
    detail = f"{action}: {status or type(exc).__name__}"
    if reason:
        detail += f" {reason}"
    return ComputeError(f"{detail}: {message}", outcome=classify(exc), status=status, reason=reason)


def _created(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


class ComputeGateway:
    """Every Compute Engine call snapkeeper makes. Raises ComputeError only."""

    def __init__(self, emulator_host: str | None = None) -> None:
        self._clients = clients.compute(emulator_host)

    # -- discovery -------------------------------------------------------------------------

    def disks(self, project: str, label_filter: str | None = None) -> Iterator[Disk]:
        """All disks (zonal and regional) of a project, optionally label-filtered."""
        request = _aggregated_request(project, label_filter)
        try:
            pager = self._clients.disks.aggregated_list(
                request=request, retry=LIST_RETRY, timeout=LIST_TIMEOUT
            )
            for scope, scoped in pager:
                match = _SCOPE.match(scope)
                if not match:
                    continue
                for disk in scoped.disks:
                    yield Disk(
                        project=project,
                        location=match.group(2),
                        regional=match.group(1) == "regions",
                        name=disk.name,
                        id=str(disk.id),
                        labels=dict(disk.labels),
                        size_gb=int(disk.size_gb or 0),
                    )
        except gexc.GoogleAPICallError as exc:
            raise as_compute_error(exc, f"list disks of {project}") from exc
        except gexc.RetryError as exc:
            raise as_compute_error(exc, f"list disks of {project}") from exc

    def instances(self, project: str, label_filter: str | None = None) -> Iterator[Instance]:
        request = _aggregated_request(project, label_filter)
        try:
            pager = self._clients.instances.aggregated_list(
                request=request, retry=LIST_RETRY, timeout=LIST_TIMEOUT
            )
            for scope, scoped in pager:
                match = _SCOPE.match(scope)
                if not match:
                    continue
                for instance in scoped.instances:
                    yield Instance(
                        project=project,
                        zone=match.group(2),
                        name=instance.name,
                        labels=dict(instance.labels),
                        disk_paths=tuple(disk_path(d.source) for d in instance.disks if d.source),
                    )
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise as_compute_error(exc, f"list instances of {project}") from exc

    # -- snapshots -------------------------------------------------------------------------

    def snapshots(self, project: str, label_filter: str | None = None) -> list[Snapshot]:
        request = {"project": project, "max_results": PAGE_SIZE}
        if label_filter:
            request["filter"] = label_filter
        try:
            pager = self._clients.snapshots.list(
                request=request, retry=LIST_RETRY, timeout=LIST_TIMEOUT
            )
            return [_snapshot(project, s) for s in pager]
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise as_compute_error(exc, f"list snapshots of {project}") from exc

    def managed_snapshots(self, project: str, disk_id: str, schedule: str) -> list[Snapshot]:
        """This disk's snapshots of this schedule that snapkeeper made: the only ones it
        may ever prune (matched on labels, never on names)."""
        return self.snapshots(project, managed_filter(disk_id=disk_id, schedule=schedule))

    def insert_snapshot(
        self,
        project: str,
        *,
        name: str,
        source_disk: str,
        labels: Mapping[str, str],
        request_id: str,
        storage_location: str | None = None,
        guest_flush: bool = False,
        description: str = "",
    ) -> None:
        """Start a snapshot; no wait (Compute finishes it; the next tick sees its status)."""
        resource = compute_v1.Snapshot(
            name=name,
            source_disk=source_disk,
            labels=dict(labels),
            description=description,
        )
        if storage_location:
            resource.storage_locations = [storage_location]
        if guest_flush:
            resource.guest_flush = True
        try:
            self._clients.snapshots.insert_unary(
                request={
                    "project": project,
                    "snapshot_resource": resource,
                    "request_id": request_id,
                },
                retry=None,  # Pub/Sub redelivers; requestId makes that safe
                timeout=WRITE_TIMEOUT,
            )
        except (gexc.GoogleAPICallError, gexc.RetryError, requests.RequestException) as exc:
            raise as_compute_error(exc, f"create snapshot {name}") from exc

    def delete_snapshot(self, project: str, name: str) -> bool:
        """Delete; False when it was already gone (a duplicate delivery got there first)."""
        try:
            self._clients.snapshots.delete_unary(
                project=project, snapshot=name, retry=None, timeout=WRITE_TIMEOUT
            )
            return True
        except gexc.NotFound:
            return False
        except (gexc.GoogleAPICallError, gexc.RetryError, requests.RequestException) as exc:
            raise as_compute_error(exc, f"delete snapshot {name}") from exc

    # -- restore ---------------------------------------------------------------------------

    def disk_exists(self, project: str, location: str, regional: bool, name: str) -> bool:
        try:
            if regional:
                self._clients.region_disks.get(
                    project=project, region=location, disk=name, timeout=LIST_TIMEOUT
                )
            else:
                self._clients.disks.get(
                    project=project, zone=location, disk=name, timeout=LIST_TIMEOUT
                )
            return True
        except gexc.NotFound:
            return False
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise as_compute_error(exc, f"look up disk {name}") from exc

    def create_disk_from_snapshot(
        self, project: str, zone: str, name: str, snapshot_link: str, labels: Mapping[str, str]
    ) -> str:
        """Create a zonal disk from a snapshot; returns the zonal operation's name."""
        disk = compute_v1.Disk(name=name, source_snapshot=snapshot_link, labels=dict(labels))
        try:
            operation = self._clients.disks.insert_unary(
                project=project, zone=zone, disk_resource=disk, retry=None, timeout=WRITE_TIMEOUT
            )
        except (gexc.GoogleAPICallError, gexc.RetryError, requests.RequestException) as exc:
            raise as_compute_error(exc, f"create disk {name}") from exc
        return str(operation.name)

    def wait_zone_operation(self, project: str, zone: str, operation: str, timeout: float) -> str:
        """Wait (bounded) for a zonal operation; returns its final status."""
        try:
            result = self._clients.zone_operations.wait(
                project=project, zone=zone, operation=operation, timeout=timeout
            )
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise as_compute_error(exc, f"wait for {operation}") from exc
        if result.error and result.error.errors:
            first = result.error.errors[0]
            raise ComputeError(
                f"{operation} failed: {first.code}: {first.message}",
                outcome=Outcome.PERMANENT,
                status=None,
                reason=first.code,
            )
        return str(result.status.name if hasattr(result.status, "name") else result.status)


def managed_filter(*, disk_id: str | None = None, schedule: str | None = None) -> str:
    terms = [(MANAGED_BY, MANAGED_BY_VALUE)]
    if disk_id:
        terms.append((DISK_ID, disk_id))
    if schedule:
        terms.append((SCHEDULE, schedule))
    return " AND ".join(f'labels.{key} = "{value}"' for key, value in terms)


def has_label_filter(key: str) -> str:
    return f"labels.{key}:*"


def _aggregated_request(project: str, label_filter: str | None) -> dict[str, object]:
    # returnPartialSuccess is not in this client's request types, so one unreachable
    # zone fails the whole listing: the project is then reported and dead-lettered, and
    # a replay of that dead letter fills the slot once the zone is back.
    request: dict[str, object] = {"project": project, "max_results": PAGE_SIZE}
    if label_filter:
        request["filter"] = label_filter
    return request


def _snapshot(project: str, snapshot: compute_v1.Snapshot) -> Snapshot:
    return Snapshot(
        project=project,
        name=snapshot.name,
        status=snapshot.status,
        labels=dict(snapshot.labels),
        created=_created(snapshot.creation_timestamp),
        source_disk=disk_path(snapshot.source_disk),
        source_disk_id=str(snapshot.source_disk_id or ""),
        storage_bytes=int(snapshot.storage_bytes or 0),
    )

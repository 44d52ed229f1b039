"""The Compute Engine gateway: the few calls snapkeeper makes, as typed records, with
bounded retries and timeouts, and one classification of errors (errors.Outcome)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import compute_v1

from snapkeeper import clients
from snapkeeper.config import Config
from snapkeeper.errors import ComputeError, Outcome, RateLimited
from snapkeeper.labels import (
    DEFAULT_DEPLOYMENT,
    DEPLOYMENT,
    DISK_ID,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    SCHEDULE,
    SLOT,
    deployment_of,
)
from snapkeeper.pacing import Pacer, pacer

PAGE_SIZE = 500
CALL_TIMEOUT = 30.0  # per HTTP request (COMPUTE_TIMEOUT_SECONDS)
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
        requests.exceptions.Timeout,
    ),
    initial=0.5,
    maximum=4.0,
    multiplier=2.0,
    timeout=20.0,
)
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Reasons that mean "slow down", wherever they appear (the ErrorInfo in `details`, any
# errors[] entry, or an operation's error code): retry them, never dead-letter at once.
TRANSIENT_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "RATE_LIMIT_EXCEEDED",
        "RESOURCE_OPERATION_RATE_EXCEEDED",  # one snapshot per disk per 10 minutes
        "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
        "resourceNotReady",  # 400 while a snapshot or disk is still being made
    }
)
TRANSIENT_DOMAINS = frozenset({"usageLimits"})
# The project's rate quotas (not the per-disk limit): a write that meets one is paced and
# re-queued (pacing.py) rather than redelivered.
RATE_LIMIT_REASONS = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "RATE_LIMIT_EXCEEDED",
        "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
    }
)
SNAPSHOTS_QUOTA = "SNAPSHOTS"  # the metric of projects.get's quotas[] the guard reads
# The not-before delay of re-queued work when no pacer says better.
DEFAULT_REQUEUE_DELAY = 10.0
# Errors raised outside api_core's mapping: a read timeout or a dropped connection.
NETWORK_ERRORS = (requests.RequestException, gexc.RetryError)
# One operations.wait call is answered within about two minutes by the real API.
OPERATION_WAIT_CALL = 150.0
SNAPSHOT_POLL_MAX_INTERVAL = 10.0
IN_FLIGHT = frozenset({"CREATING", "UPLOADING"})
_SCOPE = re.compile(r"^(zones|regions)/([-a-z0-9]+)$")
_REQUEST_PREFIX = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")
_DISK_PATH = re.compile(r"projects/([^/]+)/(zones|regions)/([^/]+)/disks/([^/]+)$")
_INSTANCE_PATH = re.compile(r"projects/([^/]+)/zones/([^/]+)/instances/([^/]+)$")


@dataclass(frozen=True)
class Disk:
    project: str
    location: str
    regional: bool
    name: str
    id: str
    labels: Mapping[str, str] = field(default_factory=dict)
    size_gb: int = 0
    users: tuple[str, ...] = ()  # URLs of the instances it is attached to
    status: str = ""  # as read by get_disk or zone_disks (CREATING, READY, ...)

    @property
    def path(self) -> str:
        scope = "regions" if self.regional else "zones"
        return f"projects/{self.project}/{scope}/{self.location}/disks/{self.name}"


@dataclass(frozen=True)
class Instance:
    """A VM, as far as its labels and attached disks matter (a disk may take its
    schedule from them)."""

    project: str
    zone: str
    name: str
    labels: Mapping[str, str]
    disk_paths: tuple[str, ...]  # projects/P/zones/Z/disks/D of every attached disk


@dataclass(frozen=True)
class Quota:
    """One of a project's quotas as projects.get lists it (SNAPSHOTS for the guard)."""

    metric: str
    limit: float
    usage: float

    def at_least(self, percent: int) -> bool:
        """Is `percent`% of the limit or more in use (a zero limit counts as full)?"""
        return self.limit <= 0 or self.usage * 100 >= self.limit * percent


@dataclass(frozen=True)
class Snapshot:
    """A snapshot as Compute lists it; its labels say which disk, schedule, slot and
    deployment it belongs to."""

    project: str
    name: str
    status: str
    labels: Mapping[str, str]
    created: datetime | None
    source_disk: str
    source_disk_id: str
    storage_bytes: int = 0
    id: str = ""
    snapshot_type: str = "STANDARD"

    @property
    def slot(self) -> str:
        return self.labels.get(SLOT, "")

    def is_managed(self, disk_id: str, schedule: str, deployment: str | None = None) -> bool:
        """Made by snapkeeper for this disk and schedule (and deployment, if given), by
        its labels."""
        return (
            self.labels.get(MANAGED_BY) == MANAGED_BY_VALUE
            and self.labels.get(DISK_ID) == disk_id
            and self.labels.get(SCHEDULE) == schedule
            and (deployment is None or deployment_of(self.labels) == deployment)
        )


def disk_path(url: str) -> str:
    """projects/P/zones/Z/disks/D from a full or partial disk URL."""
    match = _DISK_PATH.search(url)
    if not match:
        return url
    project, scope, location, name = match.groups()
    return f"projects/{project}/{scope}/{location}/disks/{name}"


def parse_disk_path(path: str) -> tuple[str, str, bool, str] | None:
    """(project, location, regional, name) of a disk path or URL; None if it is none."""
    match = _DISK_PATH.search(path)
    if not match:
        return None
    project, scope, location, name = match.groups()
    return project, location, scope == "regions", name


@dataclass(frozen=True)
class ErrorReasons:
    """Every reason an API error carries: the ErrorInfo reason (what api_core puts in
    `exc.reason`), and each errors[] entry's reason and domain."""

    reasons: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    @property
    def first(self) -> str | None:
        return self.reasons[0] if self.reasons else None

    @property
    def transient(self) -> bool:
        return bool(TRANSIENT_REASONS.intersection(self.reasons)) or bool(
            TRANSIENT_DOMAINS.intersection(self.domains)
        )


def error_reasons(exc: BaseException) -> ErrorReasons:
    if not isinstance(exc, gexc.GoogleAPICallError):
        return ErrorReasons()
    reasons = [exc.reason] if exc.reason else []
    domains = []
    for detail in exc.errors or []:
        if isinstance(detail, Mapping):
            if detail.get("reason"):
                reasons.append(str(detail["reason"]))
            if detail.get("domain"):
                domains.append(str(detail["domain"]))
    return ErrorReasons(tuple(dict.fromkeys(reasons)), tuple(dict.fromkeys(domains)))


def is_rate_limit(exc: BaseException) -> bool:
    """A project rate quota said no (429, or one of RATE_LIMIT_REASONS)."""
    if not isinstance(exc, gexc.GoogleAPICallError):
        return False
    return exc.code == 429 or bool(RATE_LIMIT_REASONS.intersection(error_reasons(exc).reasons))


def classify(exc: BaseException) -> Outcome:
    """The error table: what an exception from a Compute call means."""
    if isinstance(exc, gexc.Conflict):
        return Outcome.DONE
    if isinstance(exc, gexc.NotFound):
        return Outcome.GONE
    if isinstance(exc, gexc.GoogleAPICallError):
        if exc.code in TRANSIENT_STATUS or error_reasons(exc).transient:
            return Outcome.TRANSIENT
        if exc.code == 412:  # a label fingerprint changed under us: read again and retry
            return Outcome.TRANSIENT
        return Outcome.PERMANENT
    # Timeouts, exhausted retries, dropped connections: worth another delivery.
    return Outcome.TRANSIENT


def classify_operation_error(codes: Iterable[str], http_status: int | None) -> Outcome:
    """An error inside a finished operation, read by the same table as an HTTP error."""
    if TRANSIENT_REASONS.intersection(codes) or (http_status or 0) in TRANSIENT_STATUS:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def as_compute_error(exc: BaseException, action: str) -> ComputeError:
    status = exc.code if isinstance(exc, gexc.GoogleAPICallError) else None
    reasons = error_reasons(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = _REQUEST_PREFIX.sub("", message)  # the URL adds noise, not information
    detail = f"{action}: {status or type(exc).__name__}"
    if reasons.reasons:
        detail += " " + "/".join(reasons.reasons)
    return ComputeError(
        f"{detail}: {message}", outcome=classify(exc), status=status, reason=reasons.first
    )


def _disk(project: str, location: str, regional: bool, found: Any) -> Disk:
    """`found`: a Disk message, proto-plus or raw protobuf (a listing's: their fields
    read several times faster, which counts in a tick of thousands of disks)."""
    return Disk(
        project=project,
        location=location,
        regional=regional,
        name=found.name,
        id=str(found.id),
        labels=dict(found.labels),
        size_gb=int(found.size_gb),
        users=tuple(found.users),
        status=found.status,
    )


def _created(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


class ComputeGateway:
    """Every Compute Engine call snapkeeper makes. Raises ComputeError only."""

    def __init__(
        self,
        emulator_host: str | None = None,
        timeout: float = CALL_TIMEOUT,
        pacer: Pacer | None = None,
    ) -> None:
        self._clients = clients.compute(emulator_host)
        self._timeout = timeout
        self._pacer = pacer

    @classmethod
    def for_config(cls, config: Config, *, paced: bool = False) -> ComputeGateway:
        """The gateway of a function; `paced`: snapshot writes go through this
        process's pacer (the snapshot function's)."""
        shared = (
            pacer(
                config.compute_write_quota_per_minute,
                config.snapshot_max_instances,
                float(config.pace_max_wait_seconds),
            )
            if paced
            else None
        )
        return cls(config.endpoints.compute, config.compute_timeout_seconds, shared)

    # -- discovery -------------------------------------------------------------------------

    def disks(self, project: str, label_filter: str | None = None) -> Iterator[Disk]:
        """All disks (zonal and regional) of a project, optionally label-filtered."""
        listing = self._aggregated(self._clients.disks, "disks", project, label_filter)
        for (kind, location), scoped in listing:
            for disk in scoped.disks:
                yield _disk(project, location, kind == "regions", disk)

    def instances(self, project: str, label_filter: str | None = None) -> Iterator[Instance]:
        listing = self._aggregated(self._clients.instances, "instances", project, label_filter)
        for (_, zone), scoped in listing:
            for instance in scoped.instances:
                attached = tuple(disk_path(d.source) for d in instance.disks if d.source)
                yield Instance(project, zone, instance.name, dict(instance.labels), attached)

    def _aggregated(
        self, client: Any, what: str, project: str, label_filter: str | None
    ) -> Iterator[tuple[tuple[str, str], Any]]:
        """((kind, location), scoped list) of one aggregatedList, every page, never
        silently short of an unreachable scope."""
        action = f"list {what} of {project}"
        pager = self._call(
            action,
            lambda: client.aggregated_list(
                request=_aggregated_request(project, label_filter),
                retry=LIST_RETRY,
                timeout=self._timeout,
            ),
        )
        return _reachable_scopes(pager, action)

    @staticmethod
    def _call(action: str, call: Callable[[], Any]) -> Any:
        """Run one API call; every failure leaves as a classified ComputeError."""
        try:
            return call()
        except (gexc.GoogleAPICallError, *NETWORK_ERRORS) as exc:
            raise as_compute_error(exc, action) from exc

    # -- snapshots -------------------------------------------------------------------------

    def snapshots(self, project: str, label_filter: str | None = None) -> list[Snapshot]:
        request: dict[str, Any] = {"project": project, "max_results": PAGE_SIZE}
        if label_filter:
            request["filter"] = label_filter
        return self._call(
            f"list snapshots of {project}",
            lambda: [
                _snapshot(project, s)
                for s in self._clients.snapshots.list(
                    request=request, retry=LIST_RETRY, timeout=self._timeout
                )
            ],
        )

    def managed_snapshots(
        self, project: str, disk_id: str, schedule: str, deployment: str = DEFAULT_DEPLOYMENT
    ) -> list[Snapshot]:
        """This disk's snapshots of this schedule that this deployment made: the only
        ones it may ever prune (matched on labels, never on names). The server's filter
        is checked again here: a snapshot whose labels do not match is never returned."""
        label_filter = managed_filter(disk_id=disk_id, schedule=schedule, deployment=deployment)
        listed = self.snapshots(project, label_filter)
        return [s for s in listed if s.is_managed(disk_id, schedule, deployment)]

    def get_snapshot(self, project: str, name: str) -> Snapshot | None:
        """The snapshot, or None when there is none by that name."""
        found = self._snapshot_resource(project, name)
        return None if found is None else _snapshot(project, found)

    def _snapshot_resource(self, project: str, name: str) -> Any:
        return self._get(
            f"read snapshot {name}",
            lambda: self._clients.snapshots.get(
                project=project, snapshot=name, retry=LIST_RETRY, timeout=self._timeout
            ),
        )

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
        snapshot_type: str | None = None,
        kms_key: str | None = None,
        chain_name: str | None = None,
    ) -> str:
        """Start a snapshot; returns the name of its global operation."""
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
        if snapshot_type:
            resource.snapshot_type = snapshot_type
        if kms_key:
            resource.snapshot_encryption_key = compute_v1.CustomerEncryptionKey(
                kms_key_name=kms_key
            )
        if chain_name:
            resource.chain_name = chain_name
        operation = self._write(
            project,
            f"create snapshot {name}",
            lambda: self._clients.snapshots.insert_unary(
                request={
                    "project": project,
                    "snapshot_resource": resource,
                    "request_id": request_id,
                },
                retry=None,  # Pub/Sub redelivers; requestId makes that safe
                timeout=self._timeout,
            ),
            paced=False,  # its turn was taken with pace(), before the reads
        )
        _raise_operation_error(operation, f"create snapshot {name}")
        return str(operation.name)

    def follow_operation(
        self, project: str, operation: str, deadline: float, zone: str | None = None
    ) -> bool:
        """Wait for a global (with `zone`, a zonal) operation until it is DONE (True) or
        `deadline` (monotonic seconds) passes (False). Every call is bounded (operations.wait
        answers within about two minutes, done or not); an error inside the operation is
        raised as a ComputeError classified by the error table."""
        action = f"wait for {operation}"
        client = self._clients.global_operations if zone is None else self._clients.zone_operations
        request = {"project": project, "operation": operation}
        if zone is not None:
            request["zone"] = zone
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                result = client.wait(
                    request=request, retry=None, timeout=min(remaining, OPERATION_WAIT_CALL)
                )
            except requests.exceptions.Timeout:
                continue  # our own bound ran out first: the loop checks the deadline
            except (gexc.GoogleAPICallError, *NETWORK_ERRORS) as exc:
                raise as_compute_error(exc, action) from exc
            _raise_operation_error(result, action)
            if result.status == compute_v1.Operation.Status.DONE:
                return True

    def wait_for_snapshot(
        self,
        project: str,
        name: str,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Snapshot | None:
        """Read the snapshot back until it has left CREATING/UPLOADING or `deadline`
        passes; returns it as last seen (None: there is none by that name)."""
        interval = 1.0
        while True:
            snapshot = self.get_snapshot(project, name)
            remaining = deadline - time.monotonic()
            if snapshot is None or snapshot.status not in IN_FLIGHT or remaining <= 0:
                return snapshot
            sleep(min(interval, remaining))
            interval = min(interval * 2, SNAPSHOT_POLL_MAX_INTERVAL)

    def delete_snapshot(self, project: str, name: str) -> bool:
        """Delete; False when it was already gone (a duplicate delivery got there first)."""
        return self._found(
            f"delete snapshot {name}",
            lambda: self._write(
                project,
                f"delete snapshot {name}",
                lambda: self._clients.snapshots.delete_unary(
                    project=project, snapshot=name, retry=None, timeout=self._timeout
                ),
                passthrough=(gexc.NotFound,),
            ),
        )

    def pace(self, project: str) -> None:
        """Take the turn of one write to the project's snapshots (wait for it, or raise
        RateLimited when it is too far away); a no-op without a pacer."""
        if self._pacer is not None:
            self._pacer.acquire(project)

    def _write(
        self,
        project: str,
        action: str,
        call: Callable[[], Any],
        passthrough: tuple[type[BaseException], ...] = (),
        paced: bool = True,
    ) -> Any:
        """One write to a global resource (`paced`: its turn taken now); a rate-limit
        error raises RateLimited (the work is re-queued), any other failure a
        ComputeError (or `passthrough`)."""
        if paced:
            self.pace(project)
        try:
            result = call()
        except passthrough:
            raise
        except (gexc.GoogleAPICallError, *NETWORK_ERRORS) as exc:
            if not is_rate_limit(exc):
                raise as_compute_error(exc, action) from exc
            delay = self._pacer.limited(project) if self._pacer else DEFAULT_REQUEUE_DELAY
            raise RateLimited(f"{as_compute_error(exc, action)}", delay=delay) from exc
        if self._pacer is not None:
            self._pacer.passed(project)
        return result

    @staticmethod
    def _get(action: str, call: Callable[[], Any]) -> Any:
        """`call`'s result, None on a 404; any other failure a ComputeError."""
        try:
            return call()
        except gexc.NotFound:
            return None
        except (gexc.GoogleAPICallError, *NETWORK_ERRORS) as exc:
            raise as_compute_error(exc, action) from exc

    @staticmethod
    def _found(action: str, call: Callable[[], Any]) -> bool:
        """True once `call` succeeds, False on a 404; any other failure a ComputeError."""
        try:
            call()
        except gexc.NotFound:
            return False
        except (gexc.GoogleAPICallError, *NETWORK_ERRORS) as exc:
            raise as_compute_error(exc, action) from exc
        return True

    # -- the disk as it is now -------------------------------------------------------------

    def get_disk(self, project: str, location: str, regional: bool, name: str) -> Disk | None:
        """The disk with its current labels and users; None when it is gone."""
        found = self._get(f"read disk {name}", self._disk_getter(project, location, regional, name))
        if found is None:
            return None
        return _disk(project, location, regional, found)

    def instance_labels(self, url: str) -> Mapping[str, str] | None:
        """The current labels of the instance at `url` (a disk's user); None when it is
        gone or the URL is not an instance's."""
        match = _INSTANCE_PATH.search(url)
        if not match:
            return None
        project, zone, name = match.groups()
        found = self._get(
            f"read instance {name}",
            lambda: self._clients.instances.get(
                project=project, zone=zone, instance=name, retry=LIST_RETRY, timeout=self._timeout
            ),
        )
        return None if found is None else dict(found.labels)

    # -- the project ----------------------------------------------------------------------

    def quota(self, project: str, metric: str = SNAPSHOTS_QUOTA) -> Quota | None:
        """One of the project's quotas (projects.get quotas[]); None when not listed."""
        found = self._call(
            f"read project {project}",
            lambda: self._clients.projects.get(
                project=project, retry=LIST_RETRY, timeout=self._timeout
            ),
        )
        for quota in found.quotas:
            if quota.metric == metric:
                return Quota(metric, float(quota.limit), float(quota.usage))
        return None

    # -- restore ---------------------------------------------------------------------------

    def disk_exists(self, project: str, location: str, regional: bool, name: str) -> bool:
        look_up = self._disk_getter(project, location, regional, name)
        return self._found(f"look up disk {name}", look_up)

    def _disk_getter(
        self, project: str, location: str, regional: bool, name: str
    ) -> Callable[[], Any]:
        """disks.get or regionDisks.get of one disk, as a call to make."""
        if regional:
            return lambda: self._clients.region_disks.get(
                project=project, region=location, disk=name, retry=LIST_RETRY, timeout=self._timeout
            )
        return lambda: self._clients.disks.get(
            project=project, zone=location, disk=name, retry=LIST_RETRY, timeout=self._timeout
        )

    def create_disk_from_snapshot(
        self, project: str, zone: str, name: str, snapshot_link: str, labels: Mapping[str, str]
    ) -> str:
        """Create a zonal disk from a snapshot; returns the zonal operation's name."""
        disk = compute_v1.Disk(name=name, source_snapshot=snapshot_link, labels=dict(labels))
        try:
            operation = self._clients.disks.insert_unary(
                project=project, zone=zone, disk_resource=disk, retry=None, timeout=self._timeout
            )
        except (gexc.GoogleAPICallError, gexc.RetryError, requests.RequestException) as exc:
            raise as_compute_error(exc, f"create disk {name}") from exc
        return str(operation.name)

    def zone_disks(self, project: str, zone: str, label_filter: str | None = None) -> list[Disk]:
        """The disks of one zone (a drill's scratch zone), optionally label-filtered."""
        request: dict[str, Any] = {"project": project, "zone": zone, "max_results": PAGE_SIZE}
        if label_filter:
            request["filter"] = label_filter
        return self._call(
            f"list disks of {project}/{zone}",
            lambda: [
                _disk(project, zone, False, d)
                for d in self._clients.disks.list(
                    request=request, retry=LIST_RETRY, timeout=self._timeout
                )
            ],
        )

    def delete_zone_disk(self, project: str, zone: str, name: str) -> str | None:
        """Delete a zonal disk; its operation's name, None when it was already gone."""
        operation = self._get(
            f"delete disk {name}",
            lambda: self._clients.disks.delete_unary(
                project=project, zone=zone, disk=name, retry=None, timeout=self._timeout
            ),
        )
        return None if operation is None else str(operation.name)

    def add_snapshot_labels(self, project: str, name: str, added: Mapping[str, str]) -> bool:
        """Merge `added` into a snapshot's labels (setLabels with the fingerprint just
        read: a 412 means they changed in between, and is retried). False: it is gone."""
        action = f"label snapshot {name}"
        found = self._snapshot_resource(project, name)
        if found is None:
            return False
        request = compute_v1.GlobalSetLabelsRequest(
            labels={**dict(found.labels), **added}, label_fingerprint=found.label_fingerprint
        )
        return self._found(
            action,
            lambda: self._clients.snapshots.set_labels_unary(
                project=project,
                resource=name,
                global_set_labels_request_resource=request,
                retry=None,
                timeout=self._timeout,
            ),
        )


def managed_filter(
    *, disk_id: str | None = None, schedule: str | None = None, deployment: str | None = None
) -> str:
    """The list filter of managed snapshots. The default deployment's filter names no
    deployment: its snapshots made before deployment ids carry none (callers check the
    label in Python)."""
    terms = [(MANAGED_BY, MANAGED_BY_VALUE)]
    if disk_id:
        terms.append((DISK_ID, disk_id))
    if schedule:
        terms.append((SCHEDULE, schedule))
    if deployment and deployment != DEFAULT_DEPLOYMENT:
        terms.append((DEPLOYMENT, deployment))
    # Compute's grammar: one bare expression, or every expression in its own parentheses.
    return " ".join(f'(labels.{key} = "{value}")' for key, value in terms)


def has_label_filter(key: str) -> str:
    return f"labels.{key}:*"


def _aggregated_request(project: str, label_filter: str | None) -> dict[str, object]:
    # returnPartialSuccess is not in this client's request types. Either way, a scope
    # the API could not reach is reported in `unreachables` or as an UNREACHABLE
    # warning, and _reachable_scopes turns that into a transient failure.
    request: dict[str, object] = {"project": project, "max_results": PAGE_SIZE}
    if label_filter:
        request["filter"] = label_filter
    return request


def _reachable_scopes(pager: Any, action: str) -> Iterator[tuple[tuple[str, str], Any]]:
    """((kind, location), raw protobuf scoped list) of every page; raise a transient
    ComputeError if any scope was unreachable, so its disks never drop out of a tick
    unseen."""
    try:
        for wrapped in pager.pages:
            page = type(wrapped).pb(wrapped)  # raw protobuf: see _disk
            unreachable = set(page.unreachables)
            for scope, scoped in page.items.items():
                if scoped.warning.code == "UNREACHABLE":  # a str field in this client
                    unreachable.add(scope)
            if unreachable:
                raise ComputeError(
                    f"{action}: unreachable: {', '.join(sorted(unreachable))}",
                    outcome=Outcome.TRANSIENT,
                    status=None,
                    reason="UNREACHABLE",
                )
            for scope, scoped in page.items.items():
                match = _SCOPE.match(scope)
                if match:
                    yield (match.group(1), match.group(2)), scoped
    except (gexc.GoogleAPICallError, *NETWORK_ERRORS) as exc:
        raise as_compute_error(exc, action) from exc


def _raise_operation_error(operation: compute_v1.Operation, action: str) -> None:
    """An operation that ended with errors inside it: classified like an HTTP error,
    with the operation's codes and messages in the exception."""
    if not operation.error or not operation.error.errors:
        return
    codes = [e.code for e in operation.error.errors if e.code]
    messages = "; ".join(f"{e.code}: {e.message}" for e in operation.error.errors)
    status = int(operation.http_error_status_code or 0) or None
    raise ComputeError(
        f"{action}: operation {operation.name} failed: {messages}",
        outcome=classify_operation_error(codes, status),
        status=status,
        reason=codes[0] if codes else None,
        failed_target=str(operation.target_id or "") or None,
    )


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
        id=str(snapshot.id or ""),
        snapshot_type=snapshot.snapshot_type or "STANDARD",
    )

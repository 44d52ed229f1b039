"""Compute Engine's per-project quotas, as the fake enforces them once a test sets them
through the admin API (none is enforced by default, except a large SNAPSHOTS limit).

- Rate quotas per minute of the fake clock (so a time scale shrinks the window along with
  operation times): a global write bucket (snapshots.insert, .delete, .setLabels), a write
  bucket per region (zonal and regional disk writes, disks.createSnapshot) and a read
  bucket (every other call, operation polls included). A call over the limit is answered
  403 RATE_LIMIT_EXCEEDED and is not counted.
- A concurrent-operations limit: a write while that many of the project's operations in
  its region (or global) are still running is answered 403 rateLimitExceeded, the quota
  named by the ErrorInfo reason CONCURRENT_OPERATIONS_QUOTA_EXCEEDED.
- The SNAPSHOTS quota: how many snapshots a project may hold. An insert beyond it starts
  an operation that ends with QUOTA_EXCEEDED inside it, as the real API's does. projects.get
  lists it in `quotas[]` with its limit and usage.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from . import errors

WINDOW_SECONDS = 60.0  # rate quotas are per minute
DEFAULT_SNAPSHOTS_LIMIT = 100_000
GLOBAL_WRITE = "global_write"
REGION_WRITE = "region_write"
READ = "read"
GLOBAL_WRITE_METHODS = frozenset(
    {"compute.snapshots.insert", "compute.snapshots.delete", "compute.snapshots.setLabels"}
)
REGION_WRITE_METHODS = frozenset(
    f"compute.{api}.{verb}"
    for api in ("disks", "regionDisks")
    for verb in ("insert", "delete", "setLabels", "createSnapshot")
)
# Each bucket's quota metric and limit, as the ErrorInfo's metadata and message name them.
BUCKET_NAMES: Mapping[str, tuple[str, str, str]] = {
    GLOBAL_WRITE: (
        "compute.googleapis.com/global_resource_write_requests",
        "GlobalResourceWriteRequestsPerMinutePerProject",
        "Global resource write requests",
    ),
    REGION_WRITE: (
        "compute.googleapis.com/regional_resource_write_requests",
        "RegionalResourceWriteRequestsPerMinutePerProjectPerRegion",
        "Regional resource write requests",
    ),
    READ: (
        "compute.googleapis.com/read_requests",
        "ReadRequestsPerMinutePerProject",
        "Read requests",
    ),
}
SNAPSHOTS_METRIC = "SNAPSHOTS"


@dataclass(frozen=True)
class QuotaLimits:
    """One project's limits; None: not enforced."""

    writes_per_minute: int | None = None
    region_writes_per_minute: int | None = None
    reads_per_minute: int | None = None
    concurrent_operations: int | None = None
    snapshots: int = DEFAULT_SNAPSHOTS_LIMIT

    def of_bucket(self, bucket: str) -> int | None:
        return {
            GLOBAL_WRITE: self.writes_per_minute,
            REGION_WRITE: self.region_writes_per_minute,
            READ: self.reads_per_minute,
        }[bucket]


def bucket_of(api_method: str) -> str:
    if api_method in GLOBAL_WRITE_METHODS:
        return GLOBAL_WRITE
    if api_method in REGION_WRITE_METHODS:
        return REGION_WRITE
    return READ


class Quotas:
    """Limits (a default and per project), the calls of each rate window, the running
    operations and what was refused. The backend calls it under its lock."""

    def __init__(self) -> None:
        self.default = QuotaLimits()
        self.projects: dict[str, QuotaLimits] = {}
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self._running: dict[tuple[str, str], list[float]] = {}  # (project, location): done_at
        self.refused: Counter[str] = Counter()

    def limits(self, project: str) -> QuotaLimits:
        return self.projects.get(project, self.default)

    def configure(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Set limits from admin JSON: {"project"?: p, field: value or null, ...}; without
        a project, the default of every project not set on its own."""
        known = {f.name for f in fields(QuotaLimits)}
        changes = {k: v for k, v in spec.items() if k != "project"}
        unknown = set(changes) - known
        if unknown:
            raise errors.Invalid.field("quotas", sorted(unknown), f"Known: {sorted(known)}.")
        for key, value in changes.items():
            allowed_none = key != "snapshots"
            if (value is None and not allowed_none) or (
                value is not None and (not isinstance(value, int) or value < 0)
            ):
                raise errors.Invalid.field(key, value, "Must be an integer >= 0 (or null).")
        project = spec.get("project")
        if project is None:
            self.default = replace(self.default, **changes)
            return asdict(self.default)
        self.projects[str(project)] = replace(self.limits(str(project)), **changes)
        return asdict(self.projects[str(project)])

    def to_json(self) -> dict[str, Any]:
        return {
            "default": asdict(self.default),
            "projects": {p: asdict(limits) for p, limits in sorted(self.projects.items())},
            "refused": dict(self.refused),
        }

    def charge(self, project: str, api_method: str, region: str, now: float) -> None:
        """Count one call against its rate bucket, or raise RateLimitExceeded (uncounted)
        and, for a write, ConcurrentOperationsExceeded."""
        bucket = bucket_of(api_method)
        limits = self.limits(project)
        limit = limits.of_bucket(bucket)
        if limit is not None:
            where = region if bucket == REGION_WRITE else "global"
            window = self._windows.setdefault((project, bucket, where), deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= limit:
                self.refused[bucket] += 1
                raise _rate_error(project, bucket, limit, where)
            window.append(now)
        most = limits.concurrent_operations
        location = region or "global"  # counted per project and region, as Compute does
        if bucket != READ and most is not None and self.running(project, location, now) >= most:
            self.refused["concurrent_operations"] += 1
            raise errors.ConcurrentOperationsExceeded(
                "Rate Limit Exceeded",
                metadata={
                    "containerType": "PROJECT",
                    "containerId": project,
                    "location": location,
                },
            )

    def started(self, project: str, location: str, done_at: float) -> None:
        heapq.heappush(self._running.setdefault((project, location), []), done_at)

    def running(self, project: str, location: str, now: float) -> int:
        heap = self._running.get((project, location), [])
        while heap and heap[0] <= now:
            heapq.heappop(heap)
        return len(heap)

    def snapshot_quota_error(self, project: str, usage: int) -> list[dict[str, Any]] | None:
        """The error inside an insert's operation when the project holds its limit."""
        limit = self.limits(project).snapshots
        if usage < limit:
            return None
        self.refused[SNAPSHOTS_METRIC] += 1
        return [
            {
                "code": "QUOTA_EXCEEDED",
                "message": f"Quota '{SNAPSHOTS_METRIC}' exceeded.  Limit: {float(limit)} globally.",
            }
        ]

    def project_quotas(self, project: str, snapshots: int) -> list[dict[str, Any]]:
        """projects.get's `quotas[]` entries this fake knows."""
        limit = self.limits(project).snapshots
        return [{"metric": SNAPSHOTS_METRIC, "limit": float(limit), "usage": float(snapshots)}]


def _rate_error(project: str, bucket: str, limit: int, where: str) -> errors.RateLimitExceeded:
    metric, limit_name, label = BUCKET_NAMES[bucket]
    return errors.RateLimitExceeded(
        f"Quota exceeded for quota metric '{label}' and limit '{label} per minute' of "
        f"service 'compute.googleapis.com' for consumer 'project_number:{project}'.",
        metadata={
            "consumer": f"projects/{project}",
            "quota_metric": metric,
            "quota_limit": limit_name,
            "quota_limit_value": str(limit),
            "quota_location": where,
        },
    )

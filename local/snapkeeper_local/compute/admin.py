"""Python client of the fake's admin API (`/_fake/...`): seed state, drive the clock,
inject faults and read the request log. Every call has a timeout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

TIMEOUT_SECONDS = 10.0


class AdminError(RuntimeError):
    """The admin API refused a call (bad seed, unknown field, ...)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return value


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that are set, in the admin API's camelCase JSON."""
    return {_camel(key): _json_value(value) for key, value in values.items() if value is not None}


class ComputeAdmin:
    """Admin client for a fake Compute Engine served at `base_url` (http://host:port)."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    @property
    def host(self) -> str:
        """host:port, the value of COMPUTE_EMULATOR_HOST."""
        return urlsplit(self.base_url).netloc

    def _seed(self, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """One resource of `kind` (projects, disks, ...) from its fields (snake_case, None
        for unset); its API JSON."""
        result: list[dict[str, Any]] = self._call("POST", kind, _drop_none(fields))
        return result[0]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/_fake/{path}", json=body, timeout=self.timeout
        )
        if response.status_code != 200:
            raise AdminError(f"{method} /_fake/{path}: {response.status_code} {response.text}")
        return response.json()

    def close(self) -> None:
        self._session.close()

    # --- state

    def reset(self) -> None:
        """Everything back to empty: state, clock, timings, faults, request log."""
        self._call("POST", "reset")

    def seed_project(
        self, name: str, *, accessible: bool = True, denied_permissions: Iterable[str] = ()
    ) -> dict[str, Any]:
        """A project (seeding it again replaces its settings). `accessible=False` makes
        every API call on it answer 403; `denied_permissions` only the calls that need one
        of those IAM permissions (see the fake's PERMISSIONS table; snapshots.insert also
        needs compute.disks.createSnapshot in the source disk's project), e.g.
        ["compute.globalOperations.get"]."""
        if isinstance(denied_permissions, str):
            raise TypeError("denied_permissions takes a list of permissions")
        denied = list(denied_permissions) or None
        return self._seed(
            "projects", {"name": name, "accessible": accessible, "denied_permissions": denied}
        )

    def seed_disk(
        self,
        project: str,
        name: str,
        *,
        zone: str | None = None,
        region: str | None = None,
        size_gb: int = 10,
        labels: Mapping[str, str] | None = None,
        id: int | None = None,
        type: str | None = None,
        replica_zones: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """A zonal (`zone=`) or regional (`region=`) disk; returns its API JSON."""
        return self._seed(
            "disks",
            {
                "project": project,
                "name": name,
                "zone": zone,
                "region": region,
                "size_gb": size_gb,
                "labels": labels,
                "id": id,
                "type": type,
                "replica_zones": replica_zones,
            },
        )

    def seed_disks(self, specs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Many disks in one call; each spec in the API's camelCase:
        {"project", "name", "zone" | "region", "sizeGb", "labels", "id", "type",
        "replicaZones"}."""
        result: list[dict[str, Any]] = self._call("POST", "disks", [dict(s) for s in specs])
        return result

    def seed_instance(
        self,
        project: str,
        name: str,
        *,
        zone: str,
        labels: Mapping[str, str] | None = None,
        disks: Sequence[str] = (),
        id: int | None = None,
    ) -> dict[str, Any]:
        """An instance with attached disks: names of zonal disks in its zone (created when
        missing; the first is the boot disk) or paths like `regions/r/disks/d`."""
        return self._seed(
            "instances",
            {
                "project": project,
                "name": name,
                "zone": zone,
                "labels": labels,
                "disks": disks,
                "id": id,
            },
        )

    def seed_snapshot(
        self,
        project: str,
        name: str,
        *,
        source_disk: str | None = None,
        status: str = "READY",
        labels: Mapping[str, str] | None = None,
        creation_timestamp: datetime | str | None = None,
        disk_size_gb: int | None = None,
        storage_locations: Sequence[str] | None = None,
        source_disk_id: str | None = None,
        id: int | None = None,
        snapshot_type: str | None = None,
        chain_name: str | None = None,
    ) -> dict[str, Any]:
        """A snapshot that keeps the given status (it never moves on with the clock);
        `snapshot_type` STANDARD (default) or ARCHIVE."""
        if isinstance(creation_timestamp, datetime):
            if creation_timestamp.tzinfo is None:
                raise ValueError("creation_timestamp needs a time zone")
            creation_timestamp = creation_timestamp.isoformat()
        return self._seed(
            "snapshots",
            {
                "project": project,
                "name": name,
                "source_disk": source_disk,
                "status": status,
                "labels": labels,
                "creation_timestamp": creation_timestamp,
                "disk_size_gb": disk_size_gb,
                "storage_locations": storage_locations,
                "source_disk_id": source_disk_id,
                "id": id,
                "snapshot_type": snapshot_type,
                "chain_name": chain_name,
            },
        )

    def seed_snapshots(self, specs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Many snapshots in one call: specs in the admin API's JSON shape (camelCase)."""
        result: list[dict[str, Any]] = self._call("POST", "snapshots", list(specs))
        return result

    def snapshots(self) -> list[dict[str, Any]]:
        """Every snapshot of every project, as the API shows it."""
        result: list[dict[str, Any]] = self._call("GET", "snapshots")["snapshots"]
        return result

    # --- clock and timings

    def now(self) -> datetime:
        return datetime.fromisoformat(self._call("GET", "clock")["now"])

    def set_clock(self, when: datetime, *, frozen: bool = False) -> datetime:
        """Move the fake clock to `when` (aware); it keeps running unless `frozen`."""
        if when.tzinfo is None:
            raise ValueError("when needs a time zone")
        body = {"time": when.isoformat(), "frozen": frozen}
        return datetime.fromisoformat(self._call("POST", "clock", body)["now"])

    def freeze_clock(self, frozen: bool = True) -> datetime:
        return datetime.fromisoformat(self._call("POST", "clock", {"frozen": frozen})["now"])

    def advance_clock(self, seconds: float) -> datetime:
        return datetime.fromisoformat(
            self._call("POST", "clock", {"advanceSeconds": seconds})["now"]
        )

    def configure(
        self,
        *,
        creating_seconds: float | None = None,
        uploading_seconds: float | None = None,
        disk_creating_seconds: float | None = None,
        rate_limit_seconds: float | None = None,
        wait_seconds: float | None = None,
        time_scale: float | None = None,
    ) -> dict[str, float]:
        """Change fake-clock delays (and the real-time bound of operations.wait).
        `time_scale` makes the fake clock run that many times faster than the wall clock,
        which shrinks operation times and quota windows alike."""
        changes = {
            key: value
            for key, value in {
                "creating_seconds": creating_seconds,
                "uploading_seconds": uploading_seconds,
                "disk_creating_seconds": disk_creating_seconds,
                "rate_limit_seconds": rate_limit_seconds,
                "wait_seconds": wait_seconds,
                "time_scale": time_scale,
            }.items()
            if value is not None
        }
        result: dict[str, float] = self._call("POST", "config", changes)
        return result

    # --- quotas

    def set_quotas(self, project: str | None = None, **limits: int | None) -> dict[str, Any]:
        """Set rate and resource quotas (quotas.QuotaLimits: writes_per_minute,
        region_writes_per_minute, reads_per_minute, concurrent_operations, snapshots) of
        one project, or without `project` the default of all; None lifts a limit."""
        body: dict[str, Any] = dict(limits)
        if project is not None:
            body["project"] = project
        result: dict[str, Any] = self._call("POST", "quotas", body)
        return result

    def quotas(self) -> dict[str, Any]:
        """The limits in force and how many calls each quota refused."""
        result: dict[str, Any] = self._call("GET", "quotas")
        return result

    # --- faults

    def add_fault(
        self,
        *,
        kind: str = "error",
        http_method: str | None = None,
        path_regex: str | None = None,
        api_method: str | None = None,
        body_regex: str | None = None,
        status: int = 503,
        reason: str | None = None,
        message: str | None = None,
        domain: str | None = None,
        error_info: str | None = None,
        scope: str | None = None,
        count: int | None = None,
        probability: float = 1.0,
        seed: int = 0,
        latency_seconds: float = 0.0,
    ) -> str:
        """Add a rule and return its id.

        kind: "error" answers `status`/`reason`/`message` (defaults by status), with
        errors[0].domain `domain` (default "global") and, given `error_info`, an ErrorInfo
        detail with that reason (api_core's `exc.reason`), as quota errors carry: e.g.
        status=403, reason="rateLimitExceeded", domain="usageLimits",
        error_info="RATE_LIMIT_EXCEEDED".
        "latency" only delays; "fail_snapshot" lets a matching snapshots.insert succeed but
        the snapshot ends FAILED (its operation carries `reason`/`message` as the error
        code and message, e.g. reason="QUOTA_EXCEEDED"; default INTERNAL_ERROR).
        "unreachable" makes a matching disks/instances aggregatedList answer 200 without
        the items of `scope` ("zones/<zone>" or "regions/<region>"), which carries an
        UNREACHABLE warning and is listed in `unreachables`.
        A rule matches when every given matcher does (http_method, path_regex searched in
        the path, api_method such as "compute.snapshots.insert", body_regex searched in
        the request body); then it acts `count` times (None: always) with `probability`
        (RNG seeded by `seed`), adding `latency_seconds` each time."""
        rule = {
            "kind": kind,
            "http_method": http_method,
            "path_regex": path_regex,
            "api_method": api_method,
            "body_regex": body_regex,
            "status": status,
            "reason": reason,
            "message": message,
            "domain": domain,
            "error_info": error_info,
            "scope": scope,
            "count": count,
            "probability": probability,
            "seed": seed,
            "latency_seconds": latency_seconds,
        }
        return str(self._call("POST", "faults", rule)["id"])

    def faults(self) -> list[dict[str, Any]]:
        """The rules, each with `fired` (times it acted)."""
        result: list[dict[str, Any]] = self._call("GET", "faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # --- request log

    def requests(self) -> list[dict[str, Any]]:
        """API calls, oldest first: {"time", "method", "path", "query", "api_method",
        "status"} (admin calls are not logged)."""
        result: list[dict[str, Any]] = self._call("GET", "requests")["requests"]
        return result

    def counts(self) -> dict[str, int]:
        """Calls per API method, e.g. {"compute.snapshots.insert": 3}."""
        result: dict[str, int] = self._call("GET", "requests")["counts"]
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

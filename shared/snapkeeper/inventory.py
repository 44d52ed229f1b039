"""Coverage of a whole organization or folder from Cloud Asset Inventory: every disk
and every fresh managed snapshot under it in a few paged searchAllResources calls, never
one call per project.

Cost: one request per PAGE_SIZE disks, one per PAGE_SIZE READY managed snapshots taken
since the oldest slot that should be covered (older ones cannot make a disk fresh, so
they are not read), one per PAGE_SIZE projects with a project filter, and the vault
searched apart when SNAPSHOT_PROJECT is set: about 40 requests for 10,000 disks on a
daily schedule.

Asset Inventory is eventually consistent (a change shows after seconds to minutes), so
this is a safety net beside `status`, not a replacement: nothing is changed or pruned
from what it reports.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from snapkeeper import clients, coverage, labels, slots
from snapkeeper.compute import LIST_RETRY, Disk, Snapshot, as_compute_error
from snapkeeper.config import Config, check_folder, check_organization
from snapkeeper.errors import ApiError, ConfigError
from snapkeeper.retention import READY

DISK = "compute.googleapis.com/Disk"
SNAPSHOT = "compute.googleapis.com/Snapshot"
PROJECT = "cloudresourcemanager.googleapis.com/Project"
PAGE_SIZE = 500  # searchAllResources' largest page
CALL_TIMEOUT = 60.0
_DISK_NAME = re.compile(
    r"^//compute\.googleapis\.com/projects/([^/]+)/(zones|regions)/([^/]+)/disks/([^/]+)$"
)
_SNAPSHOT_NAME = re.compile(
    r"^//compute\.googleapis\.com/projects/([^/]+)/global/snapshots/([^/]+)$"
)
# A project filter: what Asset Inventory's query language takes for a project's labels.
_FILTER = re.compile(r"^-?labels\.[a-z][a-z0-9_-]*(:|=)[^\s]+$")


def scope_of(organization: str | None, folder: str | None) -> str:
    """organizations/N or folders/N from --org / --folder (exactly one given)."""
    if bool(organization) == bool(folder):
        raise ConfigError("give exactly one of --org and --folder")
    return check_organization(organization) if organization else check_folder(str(folder))


def check_filter(text: str) -> str:
    """A project filter such as labels.env=prod, terms joined by spaces or AND."""
    terms = text.replace(" AND ", " ").split()
    bad = [term for term in terms if not _FILTER.match(term)]
    if not terms or bad:
        raise ConfigError(
            f"{text!r} is not a project filter: labels.KEY=VALUE, labels.KEY:WORD or "
            "labels.KEY:*, joined by AND"
        )
    return " AND ".join(terms)


@dataclass
class OrgSurvey:
    scope: str
    survey: coverage.Survey = field(default_factory=coverage.Survey)
    unprotected: list[Disk] = field(default_factory=list)
    projects_matched: int | None = None  # with a project filter
    snapshots_since: datetime | None = None
    requests: int = 0


class Inventory:
    """The searchAllResources calls of `status --org`. Raises ApiError only; counts the
    requests (pages) it makes."""

    def __init__(self, emulator_host: str | None = None, timeout: float = CALL_TIMEOUT) -> None:
        self._client = clients.asset(emulator_host)
        self._timeout = timeout
        self.requests = 0

    def search(self, scope: str, asset_type: str, query: str = "") -> Iterator[Any]:
        request = {
            "scope": scope,
            "asset_types": [asset_type],
            "query": query,
            "page_size": PAGE_SIZE,
        }
        action = f"search {asset_type} under {scope}"
        try:
            pager = self._client.search_all_resources(
                request=request, retry=LIST_RETRY, timeout=self._timeout
            )
            for page in pager.pages:
                self.requests += 1
                yield from page.results
        except Exception as exc:  # classified: transient or not, the command says which
            error = as_compute_error(exc, action)
            raise ApiError(str(error), outcome=error.outcome) from exc

    def survey(
        self,
        scope: str,
        config: Config,
        *,
        project_filter: str | None = None,
        since: datetime | None = None,
    ) -> OrgSurvey:
        """Every disk under `scope` (in projects matching `project_filter`), labelled or
        not, and this deployment's READY snapshots taken since `since`."""
        result = OrgSurvey(scope, snapshots_since=since)
        numbers: set[str] | None = None
        if project_filter:
            found = self.search(scope, PROJECT, check_filter(project_filter))
            numbers = {str(p.project) for p in found}  # projects/NUMBER, as on each disk
            result.projects_matched = len(numbers)
        for item in self.search(scope, DISK):
            disk = _disk(item)
            if disk is None or (numbers is not None and str(item.project) not in numbers):
                continue
            policies = labels.resolve_policies(
                disk.labels, {}, config.label_prefix, config.default_storage_location
            )
            if policies:
                result.survey.disks.append(coverage.LabelledDisk(disk, policies))
            elif not any(key.startswith(config.label_prefix) for key in disk.labels):
                result.unprotected.append(disk)  # excluded or otherwise labelled: a choice
        index: dict[tuple[str, str], list[Snapshot]] = defaultdict(list)
        scopes = [scope]
        if config.snapshot_project:  # the vault may sit outside the scope
            scopes.append(f"projects/{config.snapshot_project}")
        seen: set[tuple[str, str]] = set()
        for where in scopes:
            for item in self.search(where, SNAPSHOT, snapshot_query(since)):
                snapshot = _snapshot(item)
                if snapshot is None or (snapshot.project, snapshot.name) in seen:
                    continue
                seen.add((snapshot.project, snapshot.name))
                if labels.deployment_of(snapshot.labels) != config.deployment_id:
                    continue
                key = (snapshot.source_disk_id, snapshot.labels.get(labels.SCHEDULE, ""))
                index[key].append(snapshot)
        result.survey.snapshots = dict(index)
        result.survey.disks.sort(key=lambda d: (d.disk.project, d.disk.location, d.disk.name))
        result.unprotected.sort(key=lambda d: (d.project, d.location, d.name))
        result.requests = self.requests
        return result


def _disk(result: Any) -> Disk | None:
    match = _DISK_NAME.match(result.name)
    if match is None:
        return None
    project, kind, location, name = match.groups()
    return Disk(
        project=project,
        location=location,
        regional=kind == "regions",
        name=name,
        id=str(result.additional_attributes.get("id", "")),
        labels=dict(result.labels),
    )


def _snapshot(result: Any) -> Snapshot | None:
    match = _SNAPSHOT_NAME.match(result.name)
    if match is None:
        return None
    created = result.create_time
    return Snapshot(
        project=match.group(1),
        name=match.group(2),
        status=str(result.state),
        labels=dict(result.labels),
        created=created if isinstance(created, datetime) and created.year > 1970 else None,
        source_disk="",
        source_disk_id=str(result.labels.get(labels.DISK_ID, "")),
    )


def snapshot_query(since: datetime | None) -> str:
    query = f"labels.{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE} AND state={READY}"
    return f"{query} AND createTime>={int(since.timestamp())}" if since else query


def oldest_due(
    timings: Mapping[str, coverage.Timing | None], now: datetime, grace: timedelta
) -> datetime | None:
    """The oldest slot any schedule should have covered by now: a snapshot older than
    this is fresh for no schedule."""
    dues = [slots.latest_fire(t.cron, t.time_zone, now - grace) for t in timings.values() if t]
    return min(dues) if dues else None

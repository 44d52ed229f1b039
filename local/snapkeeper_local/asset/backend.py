"""The Cloud Asset Inventory index: disks and snapshots from the fake Compute Engine,
projects and their ancestry from the fake Resource Manager, searched as
searchAllResources does.

The index is a copy of the fleet taken at one moment and served until it is older than
`staleness_seconds` (fake Compute clock), then taken again: Asset Inventory is
eventually consistent, and a staleness above 0 shows what a caller sees of that.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ..compute.clock import parse_time
from ..paging import BadPageToken, paginate
from ..resourcemanager.backend import ProjectRecord, ResourceManagerBackend
from ..rpc import InvalidArgument, PermissionDenied

DISK = "compute.googleapis.com/Disk"
SNAPSHOT = "compute.googleapis.com/Snapshot"
PROJECT = "cloudresourcemanager.googleapis.com/Project"
ASSET_TYPES = (DISK, SNAPSHOT, PROJECT)
COMPUTE_PREFIX = "//compute.googleapis.com/"
CRM_PREFIX = "//cloudresourcemanager.googleapis.com/"
# searchAllResources caps a page at 500 whatever is asked; 0 or less takes the default.
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
_SCOPE = re.compile(r"^(projects|folders|organizations)/([a-z0-9][-a-z0-9.:]*)$")
# One term of a query: field, operator, value (`labels.env:prod`, `createTime>1700000000`).
_TERM = re.compile(r"^(-?)([A-Za-z][A-Za-z0-9_.-]*?)(:|=|>=|<=|>|<)(.+)$")
_WORD = re.compile(r"[^a-z0-9]+")


class ComputeSource(Protocol):
    def now(self) -> float: ...

    def inventory(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class Resource:
    """One ResourceSearchResult."""

    name: str
    asset_type: str
    project_id: str
    project_number: str  # projects/NUMBER, "" for a project the hierarchy does not know
    ancestors: tuple[str, ...]
    display_name: str
    location: str
    state: str
    created: float
    labels: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)

    def in_scope(self, scope: str) -> bool:
        if scope.startswith("projects/"):
            return scope in (f"projects/{self.project_id}", self.project_number)
        return scope in self.ancestors

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "assetType": self.asset_type,
            "displayName": self.display_name,
            "location": self.location,
            "state": self.state,
            "createTime": _timestamp(self.created),
            "updateTime": _timestamp(self.created),
        }
        if self.project_number:
            body["project"] = self.project_number
            body["parentFullResourceName"] = CRM_PREFIX + self.project_number
            body["parentAssetType"] = PROJECT
        folders = [a for a in self.ancestors if a.startswith("folders/")]
        organizations = [a for a in self.ancestors if a.startswith("organizations/")]
        if folders:
            body["folders"] = folders
        if organizations:
            body["organization"] = organizations[0]
        if self.labels:
            body["labels"] = dict(self.labels)
        if self.attributes:
            body["additionalAttributes"] = dict(self.attributes)
        return body


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AssetBackend:
    """Every public method takes the lock."""

    def __init__(
        self, compute: ComputeSource, hierarchy: ResourceManagerBackend | None = None
    ) -> None:
        self._lock = threading.RLock()
        self._compute = compute
        self._hierarchy = hierarchy or ResourceManagerBackend()
        self.staleness_seconds = 0.0
        self._index: list[Resource] = []
        self._indexed_at: float | None = None

    def reset(self) -> None:
        with self._lock:
            self.staleness_seconds = 0.0
            self._index, self._indexed_at = [], None

    def set_staleness(self, seconds: float) -> None:
        if seconds < 0:
            raise InvalidArgument("staleness must not be negative")
        with self._lock:
            self.staleness_seconds = float(seconds)

    def sync(self) -> float:
        """Take the index again now; when it was taken (fake Compute clock)."""
        with self._lock:
            self._rebuild(self._compute.now())
            assert self._indexed_at is not None
            return self._indexed_at

    def indexed_at(self) -> float | None:
        with self._lock:
            return self._indexed_at

    def _current(self) -> list[Resource]:
        now = self._compute.now()
        if self._indexed_at is None or now - self._indexed_at >= self.staleness_seconds:
            self._rebuild(now)
        return self._index

    def _rebuild(self, now: float) -> None:
        disks, snapshots = self._compute.inventory()
        projects = {record.project_id: record for record in self._hierarchy.project_records()}
        index = [_project(record) for record in projects.values()]
        index += [_disk(body, projects.get(_project_of(body))) for body in disks]
        index += [_snapshot(body, projects.get(_project_of(body))) for body in snapshots]
        self._index, self._indexed_at = index, now

    def search(
        self,
        scope: str,
        query: str,
        asset_types: Iterable[str],
        page_size: int,
        token: str,
        order_by: str = "",
    ) -> tuple[list[Resource], str]:
        """searchAllResources: the resources under `scope` that match `query` and one of
        `asset_types` (regular expressions; none: every type), by name."""
        if not _SCOPE.match(scope):
            raise InvalidArgument(
                f"Invalid scope {scope!r}: expected projects/{{PROJECT}}, folders/{{NUMBER}} "
                "or organizations/{NUMBER}"
            )
        if order_by:
            raise InvalidArgument("orderBy is not supported by this local fake")
        if not scope.startswith("projects/") and not self._hierarchy.exists(scope):
            raise PermissionDenied(
                f"The caller does not have permission to search resources under {scope}"
            )
        matches_type = _type_matcher(asset_types)
        matches = _query_matcher(query)
        size = MAX_PAGE_SIZE if page_size > MAX_PAGE_SIZE else page_size
        size = size if size > 0 else DEFAULT_PAGE_SIZE
        with self._lock:
            found = [
                r
                for r in self._current()
                if r.in_scope(scope) and matches_type(r.asset_type) and matches(r)
            ]
        try:
            page = paginate(
                found, lambda r: (r.name,), scope=f"{scope}|{query}", size=size, token=token
            )
        except BadPageToken as error:
            raise InvalidArgument(f"Invalid page token: {token!r}") from error
        return page.items, page.next_token


def _project_of(body: Mapping[str, Any]) -> str:
    return str(body["selfLink"]).split("/projects/", 1)[1].split("/", 1)[0]


def _place(record: ProjectRecord | None) -> tuple[str, tuple[str, ...]]:
    return (record.name, record.ancestors) if record else ("", ())


def _project(record: ProjectRecord) -> Resource:
    return Resource(
        name=CRM_PREFIX + record.name,
        asset_type=PROJECT,
        project_id=record.project_id,
        project_number=record.name,
        ancestors=record.ancestors,
        display_name=record.display_name,
        location="global",
        state=record.state,
        created=record.created,
        labels=record.labels,
        attributes={"projectId": record.project_id},
    )


def _compute_resource(
    body: Mapping[str, Any], asset_type: str, location: str, record: ProjectRecord | None
) -> Resource:
    number, ancestors = _place(record)
    link = str(body["selfLink"])
    return Resource(
        name=COMPUTE_PREFIX + link.split("/compute/v1/", 1)[1],
        asset_type=asset_type,
        project_id=_project_of(body),
        project_number=number,
        ancestors=ancestors,
        display_name=str(body["name"]),
        location=location,
        state=str(body["status"]),
        created=parse_time(str(body["creationTimestamp"])),
        labels=dict(body.get("labels") or {}),
        attributes={"id": str(body["id"])},
    )


def _disk(body: Mapping[str, Any], record: ProjectRecord | None) -> Resource:
    where = str(body.get("zone") or body.get("region", "")).rsplit("/", 1)[-1]
    return _compute_resource(body, DISK, where, record)


def _snapshot(body: Mapping[str, Any], record: ProjectRecord | None) -> Resource:
    return _compute_resource(body, SNAPSHOT, "global", record)


def _type_matcher(asset_types: Iterable[str]) -> Callable[[str], bool]:
    try:
        patterns = [re.compile(t) for t in asset_types]
    except re.error as error:
        raise InvalidArgument(f"Invalid asset type pattern: {error}") from error
    if not patterns:
        return lambda asset_type: True
    return lambda asset_type: any(p.fullmatch(asset_type) for p in patterns)


def _query_matcher(query: str) -> Callable[[Resource], bool]:
    """The query language's subset this fake reads: terms joined by spaces or AND, each
    `labels.KEY:VALUE` (a word of the value), `labels.KEY=VALUE` (the value),
    `labels.KEY:*` (has the key), `state`/`location`/`name`/`displayName` with : or =,
    and `createTime` with > >= < <= (epoch seconds or RFC 3339); `-` negates a term.
    Anything else is refused rather than matched loosely."""
    tests: list[Callable[[Resource], bool]] = []
    for raw in query.replace(" AND ", " ").split():
        term = _TERM.match(raw)
        if term is None:
            raise InvalidArgument(f"Invalid query: {raw!r} is not FIELD:VALUE")
        negate, key, operator, value = term.groups()
        test = _term(key, operator, value.strip('"'))
        tests.append((lambda t: lambda r: not t(r))(test) if negate else test)
    return lambda resource: all(test(resource) for test in tests)


def _contains(text: str, value: str, operator: str) -> bool:
    text, value = text.lower(), value.lower()
    if operator == "=":
        return text == value
    if value == "*":
        return True
    if value.endswith("*"):
        return any(word.startswith(value[:-1]) for word in _WORD.split(text)) or text.startswith(
            value[:-1]
        )
    return text == value or value in _WORD.split(text)


def _term(key: str, operator: str, value: str) -> Callable[[Resource], bool]:
    if key == "createTime":
        if operator in (":", "="):
            raise InvalidArgument("Invalid query: createTime takes > >= < <=")
        moment = _moment(value)
        compare: dict[str, Callable[[float], bool]] = {
            ">": lambda t: t > moment,
            ">=": lambda t: t >= moment,
            "<": lambda t: t < moment,
            "<=": lambda t: t <= moment,
        }
        return lambda r: compare[operator](r.created)
    if operator not in (":", "="):
        raise InvalidArgument(f"Invalid query: {key} takes : or =")
    if key.startswith("labels."):
        label = key.split(".", 1)[1]
        return lambda r: label in r.labels and _contains(r.labels[label], value, operator)
    fields: dict[str, Callable[[Resource], str]] = {
        "state": lambda r: r.state,
        "location": lambda r: r.location,
        "name": lambda r: r.name,
        "displayName": lambda r: r.display_name,
    }
    if key not in fields:
        raise InvalidArgument(f"Invalid query: field {key!r} is not searchable here")
    get = fields[key]
    return lambda r: _contains(get(r), value, operator)


def _moment(value: str) -> float:
    if value.isdigit():
        return float(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidArgument(f"Invalid query: {value!r} is not a time") from error
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()

"""The resource hierarchy: an organization, folders in it (nested), projects in folders
or in the organization, each with its lifecycle state.

Reads answer as Cloud Resource Manager v3 does: `list` is by one parent and strongly
consistent, ACTIVE only unless `showDeleted`; an unknown or inaccessible resource is a
403 PERMISSION_DENIED (the real API does not say whether it exists).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..paging import BadPageToken, paginate
from ..rpc import InvalidArgument, PermissionDenied

ACTIVE = "ACTIVE"
DELETE_REQUESTED = "DELETE_REQUESTED"
# The v3 State enum, for clients that ask for enums as numbers.
STATE_NUMBERS = {"STATE_UNSPECIFIED": 0, ACTIVE: 1, DELETE_REQUESTED: 2}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
FIRST_NUMBER = 100_000_000_001
_PROJECT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_NUMBER = re.compile(r"^[1-9][0-9]{0,18}$")
_PARENT = re.compile(r"^(folders|organizations)/([1-9][0-9]*)$")
# projects.search: "field:value" terms joined by spaces or AND.
_TERM = re.compile(r"^([A-Za-z.]+[A-Za-z0-9_.-]*)[:=](.+)$")


def denied(name: str) -> PermissionDenied:
    return PermissionDenied(f"Permission denied on resource '{name}' (or it may not exist).")


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Node:
    """An organization, folder or project: `name` is organizations/N, folders/N or
    projects/NUMBER."""

    name: str
    parent: str  # "" for an organization
    display_name: str
    created: float
    state: str = ACTIVE
    project_id: str = ""  # projects only
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self, enums_as_ints: bool) -> dict[str, Any]:
        state: str | int = STATE_NUMBERS[self.state] if enums_as_ints else self.state
        body: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "state": state,
            "createTime": _timestamp(self.created),
            "etag": f'W/"{self.name}-{self.state}"',
        }
        if self.parent:
            body["parent"] = self.parent
        if self.project_id:
            body["projectId"] = self.project_id
            body["labels"] = dict(self.labels)
        if self.name.startswith("organizations/"):
            body["directoryCustomerId"] = "C0fake" + self.name.split("/")[1][-4:]
        return body


class ResourceManagerBackend:
    """Every public method takes the lock."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._lock = threading.RLock()
        self._clock = clock or (lambda: datetime.now(UTC).timestamp())
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._nodes: dict[str, Node] = {}
            self._by_project_id: dict[str, str] = {}  # projectId -> projects/NUMBER
            self._numbers = itertools.count(FIRST_NUMBER)

    # --- seeding (the admin API)

    def _number(self, spec: Mapping[str, Any]) -> str:
        number = str(spec.get("number") or next(self._numbers))
        if not _NUMBER.match(number):
            raise InvalidArgument(f"{number!r} is not a resource number")
        return number

    def _add(self, node: Node) -> dict[str, Any]:
        if node.name in self._nodes:
            raise InvalidArgument(f"{node.name} already exists")
        if node.parent and node.parent not in self._nodes:
            raise InvalidArgument(f"parent {node.parent} does not exist")
        self._nodes[node.name] = node
        return node.to_json(False)

    def seed_organization(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            number = self._number(spec)
            name = f"organizations/{number}"
            return self._add(Node(name, "", str(spec.get("displayName", name)), self._clock()))

    def seed_folder(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            parent = str(spec.get("parent", ""))
            if not _PARENT.match(parent):
                raise InvalidArgument("a folder's parent is folders/N or organizations/N")
            name = f"folders/{self._number(spec)}"
            node = Node(name, parent, str(spec.get("displayName", name)), self._clock())
            node.state = _state(spec.get("state", ACTIVE))
            return self._add(node)

    def seed_project(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            project_id = str(spec.get("projectId", ""))
            if not _PROJECT_ID.match(project_id):
                raise InvalidArgument(f"{project_id!r} is not a valid project id")
            if project_id in self._by_project_id:
                raise InvalidArgument(f"project {project_id} already exists")
            parent = str(spec.get("parent", ""))
            if parent and not _PARENT.match(parent):
                raise InvalidArgument("a project's parent is folders/N or organizations/N")
            name = f"projects/{self._number(spec)}"
            labels = {str(k): str(v) for k, v in (spec.get("labels") or {}).items()}
            node = Node(
                name,
                parent,
                str(spec.get("displayName", project_id)),
                self._clock(),
                state=_state(spec.get("state", ACTIVE)),
                project_id=project_id,
                labels=labels,
            )
            created = self._add(node)
            self._by_project_id[project_id] = name
            return created

    def set_state(self, name: str, state: str) -> dict[str, Any]:
        """Mark a project or folder DELETE_REQUESTED (as projects.delete does) or ACTIVE."""
        with self._lock:
            node = self._node(name)
            node.state = _state(state)
            return node.to_json(False)

    # --- the API

    def _node(self, name: str) -> Node:
        if name.startswith("projects/") and name.split("/", 1)[1] in self._by_project_id:
            name = self._by_project_id[name.split("/", 1)[1]]
        node = self._nodes.get(name)
        if node is None:
            raise denied(name)
        return node

    def get(self, kind: str, name: str) -> Node:
        """projects.get (by number or id), folders.get, organizations.get."""
        with self._lock:
            node = self._node(name)
            if not node.name.startswith(kind + "/"):
                raise denied(name)
            return node

    def list_children(
        self, kind: str, parent: str, show_deleted: bool, page_size: int, token: str
    ) -> tuple[list[Node], str]:
        """projects.list or folders.list: the direct children of one parent."""
        if not parent:
            raise InvalidArgument("parent: must be specified, as folders/N or organizations/N")
        if not _PARENT.match(parent):
            raise InvalidArgument(f"parent: {parent!r} is not folders/N or organizations/N")
        with self._lock:
            self._node(parent)
            children = [
                node
                for node in self._nodes.values()
                if node.parent == parent
                and node.name.startswith(kind + "/")
                and (show_deleted or node.state == ACTIVE)
            ]
            return self._page(children, f"{kind}:{parent}:{show_deleted}", page_size, token)

    def search_projects(self, query: str, page_size: int, token: str) -> tuple[list[Node], str]:
        """projects.search over every project (this fake's caller sees them all)."""
        match = _query_matcher(query)
        with self._lock:
            found = [node for node in self._nodes.values() if node.project_id and match(node)]
            return self._page(found, f"search:{query}", page_size, token)

    def _page(
        self, nodes: Iterable[Node], scope: str, page_size: int, token: str
    ) -> tuple[list[Node], str]:
        if page_size < 0:
            raise InvalidArgument("page_size: must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            page = paginate(nodes, lambda n: (n.name,), scope=scope, size=size, token=token)
        except BadPageToken as error:
            raise InvalidArgument("page_token: invalid page token") from error
        return page.items, page.next_token

    # --- for the other fakes in the same process (Cloud Asset Inventory)

    def project_records(self) -> list[ProjectRecord]:
        with self._lock:
            return [self._record(node) for node in self._nodes.values() if node.project_id]

    def project_record(self, project_id: str) -> ProjectRecord | None:
        with self._lock:
            name = self._by_project_id.get(project_id)
            return self._record(self._nodes[name]) if name else None

    def exists(self, name: str) -> bool:
        with self._lock:
            try:
                self._node(name)
            except PermissionDenied:
                return False
            return True

    def _record(self, node: Node) -> ProjectRecord:
        ancestors = []
        parent = node.parent
        while parent:
            ancestors.append(parent)
            parent = self._nodes[parent].parent
        return ProjectRecord(
            node.name,
            node.project_id,
            tuple(ancestors),
            dict(node.labels),
            node.state,
            node.display_name,
            node.created,
        )


@dataclass(frozen=True)
class ProjectRecord:
    """A project and its place in the hierarchy, for the Asset fake."""

    name: str  # projects/NUMBER
    project_id: str
    ancestors: tuple[str, ...]  # nearest first: folders/..., organizations/...
    labels: dict[str, str]
    state: str
    display_name: str
    created: float


def _state(value: Any) -> str:
    if value not in (ACTIVE, DELETE_REQUESTED):
        raise InvalidArgument(f"state must be {ACTIVE} or {DELETE_REQUESTED}, not {value!r}")
    return str(value)


def _query_matcher(query: str) -> Callable[[Node], bool]:
    """projects.search's query: `parent:folders/N`, `parent.type:folder parent.id:N`,
    `id:`, `name:`, `state:`, `labels.KEY:VALUE`, joined by spaces or AND. Anything else
    is refused, so that a query this fake does not understand never matches silently."""
    tests: list[Callable[[Node], bool]] = []
    for raw in query.replace(" AND ", " ").split():
        term = _TERM.match(raw)
        if term is None:
            raise InvalidArgument(f"Invalid query: {raw!r}")
        key, value = term.group(1), term.group(2)
        tests.append(_term(key, value))
    return lambda node: all(test(node) for test in tests)


def _term(key: str, value: str) -> Callable[[Node], bool]:
    lowered = value.lower()
    fields: dict[str, Callable[[Node], bool]] = {
        "parent": lambda n: n.parent == value,
        "parent.type": lambda n: (
            n.parent.startswith(lowered.rstrip("s") + "s/")
            if lowered in ("folder", "organization")
            else False
        ),
        "parent.id": lambda n: n.parent.split("/")[-1] == value,
        "id": lambda n: n.project_id == value,
        "projectId": lambda n: n.project_id == value,
        "name": lambda n: n.display_name.lower() == lowered,
        "displayName": lambda n: n.display_name.lower() == lowered,
        "state": lambda n: n.state == value.upper(),
    }
    if key.startswith("labels."):
        label = key.split(".", 1)[1]
        return lambda n: label in n.labels and (value == "*" or n.labels[label] == value)
    if key not in fields:
        raise InvalidArgument(f"Invalid query: unknown field {key!r}")
    return fields[key]

"""The projects of a deployment: TARGET_PROJECTS, and every ACTIVE project under
TARGET_FOLDERS and TARGET_ORGANIZATION (recursively), minus EXCLUDE_PROJECTS.

Found through Cloud Resource Manager's projects.list and folders.list by parent, which
are strongly consistent (projects.search is not): a tick sees a project created,
moved or deleted a moment before. Cost per tick: for each folder under a root (and the
root) one folders.list and one projects.list, a page per PAGE_SIZE children.

A message that names a project (a work item, a retry tick) is checked by its ancestry
instead: projects.get, then folders.get up to a root, cached per process for
ANCESTRY_TTL_SECONDS, so the snapshot function asks once per project, not per disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from google.api_core import exceptions as gexc

from snapkeeper import clients
from snapkeeper.compute import LIST_RETRY, as_compute_error
from snapkeeper.config import Config
from snapkeeper.errors import ApiError, NotAllowed, Outcome

PAGE_SIZE = 500
CALL_TIMEOUT = 30.0
ANCESTRY_TTL_SECONDS = 600.0
ACTIVE = "ACTIVE"
# A folder tree deeper than this is a loop in the answers, not a real hierarchy (the
# real limit is 10 levels of folders).
MAX_DEPTH = 32
_T = TypeVar("_T")
CacheKey = tuple[str | None, tuple[str, ...], str]


@dataclass(frozen=True)
class Ancestry:
    active: bool  # the project and every folder above it
    ancestors: tuple[str, ...]  # nearest first: folders/..., organizations/...


def _state(resource: Any) -> str:
    return str(getattr(resource.state, "name", resource.state))


class Hierarchy:
    """The few Resource Manager calls snapkeeper makes. Raises ApiError only."""

    def __init__(self, emulator_host: str | None = None, timeout: float = CALL_TIMEOUT) -> None:
        self._clients = clients.resource_manager(emulator_host)
        self._timeout = timeout

    def _call(self, action: str, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except Exception as exc:  # every failure is classified, none escapes raw
            error = as_compute_error(exc, action)
            outcome = error.outcome
            if outcome in (Outcome.GONE, Outcome.DONE):  # no 404/409 is "done" here
                outcome = Outcome.PERMANENT
            raise ApiError(str(error), outcome=outcome) from exc

    def _children(self, client: Any, method: str, parent: str) -> list[Any]:
        request = {"parent": parent, "page_size": PAGE_SIZE}
        return self._call(
            f"{method} of {parent}",
            lambda: list(
                getattr(client, method)(request=request, retry=LIST_RETRY, timeout=self._timeout)
            ),
        )

    def projects_under(self, root: str) -> list[str]:
        """The ids of every ACTIVE project under `root` (folders/N or organizations/N),
        through every ACTIVE folder below it."""
        found: list[str] = []
        level, depth = [root], 0
        while level:
            if depth > MAX_DEPTH:
                raise ApiError(
                    f"folders under {root} nest deeper than {MAX_DEPTH}", outcome=Outcome.PERMANENT
                )
            below: list[str] = []
            for parent in level:
                projects = self._children(self._clients.projects, "list_projects", parent)
                found += [p.project_id for p in projects if _state(p) == ACTIVE]
                folders = self._children(self._clients.folders, "list_folders", parent)
                below += [f.name for f in folders if _state(f) == ACTIVE]
            level, depth = below, depth + 1
        return found

    def _get(self, what: str, call: Callable[[], _T]) -> _T | None:
        """A get, or None when Resource Manager answers 403 (it does for a resource that
        does not exist as for one we may not see) or 404."""
        try:
            return self._call(f"get {what}", call)
        except ApiError as exc:
            if isinstance(exc.__cause__, gexc.Forbidden | gexc.NotFound):
                return None
            raise

    def ancestry(self, project: str, roots: Collection[str] = ()) -> Ancestry | None:
        """Where a project sits, up to the first of `roots` (above it the deployment's
        account may see nothing), or None when the project cannot be seen."""
        node = self._get(
            f"project {project}",
            lambda: self._clients.projects.get_project(
                name=f"projects/{project}", retry=LIST_RETRY, timeout=self._timeout
            ),
        )
        if node is None:
            return None
        active = _state(node) == ACTIVE
        ancestors: list[str] = []
        parent = str(node.parent)
        while parent.startswith("folders/") and parent not in roots:
            if len(ancestors) > MAX_DEPTH:
                break
            ancestors.append(parent)
            folder = self._get(
                parent,
                lambda name=parent: self._clients.folders.get_folder(  # type: ignore[misc]
                    name=name, retry=LIST_RETRY, timeout=self._timeout
                ),
            )
            if folder is None:  # out of sight: not under a root we were granted
                return Ancestry(active, tuple(ancestors))
            active = active and _state(folder) == ACTIVE
            parent = str(folder.parent)
        if parent:
            ancestors.append(parent)
        return Ancestry(active, tuple(ancestors))


class _AncestryCache:
    """Per process: (endpoint, roots, project) -> (expiry, ancestry)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[CacheKey, tuple[float, Ancestry | None]] = {}

    def get(self, key: CacheKey) -> tuple[bool, Ancestry | None]:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: CacheKey, value: Ancestry | None) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic() + ANCESTRY_TTL_SECONDS, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


ANCESTRY_CACHE = _AncestryCache()


class Scope:
    """Which projects a deployment covers. Without folders or an organization it is
    TARGET_PROJECTS as it stands, and asks nothing."""

    def __init__(self, config: Config, hierarchy: Hierarchy | None = None) -> None:
        self.config = config
        self._hierarchy = hierarchy
        self._resolved: frozenset[str] | None = None

    @property
    def hierarchy(self) -> Hierarchy:
        if self._hierarchy is None:
            self._hierarchy = Hierarchy(
                self.config.endpoints.resource_manager, self.config.compute_timeout_seconds
            )
        return self._hierarchy

    @property
    def dynamic(self) -> bool:
        return bool(self.config.roots)

    def projects(self) -> list[str]:
        """Every project covered, sorted: resolved on the first call of this scope, which
        lives for one tick or one command (raises ApiError)."""
        if self._resolved is None:
            found = set(self.config.target_projects)
            for root in self.config.roots:
                found.update(self.hierarchy.projects_under(root))
            self._resolved = frozenset(found - self.config.exclude_projects)
        return sorted(self._resolved)

    def allows(self, project: str) -> bool:
        """Whether a project is covered; may ask for its ancestry (raises ApiError on a
        failed call, so that the message is retried rather than refused)."""
        if self.config.allows(project):
            return True
        if not self.dynamic or project in self.config.exclude_projects:
            return False
        if self._resolved is not None:
            return project in self._resolved
        key = (self.config.endpoints.resource_manager, self.config.roots, project)
        known, ancestry = ANCESTRY_CACHE.get(key)
        if not known:
            ancestry = self.hierarchy.ancestry(project, self.config.roots)
            ANCESTRY_CACHE.put(key, ancestry)
        return bool(
            ancestry and ancestry.active and set(ancestry.ancestors).intersection(self.config.roots)
        )

    def require(self, project: str) -> None:
        """Raise NotAllowed, naming the settings that decide, unless a project is covered."""
        if not self.allows(project):
            raise NotAllowed(self.refusal(project))

    def refusal(self, project: str) -> str:
        """Why a project is refused, naming the settings that decide."""
        if project in self.config.exclude_projects:
            return f"project {project} is in EXCLUDE_PROJECTS"
        if self.dynamic:
            return (
                f"project {project} is not in TARGET_PROJECTS nor an ACTIVE project under "
                f"TARGET_FOLDERS/TARGET_ORGANIZATION ({', '.join(self.config.roots)})"
            )
        return f"project {project} is not in TARGET_PROJECTS"

"""The IAM permission each API method needs, and the real 403 when a project denies it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from . import errors
from .models import Project

PERMISSIONS: Mapping[str, str] = {
    "compute.projects.get": "compute.projects.get",
    "compute.disks.aggregatedList": "compute.disks.list",
    "compute.disks.list": "compute.disks.list",
    "compute.disks.get": "compute.disks.get",
    "compute.disks.insert": "compute.disks.create",
    "compute.regionDisks.list": "compute.disks.list",
    "compute.regionDisks.get": "compute.disks.get",
    "compute.regionDisks.insert": "compute.disks.create",
    "compute.disks.delete": "compute.disks.delete",
    "compute.regionDisks.delete": "compute.disks.delete",
    "compute.disks.setLabels": "compute.disks.setLabels",
    "compute.regionDisks.setLabels": "compute.disks.setLabels",
    "compute.instances.aggregatedList": "compute.instances.list",
    "compute.instances.list": "compute.instances.list",
    "compute.instances.get": "compute.instances.get",
    "compute.disks.createSnapshot": "compute.disks.createSnapshot",
    "compute.regionDisks.createSnapshot": "compute.disks.createSnapshot",
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
# disks.insert from a snapshot also needs this one on the snapshot (its project may differ).
RESTORE_SOURCE_PERMISSION = "compute.snapshots.useReadOnly"
_PERMISSION = re.compile(r"[a-z][A-Za-z]*\.[A-Za-z]+\.[A-Za-z]+")


def permission_of(api_method: str) -> str:
    return PERMISSIONS.get(api_method, api_method)


def check_permission(project: Project, permission: str, resource: str | None) -> None:
    """The real 403 when the project does not grant `permission` to the caller; it names
    `resource` (default: the project), as the real message does."""
    if not project.accessible or permission in project.denied_permissions:
        raise errors.Forbidden.permission(permission, resource or f"projects/{project.name}")


def validate_denied(denied_permissions: Iterable[str]) -> list[str]:
    """Sorted, distinct IAM permission names, or Invalid."""
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
    return sorted(set(denied))

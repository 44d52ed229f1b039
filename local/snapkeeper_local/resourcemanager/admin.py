"""A small client for the fake's admin API: seed a hierarchy, change lifecycle states."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..jsonapi import AdminClient


class ResourceManagerAdmin(AdminClient):
    def organization(self, number: str, display_name: str = "") -> str:
        """Add an organization; its name, organizations/NUMBER."""
        body = {"number": number, "displayName": display_name or f"org {number}"}
        return str(self.call("POST", "organizations", body)["name"])

    def folder(self, parent: str, display_name: str, number: str = "") -> str:
        """Add a folder under folders/N or organizations/N; its name, folders/NUMBER."""
        body: dict[str, Any] = {"parent": parent, "displayName": display_name}
        if number:
            body["number"] = number
        return str(self.call("POST", "folders", body)["name"])

    def project(
        self,
        project_id: str,
        parent: str,
        *,
        labels: Mapping[str, str] | None = None,
        state: str = "ACTIVE",
    ) -> str:
        """Add a project; its name, projects/NUMBER."""
        body = {"projectId": project_id, "parent": parent, "labels": dict(labels or {})}
        body["state"] = state
        return str(self.call("POST", "projects", body)["name"])

    def set_state(self, name: str, state: str) -> None:
        """ACTIVE or DELETE_REQUESTED (what projects.delete leaves for 30 days)."""
        self.call("POST", "state", {"name": name, "state": state})

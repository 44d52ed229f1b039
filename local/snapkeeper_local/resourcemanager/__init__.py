"""A local fake of the Cloud Resource Manager v3 REST API: the organization, its folders
and projects with their lifecycle states, in the compute fake's shape: `routes` (the
route table) → `app` (thin handlers) → `backend` (the hierarchy) → errors with the
google.rpc codes (`..rpc`).

The unmodified `google-cloud-resource-manager` clients work against it with
transport="rest" and `client_options={"api_endpoint": f"http://{RESOURCE_MANAGER_EMULATOR_HOST}"}`.

API methods served (projects.search answers at once here, though the real one is
eventually consistent):

- cloudresourcemanager.projects.list, .search, .get
- cloudresourcemanager.folders.list, .get
- cloudresourcemanager.organizations.get

The admin API under `/_fake/` (health, reset, requests, organizations, folders, projects,
state) has a Python client, `ResourceManagerAdmin`.
"""

from __future__ import annotations

from .admin import ResourceManagerAdmin
from .backend import ACTIVE, DELETE_REQUESTED, ResourceManagerBackend
from .server import ResourceManagerServer

__all__ = [
    "ACTIVE",
    "DELETE_REQUESTED",
    "ResourceManagerAdmin",
    "ResourceManagerBackend",
    "ResourceManagerServer",
]

"""A local fake of Cloud Asset Inventory's searchAllResources (v1 REST), in the compute
fake's shape: `routes` → `app` (thin handlers) → `backend` (the index) → errors with the
google.rpc codes (`..rpc`).

Its disks and snapshots are those of a fake Compute Engine backend and its projects,
folders and organization those of a fake Resource Manager backend in the same process,
so what it reports is the fleet's real state, as of the index's age: the index is taken
again once older than the staleness set through the admin API (default 0: always fresh).

The unmodified `google-cloud-asset` client works against it with transport="rest" and
`client_options={"api_endpoint": f"http://{CLOUD_ASSET_EMULATOR_HOST}"}`. Asset types
indexed: compute.googleapis.com/Disk, compute.googleapis.com/Snapshot,
cloudresourcemanager.googleapis.com/Project; pages of at most 500.

API methods served:

- cloudasset.searchAllResources (its query language in part: see `backend`)

The admin API under `/_fake/` (health, reset, requests, staleness, sync) has a Python
client, `AssetAdmin`.
"""

from __future__ import annotations

from .admin import AssetAdmin
from .backend import DISK, PROJECT, SNAPSHOT, AssetBackend
from .server import AssetServer

__all__ = ["DISK", "PROJECT", "SNAPSHOT", "AssetAdmin", "AssetBackend", "AssetServer"]

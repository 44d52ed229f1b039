"""Thin handlers: path parameters, query and body to the backend, its nodes to JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..jsonapi import Call, Handler, JsonApiApp, RequestLog
from .backend import Node, ResourceManagerBackend
from .routes import build_map

METHODS = "cloudresourcemanager"


def _listing(key: str, nodes: list[Node], next_token: str, call: Call) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if nodes:
        payload[key] = [node.to_json(call.enums_as_ints) for node in nodes]
    if next_token:
        payload["nextPageToken"] = next_token
    return payload


def api_handlers(backend: ResourceManagerBackend) -> Mapping[str, Handler]:
    def children(kind: str) -> Handler:
        def handler(call: Call) -> dict[str, Any]:
            nodes, token = backend.list_children(
                kind,
                call.query.get("parent", ""),
                call.boolean("showDeleted"),
                call.integer("pageSize"),
                call.query.get("pageToken", ""),
            )
            return _listing(kind, nodes, token, call)

        return handler

    def search(call: Call) -> dict[str, Any]:
        nodes, token = backend.search_projects(
            call.query.get("query", ""), call.integer("pageSize"), call.query.get("pageToken", "")
        )
        return _listing("projects", nodes, token, call)

    def get(kind: str, arg: str) -> Handler:
        return lambda call: backend.get(kind, f"{kind}/{call.args[arg]}").to_json(
            call.enums_as_ints
        )

    return {
        f"{METHODS}.projects.list": children("projects"),
        f"{METHODS}.projects.search": search,
        f"{METHODS}.projects.get": get("projects", "project"),
        f"{METHODS}.folders.list": children("folders"),
        f"{METHODS}.folders.get": get("folders", "folder"),
        f"{METHODS}.organizations.get": get("organizations", "organization"),
    }


def admin_handlers(backend: ResourceManagerBackend) -> Mapping[str, Handler]:
    return {
        "seed_organization": lambda call: backend.seed_organization(call.body()),
        "seed_folder": lambda call: backend.seed_folder(call.body()),
        "seed_project": lambda call: backend.seed_project(call.body()),
        "set_state": lambda call: backend.set_state(
            str(call.body().get("name", "")), call.body().get("state")
        ),
    }


def create_app(backend: ResourceManagerBackend, log: RequestLog) -> JsonApiApp:
    api, admin = api_handlers(backend), admin_handlers(backend)
    return JsonApiApp("Cloud Resource Manager", build_map(), api, admin, backend.reset, log)

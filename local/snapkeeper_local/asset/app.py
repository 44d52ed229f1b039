"""Thin handlers: scope, query, asset types and paging to the backend, results to JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..jsonapi import Call, Handler, JsonApiApp, RequestLog
from .backend import AssetBackend
from .routes import SEARCH, build_map


def api_handlers(backend: AssetBackend) -> Mapping[str, Handler]:
    def search(call: Call) -> dict[str, Any]:
        results, token = backend.search(
            f"{call.args['kind']}/{call.args['scope']}",
            call.query.get("query", ""),
            call.query_list("assetTypes"),
            call.integer("pageSize"),
            call.query.get("pageToken", ""),
            call.query.get("orderBy", ""),
        )
        payload: dict[str, Any] = {}
        if results:
            payload["results"] = [r.to_json() for r in results]
        if token:
            payload["nextPageToken"] = token
        return payload

    return {SEARCH: search}


def admin_handlers(backend: AssetBackend) -> Mapping[str, Handler]:
    def staleness(call: Call) -> dict[str, Any]:
        backend.set_staleness(float(call.body().get("seconds", 0)))
        return {"seconds": backend.staleness_seconds}

    return {
        "staleness": staleness,
        "sync": lambda call: {"indexedAt": backend.sync()},
    }


def create_app(backend: AssetBackend, log: RequestLog) -> JsonApiApp:
    api, admin = api_handlers(backend), admin_handlers(backend)
    return JsonApiApp("Cloud Asset Inventory", build_map(), api, admin, backend.reset, log)

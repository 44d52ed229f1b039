"""The list methods' rules: filter, orderBy, maxResults and page tokens, and the list and
aggregatedList response shapes (with a warning for each scope that has nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import paging
from . import errors
from .clock import parse_time
from .filters import FilterError, Node, parse_filter
from .validation import int_field, self_link

MAX_RESULTS = 500
ORDER_FIELDS = ("name", "creationTimestamp")

# (scope, resource JSON): what a list is made of; aggregated lists group by the scope.
Entry = tuple[str, dict[str, Any]]


def page(entries: Iterable[Entry], query: Mapping[str, str]) -> paging.Page[Entry]:
    """Filter, order and cut (scope, item) pairs into one page."""
    try:
        predicate: Node = parse_filter(query.get("filter"))
    except FilterError as exc:
        raise errors.Invalid.field(
            "filter", query.get("filter"), f"Invalid list filter expression: {exc}."
        ) from exc
    max_results = int_field(query.get("maxResults"), "maxResults", MAX_RESULTS) or MAX_RESULTS
    if max_results > MAX_RESULTS:
        # The documented range is 0..500; the real API refuses larger pages.
        raise errors.Invalid.field(
            "maxResults", max_results, f"Must be less than or equal to {MAX_RESULTS}"
        )
    order_field, descending = _order_by(query.get("orderBy"))

    def key(entry: Entry) -> paging.Key:
        scope, item = entry
        if order_field == "creationTimestamp":
            return (parse_time(item["creationTimestamp"]), scope, item["name"])
        if order_field == "name":
            return (item["name"], scope)
        return (scope, item["name"])  # the default: by scope, then name

    try:
        return paging.paginate(
            [entry for entry in entries if predicate.matches(entry[1])],
            key,
            # A token is good for the same filter and order only.
            scope=f"{query.get('filter')}|{query.get('orderBy')}",
            size=max_results,
            token=query.get("pageToken"),
            reverse=descending,
        )
    except paging.BadPageToken as exc:
        raise errors.Invalid.field(
            "pageToken", query.get("pageToken"), "Invalid page token."
        ) from exc


def _order_by(order_by: str | None) -> tuple[str | None, bool]:
    """(field, descending) of `orderBy=name` or `orderBy=creationTimestamp desc`."""
    if not order_by:
        return None, False
    parts = order_by.split()
    if (
        len(parts) > 2
        or (len(parts) == 2 and parts[1] not in ("asc", "desc"))
        or parts[0] not in ORDER_FIELDS
    ):
        raise errors.Invalid.field(
            "orderBy", order_by, "Supported: name, creationTimestamp [desc]."
        )
    return parts[0], parts[1:] == ["desc"]


def list_response(kind: str, path: str, found: paging.Page[Entry]) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "id": path, "selfLink": self_link(path)}
    if found.items:
        body["items"] = [item for _, item in found.items]
    if found.next_token:
        body["nextPageToken"] = found.next_token
    return body


def scope_response(
    kind: str, path: str, scope: str, items: Iterable[dict[str, Any]], query: Mapping[str, str]
) -> dict[str, Any]:
    """The list answer of one scope's resources (their JSON): filtered, ordered, paged."""
    return list_response(kind, path, page(((scope, item) for item in items), query))


def aggregated_response(
    kind: str,
    path: str,
    collection: str,
    scopes: Iterable[str],
    found: paging.Page[Entry],
    unreachable: Sequence[str] = (),
) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for scope, item in found.items:
        grouped.setdefault(scope, []).append(item)
    items: dict[str, Any] = {}
    for scope in sorted(set(scopes) | set(grouped) | set(unreachable)):
        if scope in unreachable:
            # A partial result: still 200, the scope says why it has nothing.
            items[scope] = _warning(
                "UNREACHABLE",
                f"Scope '{scope}' is unreachable; its resources are missing from this response.",
                scope,
            )
        elif scope in grouped:
            items[scope] = {collection: grouped[scope]}
        else:
            items[scope] = _warning(
                "NO_RESULTS_ON_PAGE",
                f"There are no results for scope '{scope}' on this page.",
                scope,
            )
    body: dict[str, Any] = {"kind": kind, "id": path, "items": items, "selfLink": self_link(path)}
    if found.next_token:
        body["nextPageToken"] = found.next_token
    if unreachable:
        body["unreachables"] = list(unreachable)
    return body


def _warning(code: str, message: str, scope: str) -> dict[str, Any]:
    return {
        "warning": {"code": code, "message": message, "data": [{"key": "scope", "value": scope}]}
    }

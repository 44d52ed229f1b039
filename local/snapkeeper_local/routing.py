"""One routing style for the fakes: a table of (path, HTTP method, name) rows turned into a
werkzeug Map whose endpoints are (kind, name).

For a Google API the name is the method id of its discovery document
("compute.snapshots.insert"), so a route table reads as the list of methods a fake serves
and the request logs name calls as the real API does; admin routes name a handler.
"""

from __future__ import annotations

from collections.abc import Iterable

from werkzeug.routing import BaseConverter, Map, Rule

# (path, HTTP method, API method id or handler name)
Route = tuple[str, str, str]
RouteTable = tuple[Route, ...]
Endpoint = tuple[str, str]  # (kind: "api", "admin", ..., name)


class SegmentConverter(BaseConverter):
    """A path segment that stops at a colon, where Google's REST paths start a custom
    method (`RESOURCE:getIamPolicy`), for maps that route those apart."""

    regex = "[^/:]+"


def rules(table: Iterable[Route], *, prefix: str = "", kind: str = "api") -> list[Rule]:
    return [
        Rule(prefix + path, methods=[method], endpoint=(kind, name)) for path, method, name in table
    ]


def url_map(rule_list: Iterable[Rule], *, colon_ends_segment: bool = False) -> Map:
    """A Map that neither redirects nor merges slashes: a fake answers what it is asked."""
    converters = {"default": SegmentConverter} if colon_ends_segment else None
    return Map(list(rule_list), strict_slashes=False, merge_slashes=False, converters=converters)

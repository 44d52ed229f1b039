"""Fault injection: rules that a test adds through the admin API, and what they decide
for each request (latency, an error in the API's shape, a snapshot that ends FAILED, or
scopes an aggregated list leaves out)."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from . import errors
from .validation import REGION, ZONE

# Default reason and message of an injected error, by HTTP status.
FAULT_DEFAULTS: Mapping[int, tuple[str, str]] = {
    400: ("invalid", "Invalid request."),
    403: ("forbidden", "The caller does not have permission"),
    404: ("notFound", "The resource was not found"),
    409: ("alreadyExists", "The resource already exists"),
    412: ("conditionNotMet", "Precondition failed"),
    429: ("rateLimitExceeded", "Quota exceeded for quota metric 'Queries'."),
    500: ("backendError", "Internal error. Please try again."),
    503: ("backendError", "The service is currently unavailable."),
}
FAULT_KINDS = frozenset({"error", "latency", "fail_snapshot", "unreachable"})
SNAPSHOT_INSERT = "compute.snapshots.insert"
AGGREGATED_LISTS = frozenset({"compute.disks.aggregatedList", "compute.instances.aggregatedList"})
_FAULT_SCOPE = re.compile(r"zones/(?P<zone>[^/]+)|regions/(?P<region>[^/]+)")
_PATH_PROJECT = re.compile(r"/projects/(?P<project>[^/]+)")


@dataclass
class FaultRule:
    id: str
    kind: str = "error"  # "error", "latency", "fail_snapshot" or "unreachable"
    http_method: str | None = None
    path_regex: str | None = None
    api_method: str | None = None
    body_regex: str | None = None
    status: int = 503
    reason: str | None = None
    message: str | None = None
    domain: str | None = None  # errors[0].domain of an "error"; None: "global"
    error_info: str | None = None  # reason of an ErrorInfo detail of an "error"
    scope: str | None = None  # "zones/z" or "regions/r" an "unreachable" rule leaves out
    count: int | None = None  # fire this many times, then stay quiet; None: always
    probability: float = 1.0
    seed: int = 0
    latency_seconds: float = 0.0
    fired: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def matches(self, method: str, path: str, api_method: str | None, body: str) -> bool:
        if self.kind == "fail_snapshot" and api_method != SNAPSHOT_INSERT:
            return False
        if self.kind == "unreachable" and api_method not in AGGREGATED_LISTS:
            return False
        if self.http_method and self.http_method.upper() != method.upper():
            return False
        if self.api_method and self.api_method != api_method:
            return False
        if self.path_regex and not re.search(self.path_regex, path):
            return False
        return not (self.body_regex and not re.search(self.body_regex, body))

    def fire(self) -> bool:
        """Whether the rule acts on this matching request (counts and dice)."""
        if self.count is not None and self.fired >= self.count:
            return False
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class FaultDecision:
    latency_seconds: float = 0.0
    error: errors.ComputeError | None = None
    fail_snapshot: FaultRule | None = None
    unreachable: tuple[str, ...] = ()  # scopes an aggregated list leaves out


def new_rule(spec: Mapping[str, Any]) -> FaultRule:
    """A rule from its admin JSON, or Invalid for a rule that could not act as written."""
    known = {f.name for f in fields(FaultRule)} - {"id", "fired"}
    unknown = set(spec) - known
    if unknown:
        raise errors.Invalid.field("fault", sorted(unknown), f"Known: {sorted(known)}.")
    rule = FaultRule(id=secrets.token_hex(4), **spec)
    if rule.kind not in FAULT_KINDS:
        raise errors.Invalid.field("kind", rule.kind, f"One of {sorted(FAULT_KINDS)}.")
    if not 0.0 <= rule.probability <= 1.0:
        raise errors.Invalid.field("probability", rule.probability, "Between 0 and 1.")
    _check_kind_fields(rule)
    for pattern in (rule.path_regex, rule.body_regex):
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise errors.Invalid.field("regex", pattern, str(exc)) from exc
    return rule


def _check_kind_fields(rule: FaultRule) -> None:
    """Fields that belong to one kind are refused on the others: a rule that could not act
    as written would let a test pass for the wrong reason."""
    if rule.kind == "unreachable":
        match = _FAULT_SCOPE.fullmatch(rule.scope or "")
        if match is None or not (
            ZONE.fullmatch(match["zone"] or "") or REGION.fullmatch(match["region"] or "")
        ):
            raise errors.Invalid.field(
                "scope", rule.scope, "Must be zones/<zone> or regions/<region>."
            )
    elif rule.scope is not None:
        raise errors.Invalid.field("scope", rule.scope, "Only for kind 'unreachable'.")
    if rule.kind != "error":
        for name in ("domain", "error_info"):
            if getattr(rule, name) is not None:
                raise errors.Invalid.field(name, getattr(rule, name), "Only for kind 'error'.")


def decide(
    rules: list[FaultRule], method: str, path: str, api_method: str | None, body: str
) -> FaultDecision:
    """What the matching rules do to one request; each rule that acts counts it."""
    latency, error, fail = 0.0, None, None
    unreachable: list[str] = []
    for rule in rules:
        if not rule.matches(method, path, api_method, body):
            continue
        if rule.kind == "error" and error is not None:
            continue  # the first error wins; later rules keep their count
        if not rule.fire():
            continue
        latency += rule.latency_seconds
        if rule.kind == "error":
            error = _fault_error(rule, path)
        elif rule.kind == "fail_snapshot" and fail is None:
            fail = rule
        elif rule.kind == "unreachable" and rule.scope not in unreachable:
            unreachable.append(str(rule.scope))
    return FaultDecision(latency, error, fail, tuple(unreachable))


def _fault_error(rule: FaultRule, path: str) -> errors.ComputeError:
    """The error an "error" rule answers, with defaults by HTTP status."""
    reason, message = FAULT_DEFAULTS.get(rule.status, ("backendError", "Error"))
    project = _PATH_PROJECT.search(path)
    return errors.ComputeError(
        rule.message or message,
        code=rule.status,
        reason=rule.reason or reason,
        domain=rule.domain,
        error_info=rule.error_info,
        metadata={"consumer": f"projects/{project['project']}"} if project else None,
    )

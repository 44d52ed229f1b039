"""The Compute list filter parser of the fake."""

from __future__ import annotations

from typing import Any

import pytest

from snapkeeper_local.compute.filters import FilterError, parse_filter

DISK: dict[str, Any] = {
    "name": "db-data-1",
    "status": "READY",
    "sizeGb": "100",
    "labels": {"snapshot-daily": "7", "env": "prod", "team_a": "x y"},
    "users": ["https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/vm"],
    "autoCreated": False,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("", True),
        ("labels.snapshot-daily:*", True),
        ("labels.snapshot-weekly:*", False),
        ("labels.env=prod", True),
        ("labels.env = prod", True),
        ('labels.env = "prod"', True),
        ('labels.env="staging"', False),
        ("labels.env != prod", False),
        ("labels.env != staging", True),
        ("labels.missing != x", True),  # an absent field differs from any value
        ("labels.missing = x", False),
        ('labels.team_a = "x y"', True),
        ("labels:env", True),  # `:` on a map: the key is present
        ("labels:nope", False),
        ("name:data", True),  # `:` on a string: substring
        ("name:nope", False),
        ("name = db-*", True),  # `*` wildcard in equality
        ("name = web-*", False),
        ('name eq "db-.*"', True),
        ("name eq db", False),  # a regex must match the whole value
        ("name ne db", True),
        ("status = READY", True),
        ("status = CREATING", False),
        ("autoCreated = false", True),
        ("sizeGb = 100", True),
        ("(labels.env = prod) (status = READY)", True),  # implicit AND
        ("(labels.env = prod) (status = FAILED)", False),
        ("(labels.env = prod) AND (status = FAILED)", False),
        ("(labels.env = dev) OR (status = READY)", True),
        ("(labels.env = dev) OR (status = FAILED)", False),
        ("NOT labels.env = prod", False),
        ("NOT (labels.env = prod)", False),
        ("-labels.env = prod", False),
        ("-(status = FAILED)", True),
        # OR binds tighter than AND: a AND (b OR c)
        ("(status = FAILED) AND (name:db) OR (name:x)", False),
        ("(status = READY) AND (name:x) OR (name:db)", True),
        ("((labels.env = prod) OR (labels.env = dev)) AND (labels.snapshot-daily:*)", True),
        ("((labels.env = prod) (status = READY)) OR (name:x)", True),
        ("(labels.env = prod) -(status = FAILED)", True),
    ],
)
def test_filter_matches(expression: str, expected: bool) -> None:
    assert parse_filter(expression).matches(DISK) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "labels.env =",
        "= prod",
        "(labels.env = prod",
        "labels.env = prod)",
        "labels.env prod",
        'labels.env = "unterminated',
        "name eq (",
        'name eq "(["',
        "AND labels.env = prod",
        "labels.env = AND",
        "()",
    ],
)
def test_filter_rejects_malformed_expressions(expression: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(expression)


def test_quoted_values_keep_escaped_quotes() -> None:
    resource = {"description": 'say "hi"'}
    assert parse_filter(r'description = "say \"hi\""').matches(resource)


def test_none_matches_everything() -> None:
    assert parse_filter(None).matches({})


@pytest.mark.parametrize(
    "expression",
    [
        'labels.env = "prod" AND labels.snapshot-daily = "7"',
        'labels.env = "prod" labels.snapshot-daily = "7"',
        "labels.env = prod OR status = READY",
        "(labels.env = prod) AND status = READY",
        "labels.env = prod (status = READY)",
        "(labels.env = prod) -status = FAILED",
        "NOT labels.env = dev AND (status = READY)",
        "((labels.env = prod) status = READY)",  # the rule holds inside parentheses too
    ],
)
def test_several_expressions_need_each_their_parentheses(expression: str) -> None:
    # The real API answers these with 400 "Invalid list filter expression".
    with pytest.raises(FilterError, match="parentheses"):
        parse_filter(expression)

"""The `filter` expression of Compute Engine list calls.

Supported, as the real API documents them:

    labels.env:*                 the key is present
    labels.env = prod            equality (quoted or bare value; `*` is a wildcard)
    labels.env = "prod"
    labels.env != prod           inequality (true when the field is absent)
    name:db                      `:` on a string field: substring; on a map: key present
    name eq "db-.*"              RE2-style regular expression on the whole value
    name ne "db-.*"
    (a = 1) (b = 2)              adjacent terms: implicit AND
    (a = 1) AND (b = 2)   (a = 1) OR (b = 2)   NOT (a = 1)   -(a = 1)

A filter is one bare expression, or every expression in its own parentheses: the real
API answers `a = 1 AND b = 2` and `a = 1 b = 2` with 400 "Invalid list filter
expression", so the parser refuses them too (inside parentheses the same rule holds).

OR binds tighter than AND (AIP-160), so `(a) AND (b) OR (c)` is `a AND (b OR c)`: callers
that mix them should parenthesize. Fields are dotted paths into the resource's JSON;
values compare as strings (booleans as "true"/"false").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<op>!=|=|:)
      | "(?P<string>(?:[^"\\]|\\.)*)"
      | (?P<word>[^\s()=!:"]+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_REGEX_OPS = frozenset({"eq", "ne"})
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[^\s.]+)*")


class FilterError(ValueError):
    """The expression cannot be parsed."""


@dataclass(frozen=True)
class Token:
    kind: str  # lparen, rparen, op, string, word
    text: str


class Node(Protocol):
    def matches(self, resource: Mapping[str, Any]) -> bool: ...


def _resolve(resource: Mapping[str, Any], field: str) -> tuple[bool, Any]:
    """(present, value) of a dotted path; a map key may itself contain dots only when
    it is the last part, so `labels.a.b` first tries the key `a.b`."""
    current: Any = resource
    parts = field.split(".")
    for index, part in enumerate(parts):
        if not isinstance(current, Mapping):
            return False, None
        rest = ".".join(parts[index:])
        if rest in current:
            return True, current[rest]
        if part not in current:
            return False, None
        current = current[part]
    return True, current


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")), re.DOTALL)


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # "=", "!=", ":", "eq", "ne"
    value: str

    def matches(self, resource: Mapping[str, Any]) -> bool:
        present, actual = _resolve(resource, self.field)
        if self.op == ":":
            return present and self._has(actual)
        if self.op in ("!=", "ne"):
            return not present or not self._equal(actual)
        return present and self._equal(actual)

    def _has(self, actual: Any) -> bool:
        if self.value == "*":
            return True
        if isinstance(actual, Mapping):
            return self.value in actual
        if isinstance(actual, list):
            return any(_as_text(item) == self.value for item in actual)
        return self.value in _as_text(actual)

    def _equal(self, actual: Any) -> bool:
        if isinstance(actual, Mapping | list):
            return False
        if self.op in _REGEX_OPS:
            try:
                return re.fullmatch(self.value, _as_text(actual)) is not None
            except re.error as exc:  # checked at parse time; kept for safety
                raise FilterError(str(exc)) from exc
        if "*" in self.value:
            return _glob(self.value).fullmatch(_as_text(actual)) is not None
        return _as_text(actual) == self.value


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]

    def matches(self, resource: Mapping[str, Any]) -> bool:
        return all(term.matches(resource) for term in self.terms)


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]

    def matches(self, resource: Mapping[str, Any]) -> bool:
        return any(term.matches(resource) for term in self.terms)


@dataclass(frozen=True)
class Not:
    term: Node

    def matches(self, resource: Mapping[str, Any]) -> bool:
        return not self.term.matches(resource)


@dataclass(frozen=True)
class MatchAll:
    def matches(self, resource: Mapping[str, Any]) -> bool:
        return True


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"unexpected character at offset {position}: {text[position:]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value)
        tokens.append(Token(kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._index = 0

    def _peek(self) -> Token | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _next(self) -> Token:
        token = self._peek()
        if token is None:
            raise FilterError("unexpected end of expression")
        self._index += 1
        return token

    def _is_keyword(self, token: Token | None, keyword: str) -> bool:
        return token is not None and token.kind == "word" and token.text == keyword

    def parse(self) -> Node:
        node = self._expression()
        if self._peek() is not None:
            raise FilterError(f"unexpected {self._peek()!r}")
        return node

    def _expression(self) -> Node:
        """Terms joined by AND, OR or nothing (AND); with more than one term, each must
        be parenthesized."""
        terms: list[tuple[Node, bool]] = []
        groups = [self._or(terms)]
        while True:
            token = self._peek()
            if token is None or token.kind == "rparen":
                break
            if self._is_keyword(token, "AND"):
                self._next()
            groups.append(self._or(terms))
        if len(terms) > 1 and not all(parenthesized for _, parenthesized in terms):
            raise FilterError("several expressions must each be in parentheses")
        return groups[0] if len(groups) == 1 else And(tuple(groups))

    def _or(self, terms: list[tuple[Node, bool]]) -> Node:
        alternatives = [self._term(terms)]
        while self._is_keyword(self._peek(), "OR"):
            self._next()
            alternatives.append(self._term(terms))
        return alternatives[0] if len(alternatives) == 1 else Or(tuple(alternatives))

    def _term(self, terms: list[tuple[Node, bool]]) -> Node:
        node, parenthesized = self._unary()
        terms.append((node, parenthesized))
        return node

    def _unary(self) -> tuple[Node, bool]:
        """A term and whether it is a parenthesized one (NOT keeps what follows it)."""
        token = self._peek()
        if self._is_keyword(token, "NOT"):
            self._next()
            node, parenthesized = self._primary()
            return Not(node), parenthesized
        if token is not None and token.kind == "word" and token.text.startswith("-"):
            # `-field = v` and `-(...)`: the minus is glued to the next word.
            self._next()
            if token.text != "-":
                self._tokens.insert(self._index, Token("word", token.text[1:]))
            node, parenthesized = self._primary()
            return Not(node), parenthesized
        return self._primary()

    def _primary(self) -> tuple[Node, bool]:
        token = self._next()
        if token.kind == "lparen":
            node = self._expression()
            if self._next().kind != "rparen":
                raise FilterError("missing ')'")
            return node, True
        if token.kind != "word" or token.text in _KEYWORDS or not _FIELD.fullmatch(token.text):
            raise FilterError(f"expected a field name, got {token.text!r}")
        op = self._next()
        if op.kind == "op" or (op.kind == "word" and op.text in _REGEX_OPS):
            operator = op.text
        else:
            raise FilterError(f"expected an operator after {token.text!r}, got {op.text!r}")
        value = self._next()
        if value.kind not in ("string", "word") or (
            value.kind == "word" and value.text in _KEYWORDS
        ):
            raise FilterError(f"expected a value after {token.text} {operator}")
        if operator in _REGEX_OPS:
            try:
                re.compile(value.text)
            except re.error as exc:
                raise FilterError(f"bad regular expression {value.text!r}: {exc}") from exc
        return Compare(token.text, operator, value.text), False


def parse_filter(text: str | None) -> Node:
    """Parse a list filter; an empty one matches everything. Raises FilterError."""
    if text is None or not text.strip():
        return MatchAll()
    return _Parser(tokenize(text)).parse()


def required_labels(text: str | None) -> dict[str, str]:
    """Label values every match of a filter must have: its exact `labels.K = "V"` terms
    at the top of a conjunction. A list skips resources without them before building their
    JSON (the full filter still decides), so a label-filtered list of a project holding
    tens of thousands of snapshots stays cheap. A filter that does not parse gives {}:
    the list itself then answers the error."""
    try:
        node = parse_filter(text)
    except FilterError:
        return {}
    terms = node.terms if isinstance(node, And) else (node,)
    return {
        term.field.removeprefix("labels."): term.value
        for term in terms
        if isinstance(term, Compare)
        and term.op == "="
        and term.field.startswith("labels.")
        and "*" not in term.value
    }

"""The one paginator of the fakes: keyset pages behind opaque page tokens.

A token holds the key of the last item served and a hash of the listing it belongs to
(its scope: a parent, a filter), so an item added or deleted between two pages never
shifts the next one, and a token from another listing is refused. Each API keeps its
own page-size rules and turns `BadPageToken` into its own error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
# A sort key: a tuple of JSON scalars, unique within one listing.
Key = tuple[str | int | float, ...]


class BadPageToken(ValueError):
    """A token this listing did not hand out."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str = ""  # "" on the last page


def _scope_hash(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def encode_token(scope: str, last: Key) -> str:
    raw = json.dumps({"scope": _scope_hash(scope), "after": list(last)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(scope: str, token: str) -> Key:
    """The key to continue after."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after, token_scope = data["after"], data["scope"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise BadPageToken(token) from error
    if token_scope != _scope_hash(scope) or not isinstance(after, list):
        raise BadPageToken(token)
    if not all(isinstance(part, str | int | float) for part in after):
        raise BadPageToken(token)
    return tuple(after)


def _beyond(key: Key, after: Key, reverse: bool) -> bool:
    return key < after if reverse else key > after


def paginate(
    items: Iterable[T],
    key: Callable[[T], Key],
    *,
    scope: str,
    size: int,
    token: str | None,
    reverse: bool = False,
) -> Page[T]:
    """The page of `items` (in `key` order, descending with `reverse`) after `token`."""
    ordered = sorted(items, key=key, reverse=reverse)
    if token:
        after = decode_token(scope, token)
        try:
            ordered = [item for item in ordered if _beyond(key(item), after, reverse)]
        except TypeError as error:  # a key of another shape: not one of ours
            raise BadPageToken(token) from error
    page = ordered[:size]
    next_token = encode_token(scope, key(page[-1])) if len(ordered) > size else ""
    return Page(page, next_token)

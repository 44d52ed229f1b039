"""Schedule options: what a schedule asks of every snapshot it makes, and of its pruning,
beyond the N each disk's label gives.

In deploy.sh's config they follow a SCHEDULE line's time zone (and stale window) as
`key=value` pairs separated by commas:

    SCHEDULE=monthly|0 5 1 * *|Etc/UTC|type=ARCHIVE,max-age=400d,min-keep=2

The schedule's tick carries them as {"options": {"type": "ARCHIVE", ...}} (the same text
as values), and so does each work message; one parser reads all three, and an unknown
option or a bad value is an error in each (OptionError), never ignored.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from snapkeeper import patterns
from snapkeeper.checks import pattern_check
from snapkeeper.errors import ConfigError, OptionError
from snapkeeper.labels import MAX_KEEP

SNAPSHOT_TYPES = ("STANDARD", "ARCHIVE")
# An ARCHIVE snapshot is billed for at least this long, however early it is deleted.
ARCHIVE_MINIMUM_AGE = timedelta(days=90)
DEFAULT_MIN_KEEP = 1
AGE_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1)}
MAX_AGE_LIMIT = timedelta(days=36500)
FORM = "key=value[,key=value...], e.g. type=ARCHIVE,max-age=400d,min-keep=2"

_AGE = re.compile(r"([0-9]{1,6})([hd])")
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # RFC 1035, as Compute names
_KMS_KEY = re.compile(
    r"projects/[a-z][-a-z0-9:.]{4,61}/locations/[a-z0-9-]{1,63}/keyRings/[A-Za-z0-9_-]{1,63}"
    r"/cryptoKeys/[A-Za-z0-9_-]{1,63}(/cryptoKeyVersions/[0-9]{1,10})?"
)


# -- one rule per option ----------------------------------------------------------------------


def snapshot_type(value: str) -> str:
    upper = value.upper()
    if upper not in SNAPSHOT_TYPES:
        raise OptionError(f"type {value!r} is not one of {', '.join(SNAPSHOT_TYPES)}")
    return upper


def max_age(value: str) -> timedelta:
    match = _AGE.fullmatch(value)
    if not match:
        raise OptionError(f"max-age {value!r} is not a number of hours or days, e.g. 36h or 400d")
    age = int(match.group(1)) * AGE_UNITS[match.group(2)]
    if not timedelta(hours=1) <= age <= MAX_AGE_LIMIT:
        raise OptionError(f"max-age {value!r} must be from 1h to {MAX_AGE_LIMIT.days}d")
    return age


def min_keep(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_KEEP:
        raise OptionError(f"min-keep {value!r} must be a whole number from 1 to {MAX_KEEP}")
    return int(value)


kms_key = pattern_check(
    _KMS_KEY, "kms-key {value} is not projects/P/locations/L/keyRings/R/cryptoKeys/K", OptionError
)
chain_name = pattern_check(
    _NAME,
    "chain-name {value} must be 1-63 characters: lowercase letters, digits and dashes, "
    "starting with a letter (RFC 1035)",
    OptionError,
)


storage_location = pattern_check(
    patterns.STORAGE_LOCATION,
    "storage-location {value} is not a storage location such as eu",
    OptionError,
)


def render_age(age: timedelta) -> str:
    hours = int(age.total_seconds()) // 3600
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


@dataclass(frozen=True)
class Rule:
    field: str  # of ScheduleOptions
    parse: Callable[[str], Any]
    render: Callable[[Any], str] = str


# The options, by the name the config and the messages use.
RULES: Mapping[str, Rule] = {
    "type": Rule("snapshot_type", snapshot_type),
    "max-age": Rule("max_age", max_age, render_age),
    "min-keep": Rule("min_keep", min_keep),
    "kms-key": Rule("kms_key", kms_key),
    "chain-name": Rule("chain_name", chain_name),
    "storage-location": Rule("storage_location", storage_location),
}


@dataclass(frozen=True)
class ScheduleOptions:
    """A schedule's options; None where the schedule sets none."""

    snapshot_type: str | None = None  # snapshotType of the insert (the API default: STANDARD)
    max_age: timedelta | None = None  # older READY snapshots are pruned even within N...
    min_keep: int | None = None  # ...but never below this many (default 1)
    kms_key: str | None = None  # snapshotEncryptionKey.kmsKeyName
    chain_name: str | None = None  # chainName
    storage_location: str | None = None  # a disk's snapshot-location label wins over it

    @property
    def age_floor(self) -> int:
        """The fewest READY snapshots max-age may leave."""
        return self.min_keep or DEFAULT_MIN_KEEP

    def to_mapping(self) -> dict[str, str]:
        """The options as the config writes them (only those set), for a message."""
        found = {}
        for name, rule in RULES.items():
            value = getattr(self, rule.field)
            if value is not None:
                found[name] = rule.render(value)
        return found

    def to_text(self) -> str:
        return ",".join(f"{name}={value}" for name, value in self.to_mapping().items())


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name, RULES, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the options are {', '.join(RULES)}"
    return f"unknown option {name!r}: {hint}"


def from_pairs(pairs: list[tuple[str, str]]) -> ScheduleOptions:
    """Options from (name, value) pairs; every problem in one OptionError."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, value in pairs:
        rule = RULES.get(name)
        if rule is None:
            problems.append(_unknown(name))
        elif rule.field in values:
            problems.append(f"option {name!r} is given twice")
        elif not value:
            problems.append(f"option {name!r} has no value")
        else:
            try:
                values[rule.field] = rule.parse(value)
            except OptionError as exc:
                problems.append(str(exc))
    if "min_keep" in values and "max_age" not in values:
        problems.append("min-keep only limits max-age: add max-age or leave min-keep out")
    if problems:
        raise OptionError("; ".join(problems))
    return replace(ScheduleOptions(), **values)


def parse_text(text: str) -> ScheduleOptions:
    """The options field of a SCHEDULE line: `type=ARCHIVE,max-age=400d`."""
    pairs = []
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not name:
            raise OptionError(f"{item.strip()!r} is not key=value ({FORM})")
        pairs.append((name, value))
    return from_pairs(pairs)


def from_mapping(body: object, where: str) -> ScheduleOptions:
    """The `options` object of a tick or work message: option names to text values."""
    if not isinstance(body, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in body.items()
    ):
        raise OptionError(
            f"field 'options' of a {where} must map option names to text values, "
            'e.g. {"type": "ARCHIVE", "max-age": "400d"}'
        )
    return from_pairs(list(body.items()))


# -- what happens to the snapshots of a deleted disk (ORPHAN_POLICY) -------------------------

ORPHAN_KEEP = "keep"  # never touched (the default)
ORPHAN_KEEP_NEWEST = "keep-newest"  # pruned as while the disk lived: N, max-age, floor, brake
ORPHAN_MAX_AGE = "max-age"  # older than the age are pruned (in a vault: down to MIN_KEEP)
ORPHAN_FORM = "keep, keep-newest or max-age:<age> such as max-age:90d"


@dataclass(frozen=True)
class OrphanPolicy:
    mode: str = ORPHAN_KEEP
    max_age: timedelta | None = None  # for max-age:<age>

    @property
    def acts(self) -> bool:
        """Whether orphans are looked for and pruned at all."""
        return self.mode != ORPHAN_KEEP

    def __str__(self) -> str:
        if self.mode == ORPHAN_MAX_AGE and self.max_age is not None:
            return f"{ORPHAN_MAX_AGE}:{render_age(self.max_age)}"
        return self.mode


def orphan_policy(value: str) -> OrphanPolicy:
    """ORPHAN_POLICY's value; ConfigError with the form expected otherwise."""
    text = value.strip().lower()
    if text in (ORPHAN_KEEP, ORPHAN_KEEP_NEWEST):
        return OrphanPolicy(text)
    mode, colon, age = text.partition(":")
    if mode == ORPHAN_MAX_AGE and colon:
        try:
            return OrphanPolicy(ORPHAN_MAX_AGE, max_age(age))
        except OptionError as exc:
            raise ConfigError(f"{value!r}: {exc}") from None
    raise ConfigError(f"{value!r} is not {ORPHAN_FORM}")

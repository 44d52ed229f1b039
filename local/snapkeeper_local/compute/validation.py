"""The real API's rules on names, labels, locations and resource URLs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import errors

API_ROOT = "https://www.googleapis.com/compute/v1/"
MAX_LABELS = 64
NAME_PATTERN = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
_NAME = re.compile(NAME_PATTERN)
# Label keys and values: lowercase letters (international ones too), digits, _ and -.
_LABEL_KEY = re.compile(r"[^\W\dA-Z_][\w-]{0,62}")
_LABEL_VALUE = re.compile(r"[\w-]{0,63}")
SNAPSHOT_TYPES = ("ARCHIVE", "STANDARD")
_KMS_KEY = re.compile(
    r"projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+(/cryptoKeyVersions/[0-9]+)?"
)
ENCRYPTION_KEY_FIELDS = frozenset(
    {"kmsKeyName", "kmsKeyServiceAccount", "rawKey", "rsaEncryptedKey"}
)
ZONE = re.compile(r"[a-z]+-[a-z]+[0-9]+-[a-z]")
REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
_RESOURCE_URL = re.compile(
    r"^(?:https?://[^/]+/compute/(?:v1|beta|alpha)/)?"
    r"(?:projects/(?P<project>[^/]+)/)?"
    r"(?P<scope>zones/[^/]+|regions/[^/]+|global)/(?P<collection>disks|snapshots)/(?P<name>[^/]+)$"
)

# A sample of real regions and their zones: the scopes aggregatedList always reports.
REGIONS: Mapping[str, tuple[str, ...]] = {
    "asia-northeast1": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west4": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "southamerica-east1": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-west1": ("a", "b", "c"),
}
KNOWN_ZONES = frozenset(f"{region}-{z}" for region, zs in REGIONS.items() for z in zs)
# Default storage location of a snapshot: the multi-region of the disk's region.
MULTI_REGIONS: Mapping[str, str] = {"us": "us", "northamerica": "us", "southamerica": "us"}
MULTI_REGIONS_BY_PREFIX: Mapping[str, str] = {"europe": "eu", "asia": "asia", "australia": "asia"}


def self_link(path: str) -> str:
    return API_ROOT + path


def label_fingerprint(labels: Mapping[str, str]) -> str:
    digest = hashlib.sha256(json.dumps(dict(sorted(labels.items()))).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def validate_name(name: object, field_name: str = "resource.name") -> str:
    if name is None or name == "":
        raise errors.Required.field(field_name)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise errors.Invalid.field(
            field_name, name, f"Must be a match of regex '(?:{NAME_PATTERN})'"
        )
    return name


def validate_labels(labels: object, field_name: str = "resource.labels") -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise errors.Invalid.field(field_name, labels, "Labels must be a map.")
    if len(labels) > MAX_LABELS:
        raise errors.Invalid.field(
            field_name, len(labels), f"Resources can have at most {MAX_LABELS} labels."
        )
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.fullmatch(key) or key != key.lower():
            raise errors.Invalid.field(
                f"{field_name}.key",
                key,
                "Label keys must start with a lowercase letter, contain only lowercase "
                "letters, digits, underscores and dashes, and be 1-63 characters long.",
            )
        if (
            not isinstance(value, str)
            or not _LABEL_VALUE.fullmatch(value)
            or value != value.lower()
        ):
            raise errors.Invalid.field(
                f"{field_name}.value",
                value,
                "Label values can contain only lowercase letters, digits, underscores and "
                "dashes, and be at most 63 characters long.",
            )
    return dict(labels)


def int_field(value: object, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(str(value))
    except ValueError as exc:
        raise errors.Invalid.field(name, value, "Must be an integer.") from exc
    if number < 0:
        raise errors.Invalid.field(name, value, "Must be greater than or equal to 0.")
    return number


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def region_of_scope(scope: str) -> str:
    """The region of "zones/<zone>" or "regions/<region>"."""
    kind, where = scope.split("/")
    return region_of(where) if kind == "zones" else where


def default_storage_location(region: str) -> str:
    prefix = region.split("-", 1)[0]
    return MULTI_REGIONS.get(prefix) or MULTI_REGIONS_BY_PREFIX.get(prefix, region)


def split_zone(text: object) -> str:
    """A zone name from a zone URL or a bare name."""
    zone = str(text).rstrip("/").rsplit("/", 1)[-1]
    if not ZONE.fullmatch(zone):
        raise errors.Invalid.field("resource.replicaZones", text, "Unknown zone.")
    return zone


def split_resource_url(
    text: object, field_name: str, collection: str
) -> tuple[str | None, str, str]:
    """(project or None, scope, name) of a full or partial resource URL."""
    match = _RESOURCE_URL.match(text) if isinstance(text, str) else None
    if match is None or match["collection"] != collection:
        raise errors.Invalid.field(field_name, text, f"Must be a URL to a {collection[:-1]}.")
    return match["project"], match["scope"], match["name"]


def validate_snapshot_type(value: object) -> str:
    """snapshotType: STANDARD (the default) or ARCHIVE; anything else is a 400."""
    if value is None or value == "":
        return "STANDARD"
    if value not in SNAPSHOT_TYPES:
        raise errors.Invalid.field(
            "resource.snapshotType", value, f"Must be one of {', '.join(SNAPSHOT_TYPES)}."
        )
    return str(value)


def validate_chain_name(value: object) -> str | None:
    """chainName: 1-63 characters, RFC 1035."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise errors.Invalid.field(
            "resource.chainName",
            value,
            "The chain name must be 1-63 characters long and comply with RFC1035.",
        )
    return value


@dataclass(frozen=True)
class EncryptionKey:
    kms_key_name: str | None = None  # with its version
    raw_key_sha256: str | None = None


def validate_encryption_key(value: object, field_name: str) -> EncryptionKey | None:
    """A CustomerEncryptionKey: a Cloud KMS key name, or a raw AES-256 key (of which only
    the SHA-256 is ever kept or answered); exactly one of them."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise errors.Invalid.field(field_name, value, "Must be a CustomerEncryptionKey.")
    unknown = set(value) - ENCRYPTION_KEY_FIELDS
    if unknown:
        raise errors.Invalid.field(f"{field_name}.{sorted(unknown)[0]}", "", "Unknown field.")
    given = [k for k in ("kmsKeyName", "rawKey", "rsaEncryptedKey") if value.get(k)]
    if len(given) != 1:
        raise errors.Invalid.field(
            field_name, "", "Exactly one of kmsKeyName, rawKey and rsaEncryptedKey is required."
        )
    if given[0] == "rsaEncryptedKey":
        raise errors.Invalid.field(
            f"{field_name}.rsaEncryptedKey", "", "RSA-wrapped keys are not supported by the fake."
        )
    if given[0] == "kmsKeyName":
        name = value["kmsKeyName"]
        if not isinstance(name, str) or not _KMS_KEY.fullmatch(name):
            raise errors.Invalid.field(
                f"{field_name}.kmsKeyName",
                name,
                "Must be projects/P/locations/L/keyRings/R/cryptoKeys/K.",
            )
        if "/cryptoKeyVersions/" not in name:
            name += "/cryptoKeyVersions/1"  # the API answers with the version it used
        return EncryptionKey(kms_key_name=name)
    try:
        raw = base64.b64decode(str(value["rawKey"]), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise errors.Invalid.field(
            f"{field_name}.rawKey", "", "Must be a base64-encoded 256-bit key."
        )
    return EncryptionKey(raw_key_sha256=base64.b64encode(hashlib.sha256(raw).digest()).decode())

"""Deterministic snapshot names and request ids.

The key (disk project, disk location, disk id, schedule, slot, deployment) decides both,
so a redelivered message makes the same name (409 means done) and the same requestId (the
API deduplicates a retried insert). The default deployment's names and requestIds are
those made before deployments had ids; any other deployment's name carries its id, so two
deployments snapshotting one disk never meet on a name or a requestId.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from snapkeeper.labels import DEFAULT_DEPLOYMENT

NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 63
# 8 base-36 characters: 41 bits, so that a vault holding every project's snapshots in
# one name space does not meet a collision by chance.
HASH_LENGTH = 8
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Fixed namespace so every deployment derives the same request id for the same key.
REQUEST_ID_NAMESPACE = uuid.UUID("0b6f6e1e-5a4b-4e53-8e1c-736e61706b70")


@dataclass(frozen=True)
class SnapshotKey:
    project: str
    location: str  # zone or region of the disk
    disk_id: str
    disk_name: str
    schedule: str
    slot: str  # yyyymmdd-hhmm
    deployment: str = DEFAULT_DEPLOYMENT

    @property
    def canonical(self) -> str:
        parts = [self.project, self.location, self.disk_id, self.schedule, self.slot]
        if self.deployment != DEFAULT_DEPLOYMENT:
            parts.append(self.deployment)
        return "/".join(parts)


def _short_hash(text: str) -> str:
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    chars = []
    for _ in range(HASH_LENGTH):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def snapshot_name(key: SnapshotKey) -> str:
    """`<disk-name-truncated>-<schedule>-[<deployment>-]<yyyymmdd-hhmm>-<hash>`, always a
    valid name (a deployment id has at most 12 characters, so at least 6 of the disk's
    name are left); the default deployment's part is left out."""
    own = "" if key.deployment == DEFAULT_DEPLOYMENT else f"-{key.deployment}"
    suffix = f"-{key.schedule}{own}-{key.slot}-{_short_hash(key.canonical)}"
    stem = re.sub(r"[^-a-z0-9]", "-", key.disk_name.lower())
    stem = stem[: MAX_NAME - len(suffix)].rstrip("-")
    if not stem or not stem[0].isalpha():
        stem = ("d" + stem)[: MAX_NAME - len(suffix)].rstrip("-")
    return stem + suffix


def request_id(key: SnapshotKey, retake_of: str | None = None) -> str:
    """The insert's requestId. Compute answers a repeated requestId with the original
    operation, failed or not, so retaking a FAILED snapshot needs a fresh one: derived
    from the failed snapshot's id, it is still the same for two duplicate deliveries."""
    text = key.canonical if retake_of is None else f"{key.canonical}/retake/{retake_of}"
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, text))


def unused_request_id() -> str:
    """A requestId no call has used: for an insert whose derived ids all name failed
    operations Compute still remembers (it holds an id for at least 60 minutes)."""
    return str(uuid.uuid4())


def scratch_disk_name(project: str, disk_id: str, slot: str, deployment: str) -> str:
    """A drill's scratch disk: one name per (disk, drill slot, deployment), so that a
    redelivered drill finds what its earlier attempt made."""
    text = "/".join((project, disk_id, slot, deployment))
    return f"snapkeeper-drill-{slot}-{_short_hash(text)}"

"""The label interface: which disks take part in a schedule, and how.

`snapshot-<schedule>: "<N>"` on a disk or its instance opts the disk in; a disk label
wins over its instance's; `snapshot-exclude: "true"` on the disk vetoes everything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from snapkeeper.errors import LabelError

MAX_KEEP = 1000
MAX_LABELS = 64
SCHEDULE_NAME = re.compile(r"^[a-z][a-z0-9]{0,19}$")
# Words after the prefix that are controls, never schedules.
RESERVED_SCHEDULES = frozenset({"exclude", "location", "guest", "keep"})
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
TRUE_VALUES = frozenset({"true", "yes", "1"})

# Labels snapkeeper writes on every snapshot it makes.
MANAGED_BY = "managed-by"
MANAGED_BY_VALUE = "snapkeeper"
DISK_ID = "snapkeeper-disk-id"
SCHEDULE = "snapkeeper-schedule"
SLOT = "snapkeeper-slot"
DEPLOYMENT = "snapkeeper-deployment"
# The disk's N when the snapshot was made: what ORPHAN_POLICY=keep-newest keeps to once
# the disk (and its labels) are gone.
KEEP = "snapkeeper-keep"
MANAGED_KEYS = (MANAGED_BY, DISK_ID, SCHEDULE, SLOT, DEPLOYMENT, KEEP)
# Restore drills: the date (yyyymmdd) a snapshot was last restored by a drill, and the
# slot of the drill that made a scratch disk (so a later drill removes its leftovers).
DRILLED = "snapkeeper-drilled"
DRILL_SCRATCH = "snapkeeper-drill-slot"
# The deployment whose snapshots predate deployment ids: one without the label is its.
DEFAULT_DEPLOYMENT = "default"
# The pin a person puts on a snapshot. Honoured under this literal key whatever
# LABEL_PREFIX is (and under the prefixed key too), so a config change never unpins.
PIN = "snapshot-keep"
# Disk labels under this prefix are never copied to a snapshot, whatever LABEL_PREFIX is.
DEFAULT_PREFIX = "snapshot-"


class _Control:
    """A control label key: its word after the instance's LABEL_PREFIX."""

    def __init__(self, word: str) -> None:
        self.word = word

    def __get__(self, owner: ControlLabels, kind: type | None = None) -> str:
        return f"{owner.prefix}{self.word}"


@dataclass(frozen=True)
class ControlLabels:
    """The label keys for one LABEL_PREFIX."""

    prefix: str
    exclude = _Control("exclude")
    location = _Control("location")
    guest_flush = _Control("guest-flush")
    keep = _Control("keep")

    def schedule(self, schedule: str) -> str:
        return f"{self.prefix}{schedule}"

    def is_control(self, key: str) -> bool:
        return key.startswith(self.prefix)


@dataclass(frozen=True)
class DiskPolicy:
    """What one schedule does to one disk."""

    schedule: str
    keep: int
    source: str  # "disk" or "instance:<name>": where the schedule label was found
    storage_location: str | None
    guest_flush: bool


@dataclass(frozen=True)
class Skip:
    """A disk that carries labels for this schedule but will not be snapshotted."""

    reason: str


def validate_schedule_name(schedule: str) -> str:
    if not SCHEDULE_NAME.match(schedule) or schedule in RESERVED_SCHEDULES:
        raise LabelError(
            f"schedule name {schedule!r} must match [a-z][a-z0-9]{{0,19}} and not be one of "
            f"{', '.join(sorted(RESERVED_SCHEDULES))}"
        )
    return schedule


def parse_keep(value: str) -> int:
    """The N of `snapshot-<schedule>: "<N>"`: an integer from 1 to MAX_KEEP."""
    if not value.isdigit():
        raise LabelError(f"value {value!r} is not a whole number of snapshots to keep")
    keep = int(value)
    if not 1 <= keep <= MAX_KEEP:
        raise LabelError(f"value {value!r} must be between 1 and {MAX_KEEP}")
    return keep


def is_true(value: str | None) -> bool:
    return (value or "").lower() in TRUE_VALUES


def is_pinned(labels: Mapping[str, str], prefix: str) -> bool:
    """`snapshot-keep: "true"`, or the same under this LABEL_PREFIX."""
    return is_true(labels.get(PIN)) or is_true(labels.get(ControlLabels(prefix).keep))


def deployment_of(labels: Mapping[str, str]) -> str:
    """The deployment a managed snapshot belongs to (one older than ids: the default)."""
    return labels.get(DEPLOYMENT) or DEFAULT_DEPLOYMENT


def schedules_in(labels: Mapping[str, str], prefix: str) -> list[str]:
    """Every schedule name that `labels` opt into (for `plan` and `status`)."""
    keys = ControlLabels(prefix)
    found = []
    for key in labels:
        if keys.is_control(key):
            name = key[len(prefix) :]
            if SCHEDULE_NAME.match(name) and name not in RESERVED_SCHEDULES:
                found.append(name)
    return sorted(found)


def resolve_policy(
    schedule: str,
    disk_labels: Mapping[str, str],
    instance_labels: Mapping[str, Mapping[str, str]],
    prefix: str,
    default_location: str | None = None,
) -> DiskPolicy | Skip | None:
    """The policy of `schedule` for one disk, a Skip with its reason, or None when the disk
    does not take part at all. `instance_labels` maps each attached instance's name to its
    labels; when several opt in, the first by name wins (deterministic)."""
    keys = ControlLabels(prefix)
    key = keys.schedule(schedule)
    owners = [("disk", disk_labels)] + [
        (f"instance:{name}", instance_labels[name]) for name in sorted(instance_labels)
    ]
    source, labels = next(((s, ls) for s, ls in owners if key in ls), (None, None))
    if source is None or labels is None:
        return None
    if is_true(disk_labels.get(keys.exclude)):
        return Skip(f"excluded by {keys.exclude}")
    try:
        keep = parse_keep(labels[key])
    except LabelError as exc:
        return Skip(f"label {key} on {source}: {exc}")
    # Options follow the same precedence: the disk's own label, then its instance's.
    option_sources = [disk_labels, labels]
    location = next((ls[keys.location] for ls in option_sources if ls.get(keys.location)), None)
    flush = next((ls[keys.guest_flush] for ls in option_sources if keys.guest_flush in ls), None)
    return DiskPolicy(
        schedule=schedule,
        keep=keep,
        source=source,
        storage_location=location or default_location,
        guest_flush=is_true(flush),
    )


def resolve_policies(
    disk_labels: Mapping[str, str],
    instance_labels: Mapping[str, Mapping[str, str]],
    prefix: str,
    default_location: str | None = None,
) -> dict[str, DiskPolicy | Skip]:
    """Every schedule a disk takes part in (through its own labels or an instance's),
    each with its policy or Skip: what `status` reports per disk."""
    names = set(schedules_in(disk_labels, prefix))
    for labels in instance_labels.values():
        names.update(schedules_in(labels, prefix))
    found: dict[str, DiskPolicy | Skip] = {}
    for schedule in sorted(names):
        policy = resolve_policy(schedule, disk_labels, instance_labels, prefix, default_location)
        if policy is not None:
            found[schedule] = policy
    return found


def snapshot_labels(
    disk_labels: Mapping[str, str],
    disk_id: str,
    schedule: str,
    slot: str,
    prefix: str,
    deployment: str = DEFAULT_DEPLOYMENT,
    keep: int | None = None,
) -> dict[str, str]:
    """Labels for a new snapshot: ours first (`keep`: the disk's N now), then the disk's
    own where room allows, never its control labels nor `snapshot-*` ones (a copied
    `snapshot-keep` would pin every snapshot)."""
    labels = {
        MANAGED_BY: MANAGED_BY_VALUE,
        DISK_ID: disk_id,
        SCHEDULE: schedule,
        SLOT: slot,
        DEPLOYMENT: deployment,
    }
    if keep is not None:
        labels[KEEP] = str(keep)
    keys = ControlLabels(prefix)
    for key, value in sorted(disk_labels.items()):
        if len(labels) >= MAX_LABELS:
            break
        if key in labels or keys.is_control(key) or key.startswith((DEFAULT_PREFIX, "snapkeeper-")):
            continue
        labels[key] = value
    return labels


def recorded_keep(snapshot_labels: Mapping[str, str]) -> int | None:
    """The N a snapshot's `snapkeeper-keep` label recorded; None when absent or bad."""
    value = snapshot_labels.get(KEEP, "")
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_KEEP else None

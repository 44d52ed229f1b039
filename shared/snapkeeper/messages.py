"""Versioned JSON schemas of the messages snapkeeper exchanges, with strict validation.

Tick (Cloud Scheduler -> enumerator), version 1:
    {"schedule": "daily", "cron": "0 3 * * *", "time_zone": "Asia/Tokyo",
     "time": "2026-01-02T03:00:00Z" (optional), "projects": ["p1"] (optional subset),
     "options": {"type": "ARCHIVE", "max-age": "400d"} (optional, snapkeeper.options)}
Work (enumerator -> snapshot function), version 1: one disk, one schedule, one slot, the
schedule's options, and the disk's labels as enumerated with the time they were read
(`labels_read_at`, optional: a message without it makes the snapshot step read the disk)
and until when they stand for the disk's (`labels_fresh_until`, optional).
An orphan message (same topic, "kind": "orphans") names a deleted disk whose snapshots
ORPHAN_POLICY prunes.
Drill tick, version 1: {"kind": "drill", "cron": ..., "time_zone": ..., "sample": 3
(optional, default DRILL_SAMPLE), "time" and "projects" (optional, as above)}.
Drill work, version 1: {"kind": "drill", one disk, the snapshot to restore, the slot}.
A message without "kind" is a snapshot message, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from snapkeeper import labels, slots
from snapkeeper.config import MAX_DRILL_SAMPLE
from snapkeeper.errors import InvalidMessage, LabelError
from snapkeeper.options import ScheduleOptions
from snapkeeper.options import from_mapping as parse_options

SCHEMA_VERSION = 1
ORPHANS = "orphans"  # the `kind` of an orphan work message (a snapshot's has none)
TICK_FIELDS = frozenset({"version", "schedule", "cron", "time_zone", "time", "projects", "options"})
SNAPSHOT_KIND = "snapshot"
DRILL_KIND = "drill"
KINDS = (SNAPSHOT_KIND, ORPHANS, DRILL_KIND)
DRILL_TICK_FIELDS = frozenset(
    {"version", "kind", "cron", "time_zone", "time", "projects", "sample"}
)


def _timing_json(tick: Tick | DrillTick) -> dict[str, Any]:
    """The cron, time zone, time and projects a tick sets (what _timing_fields reads)."""
    body: dict[str, Any] = {"cron": tick.cron, "time_zone": tick.time_zone}
    body["time"] = tick.time.isoformat() if tick.time else None
    body["projects"] = list(tick.projects)
    return {key: value for key, value in body.items() if value}


@dataclass(frozen=True)
class Tick:
    schedule: str
    cron: str | None = None
    time_zone: str | None = None
    time: datetime | None = None
    projects: tuple[str, ...] = ()
    options: ScheduleOptions = field(default_factory=ScheduleOptions)

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"schedule": self.schedule, **_timing_json(self)}
        if self.options.to_mapping():  # a schedule without options: the payload as before
            body["options"] = self.options.to_mapping()
        return json.dumps(body).encode()


@dataclass(frozen=True)
class DiskRef:
    """The disk a work message is about."""

    project: str
    location: str  # zone (e.g. us-central1-a) or region (e.g. us-central1)
    regional: bool
    disk: str
    disk_id: str

    @property
    def disk_ref(self) -> dict[str, Any]:
        """The fields of DiskRef alone, to name the same disk in another message."""
        return {f.name: getattr(self, f.name) for f in fields(DiskRef)}

    @property
    def disk_path(self) -> str:
        scope = "regions" if self.regional else "zones"
        return f"projects/{self.project}/{scope}/{self.location}/disks/{self.disk}"

    @property
    def log_fields(self) -> dict[str, Any]:
        """The fields every log line about this disk carries."""
        return {
            "project": self.project,
            ("region" if self.regional else "zone"): self.location,
            "disk": self.disk,
            "disk_id": self.disk_id,
        }


@dataclass(frozen=True)
class DiskMessage(DiskRef):
    """What every snapshot and orphan message names: one disk, one schedule, one slot."""

    schedule: str
    slot: str

    @property
    def log_fields(self) -> dict[str, Any]:
        return super().log_fields | {"schedule": self.schedule, "slot": self.slot}

    @property
    def attributes(self) -> dict[str, str]:
        """Pub/Sub attributes, so operators can read a dead letter at a glance."""
        return {"project": self.project, "disk": self.disk, "schedule": self.schedule}

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


class _ScheduleOptioned:
    """A message that carries its schedule's options, as the tick did."""

    options: dict[str, str]
    what: ClassVar[str]

    @property
    def schedule_options(self) -> ScheduleOptions:
        return parse_options(self.options, self.what)


@dataclass(frozen=True)
class WorkItem(_ScheduleOptioned, DiskMessage):
    """Snapshot a disk for a slot, then prune its snapshots of the schedule."""

    keep: int
    source: str = "disk"
    storage_location: str | None = None
    guest_flush: bool = False
    disk_labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # the schedule's, as in the tick
    # When the enumerator read the labels above, and until when they stand for the
    # disk's (RFC 3339; snapshotter.labels_fresh_until): until then a first delivery
    # trusts them instead of reading the disk again. No read time (older messages): it
    # reads the disk; no end: ten minutes after the read.
    labels_read_at: str | None = None
    labels_fresh_until: str | None = None
    version: int = SCHEMA_VERSION
    what: ClassVar[str] = "work message"

    @property
    def log_fields(self) -> dict[str, Any]:
        return super().log_fields | {"keep": self.keep}


@dataclass(frozen=True)
class OrphanWork(_ScheduleOptioned, DiskMessage):
    """Prune the snapshots of a deleted disk and schedule by ORPHAN_POLICY; nothing is
    created. `slot` is the tick's: ages count to it, so an age is never overstated."""

    options: dict[str, str] = field(default_factory=dict)  # the schedule's, as in the tick
    kind: str = ORPHANS
    version: int = SCHEMA_VERSION
    what: ClassVar[str] = "orphan message"

    @property
    def log_fields(self) -> dict[str, Any]:
        return super().log_fields | {"kind": self.kind}

    @property
    def attributes(self) -> dict[str, str]:
        return super().attributes | {"kind": self.kind}


def _decode(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"message is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidMessage("message must be a JSON object")
    version = body.get("version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InvalidMessage(f"unsupported message version {version!r} (this is {SCHEMA_VERSION})")
    return body


def _known(body: Mapping[str, Any], fields: Iterable[str], what: str) -> None:
    unknown = set(body) - set(fields)
    if unknown:
        raise InvalidMessage(f"unknown {what} field(s): {', '.join(sorted(unknown))}")


def _string(body: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"field {key!r} must be a non-empty string")
    return value


def parse_tick(data: bytes) -> Tick:
    body = _decode(data)
    _known(body, TICK_FIELDS, "tick")
    schedule = _string(body, "schedule")
    assert schedule is not None
    try:
        labels.validate_schedule_name(schedule)
    except LabelError as exc:
        raise InvalidMessage(str(exc)) from None
    return Tick(
        schedule=schedule,
        **_timing_fields(body),
        options=parse_options(body.get("options", {}), "tick"),
    )


def _timing_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """cron, time_zone, time and projects: what every tick (a snapshot's or a drill's)
    may carry, checked."""
    cron = _string(body, "cron", required=False)
    time_zone = _string(body, "time_zone", required=False)
    if cron:
        slots.validate_cron(cron)
    if time_zone:
        slots.zone(time_zone)
    raw_time = _string(body, "time", required=False)
    projects = body.get("projects", [])
    if not isinstance(projects, list) or not all(isinstance(p, str) and p for p in projects):
        raise InvalidMessage("field 'projects' must be a list of project ids")
    return {
        "cron": cron,
        "time_zone": time_zone,
        "time": slots.parse_time(raw_time) if raw_time else None,
        "projects": tuple(projects),
    }


def _disk_fields(
    body: Mapping[str, Any],
    fields: Iterable[str],
    what: str = "work",
    strings: tuple[str, ...] = ("schedule", "slot"),
) -> None:
    """The checks every work message's disk, its other `strings` and its slot pass."""
    _known(body, fields, what)
    for key in ("project", "location", "disk", "disk_id", *strings):
        _string(body, key)
    if not str(body["disk_id"]).isdigit():
        raise InvalidMessage("field 'disk_id' must be the disk's numeric id")
    if not isinstance(body.get("regional"), bool):
        raise InvalidMessage("field 'regional' must be true or false")
    if "schedule" in strings:
        try:
            labels.validate_schedule_name(body["schedule"])
        except LabelError as exc:
            raise InvalidMessage(str(exc)) from None
    slots.parse_slot(body["slot"])


def parse_message(data: bytes) -> WorkItem | OrphanWork:
    """A message of the work topic: a snapshot's, or (kind "orphans") a deleted disk's."""
    body = _decode(data)
    kind = body.get("kind")
    if kind is None:
        return _work(body)
    if kind != ORPHANS:
        raise InvalidMessage(f"unknown work message kind {kind!r} (known: {ORPHANS})")
    _disk_fields(body, OrphanWork.__dataclass_fields__)
    parse_options(body.get("options", {}), "orphan message")
    return OrphanWork(**body)


def parse_work(data: bytes) -> WorkItem:
    return _work(_decode(data))


def _work(body: dict[str, Any]) -> WorkItem:
    _disk_fields(body, WorkItem.__dataclass_fields__)
    keep = body.get("keep")
    if not isinstance(keep, int) or isinstance(keep, bool) or not 1 <= keep <= labels.MAX_KEEP:
        raise InvalidMessage(f"field 'keep' must be an integer from 1 to {labels.MAX_KEEP}")
    disk_labels = body.get("disk_labels", {})
    if not isinstance(disk_labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in disk_labels.items()
    ):
        raise InvalidMessage("field 'disk_labels' must map strings to strings")
    if not isinstance(body.get("guest_flush", False), bool):
        raise InvalidMessage("field 'guest_flush' must be true or false")
    _string(body, "storage_location", required=False)
    for name in ("labels_read_at", "labels_fresh_until"):
        value = _string(body, name, required=False)
        if value is not None:
            slots.parse_time(value)
    parse_options(body.get("options", {}), "work message")
    return WorkItem(**body)


# -- restore drills ------------------------------------------------------------------------


def message_kind(data: bytes) -> str:
    """ "snapshot" (no kind, as every message before orphans and drills), "orphans" or
    "drill"."""
    body = _decode(data)
    kind = body.get("kind", SNAPSHOT_KIND)
    if kind not in KINDS:
        raise InvalidMessage(f"unknown message kind {kind!r} (known: {', '.join(KINDS)})")
    return str(kind)


@dataclass(frozen=True)
class DrillTick:
    cron: str | None = None
    time_zone: str | None = None
    time: datetime | None = None
    projects: tuple[str, ...] = ()
    sample: int | None = None  # None: the deployment's DRILL_SAMPLE

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"kind": DRILL_KIND, **_timing_json(self)}
        if self.sample is not None:
            body["sample"] = self.sample
        return json.dumps(body).encode()


@dataclass(frozen=True)
class DrillItem(DiskRef):
    """One disk to drill: restore `snapshot` (in `snapshot_project`) to a scratch disk."""

    snapshot: str
    snapshot_project: str
    slot: str
    kind: str = DRILL_KIND
    version: int = SCHEMA_VERSION

    @property
    def log_fields(self) -> dict[str, Any]:
        return super().log_fields | {
            "kind": DRILL_KIND,
            "snapshot": self.snapshot,
            "snapshot_project": self.snapshot_project,
            "slot": self.slot,
        }

    @property
    def attributes(self) -> dict[str, str]:
        return {"project": self.project, "disk": self.disk, "kind": DRILL_KIND}

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def parse_sample(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DRILL_SAMPLE:
        raise InvalidMessage(f"{where} must be an integer from 1 to {MAX_DRILL_SAMPLE}")
    return value


def parse_drill_tick(data: bytes) -> DrillTick:
    body = _decode(data)
    _known(body, DRILL_TICK_FIELDS, "drill tick")
    if body.get("kind") != DRILL_KIND:
        raise InvalidMessage(f"a drill tick has kind {DRILL_KIND!r}")
    sample = body.get("sample")
    return DrillTick(
        **_timing_fields(body),
        sample=None if sample is None else parse_sample(sample, "field 'sample'"),
    )


def parse_drill(data: bytes) -> DrillItem:
    body = _decode(data)
    if body.get("kind") != DRILL_KIND:
        raise InvalidMessage(f"a drill message has kind {DRILL_KIND!r}")
    strings = ("snapshot", "snapshot_project", "slot")
    _disk_fields(body, DrillItem.__dataclass_fields__, "drill", strings)
    return DrillItem(**body)

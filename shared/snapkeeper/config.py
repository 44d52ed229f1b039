"""Deployment settings: one frozen dataclass read from the environment when a handler
runs (never at import, so tests and the CLI can change the environment freely)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from snapkeeper import patterns
from snapkeeper.checks import pattern_check
from snapkeeper.errors import ConfigError
from snapkeeper.labels import DEFAULT_DEPLOYMENT, MAX_KEEP
from snapkeeper.options import ORPHAN_KEEP, OrphanPolicy, orphan_policy

DEFAULT_TICK_TOPIC = "snapkeeper-ticks"
DEFAULT_WORK_TOPIC = "snapkeeper-work"
DEFAULT_DEAD_LETTER_TOPIC = "snapkeeper-dead-letter"
DEFAULT_DEAD_LETTER_SUBSCRIPTION = "snapkeeper-dead-letter-sub"
DEFAULT_LABEL_PREFIX = "snapshot-"
DEFAULT_MAX_DELIVERY_ATTEMPTS = 10
# Pub/Sub's range for a dead-letter policy's delivery attempts.
DELIVERY_ATTEMPTS_MIN = 5
DELIVERY_ATTEMPTS_MAX = 100
DEFAULT_SCHEDULER_LOCATION = "us-central1"
# How long the snapshot function follows a snapshot towards READY before it asks for
# redelivery. deploy.sh gives the function this plus a margin as its timeout (event-driven
# functions may run 540 s at most), and the next delivery follows the same snapshot.
DEFAULT_READY_WAIT_SECONDS = 420
MAX_READY_WAIT_SECONDS = 3600
# The bound of one Compute Engine HTTP request (a hung call fails, and is retried).
DEFAULT_COMPUTE_TIMEOUT_SECONDS = 30
MAX_COMPUTE_TIMEOUT_SECONDS = 300

# With a vault (SNAPSHOT_PROJECT), no label takes a disk below this many READY snapshots.
DEFAULT_MIN_KEEP = 3
# The brake: at most this many READY snapshots deleted per disk and schedule in one run.
# Each run adds one snapshot, so with fewer than 2 a lowered N would never shrink.
DEFAULT_MAX_DELETES_PER_RUN = 3
MIN_MAX_DELETES_PER_RUN = 2
MAX_MAX_DELETES_PER_RUN = 1000
# Restore drills: disks restored per drill tick, unless the tick says.
DEFAULT_DRILL_SAMPLE = 1
MAX_DRILL_SAMPLE = 1000

# PRUNE_ORPHANS acted only when a work message was in flight as its disk vanished;
# ORPHAN_POLICY replaced it. A deployment still setting it is told so, never ignored.
REPLACED_PRUNE_ORPHANS = "PRUNE_ORPHANS"
PRUNE_ORPHANS_REPLACED = (
    "PRUNE_ORPHANS is no longer read: set ORPHAN_POLICY instead (keep, the default; "
    "keep-newest, for PRUNE_ORPHANS=true; or max-age:<age> such as max-age:90d)"
)

# Compute Engine's write quota per project and minute (snapshots.insert and .delete count
# against it), shared by all instances of the snapshot function: pacing seeds each
# instance's rate with its share (pacing.py).
DEFAULT_COMPUTE_WRITE_QUOTA_PER_MINUTE = 375
MAX_COMPUTE_WRITE_QUOTA_PER_MINUTE = 1_000_000
DEFAULT_SNAPSHOT_MAX_INSTANCES = 50
MAX_SNAPSHOT_MAX_INSTANCES = 1000
# The longest a delivery waits for its write's turn (or a re-queued one for its
# not-before time) before it is re-queued instead: well inside the function's timeout.
DEFAULT_PACE_MAX_WAIT_SECONDS = 60
# How often one work message may be re-queued for the rate quota before it is
# dead-lettered (each re-queue waits at least one paced turn).
DEFAULT_MAX_REQUEUES = 100
# The quota guard refuses new snapshots in a project holding this share of its SNAPSHOTS
# quota.
DEFAULT_QUOTA_GUARD_PERCENT = 90

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_T = TypeVar("_T")


# The variables that point a Google API's client at a local stand-in (host:port).
ENDPOINT_VARIABLES = {
    "compute": "COMPUTE_EMULATOR_HOST",
    "scheduler": "CLOUD_SCHEDULER_EMULATOR_HOST",
    "pubsub": "PUBSUB_EMULATOR_HOST",
    "resource_manager": "RESOURCE_MANAGER_EMULATOR_HOST",
    "asset": "CLOUD_ASSET_EMULATOR_HOST",
}


@dataclass(frozen=True)
class Endpoints:
    """Where each API's client goes: a local host:port, or None for Google's own."""

    compute: str | None = None
    scheduler: str | None = None
    pubsub: str | None = None
    resource_manager: str | None = None
    asset: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Endpoints:
        return cls(
            **{api: env.get(variable) or None for api, variable in ENDPOINT_VARIABLES.items()}
        )


@dataclass(frozen=True)
class Drills:
    """Restore drills: where scratch disks are made, and how many disks a drill takes."""

    scratch_project: str | None = None
    scratch_zone: str | None = None
    sample: int = DEFAULT_DRILL_SAMPLE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Drills:
        """SCRATCH_PROJECT and SCRATCH_ZONE: both or neither; DRILL_SAMPLE."""
        project = env.get("SCRATCH_PROJECT") or None
        zone = env.get("SCRATCH_ZONE") or None
        if project:
            _check_project("SCRATCH_PROJECT", project)
        if zone:
            _named("SCRATCH_ZONE", check_zone, zone)
        if bool(project) != bool(zone):
            raise ConfigError("SCRATCH_PROJECT and SCRATCH_ZONE go together: set both or neither")
        sample = _int(env, "DRILL_SAMPLE", DEFAULT_DRILL_SAMPLE)
        if not 1 <= sample <= MAX_DRILL_SAMPLE:
            raise ConfigError(f"DRILL_SAMPLE must be between 1 and {MAX_DRILL_SAMPLE}")
        return cls(project, zone, sample)

    def scratch(self) -> tuple[str, str]:
        """(project, zone) for scratch disks; ConfigError when drills are not set up."""
        if not (self.scratch_project and self.scratch_zone):
            raise ConfigError("restore drills need SCRATCH_PROJECT and SCRATCH_ZONE")
        return self.scratch_project, self.scratch_zone


@dataclass(frozen=True)
class Config:
    host_project: str
    target_projects: frozenset[str] = field(default_factory=frozenset)
    # Projects found each tick under these (Cloud Resource Manager), minus the excluded.
    target_folders: tuple[str, ...] = ()  # folders/NUMBER
    target_organization: str | None = None  # organizations/NUMBER
    exclude_projects: frozenset[str] = field(default_factory=frozenset)
    tick_topic: str = DEFAULT_TICK_TOPIC
    work_topic: str = DEFAULT_WORK_TOPIC
    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC
    dead_letter_subscription: str = DEFAULT_DEAD_LETTER_SUBSCRIPTION
    snapshot_project: str | None = None
    default_storage_location: str | None = None
    label_prefix: str = DEFAULT_LABEL_PREFIX
    max_delivery_attempts: int = DEFAULT_MAX_DELIVERY_ATTEMPTS
    ready_wait_seconds: int = DEFAULT_READY_WAIT_SECONDS
    compute_timeout_seconds: int = DEFAULT_COMPUTE_TIMEOUT_SECONDS
    orphan_policy: OrphanPolicy = field(default_factory=OrphanPolicy)
    deployment_id: str = DEFAULT_DEPLOYMENT
    min_keep: int = DEFAULT_MIN_KEEP
    max_deletes_per_run: int = DEFAULT_MAX_DELETES_PER_RUN
    scheduler_location: str = DEFAULT_SCHEDULER_LOCATION
    compute_write_quota_per_minute: int = DEFAULT_COMPUTE_WRITE_QUOTA_PER_MINUTE
    snapshot_max_instances: int = DEFAULT_SNAPSHOT_MAX_INSTANCES
    pace_max_wait_seconds: int = DEFAULT_PACE_MAX_WAIT_SECONDS
    max_requeues: int = DEFAULT_MAX_REQUEUES
    quota_guard_percent: int = DEFAULT_QUOTA_GUARD_PERCENT
    drills: Drills = field(default_factory=Drills)
    endpoints: Endpoints = field(default_factory=Endpoints)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read and validate every setting; raise ConfigError naming the variable."""
        env = os.environ if env is None else env
        if REPLACED_PRUNE_ORPHANS in env:
            raise ConfigError(PRUNE_ORPHANS_REPLACED)
        host = env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCP_PROJECT") or ""
        if not host:
            raise ConfigError(
                "GOOGLE_CLOUD_PROJECT is not set: the host project that owns the topics"
            )
        _check_project("GOOGLE_CLOUD_PROJECT", host)
        raw_targets = env.get("TARGET_PROJECTS", "").split(",")
        targets = frozenset(p.strip() for p in raw_targets if p.strip())
        for project in targets:
            _check_project("TARGET_PROJECTS", project)
        excluded = _named("EXCLUDE_PROJECTS", project_set, env.get("EXCLUDE_PROJECTS", ""))
        folders = _named("TARGET_FOLDERS", folder_list, env.get("TARGET_FOLDERS", ""))
        organization = env.get("TARGET_ORGANIZATION", "").strip() or None
        if organization:
            organization = _named("TARGET_ORGANIZATION", check_organization, organization)
        snapshot_project = env.get("SNAPSHOT_PROJECT") or None
        if snapshot_project:
            _check_project("SNAPSHOT_PROJECT", snapshot_project)
        config = cls(
            host_project=host,
            target_projects=targets,
            target_folders=folders,
            target_organization=organization,
            exclude_projects=excluded,
            tick_topic=_topic(env, "TICK_TOPIC", DEFAULT_TICK_TOPIC),
            work_topic=_topic(env, "WORK_TOPIC", DEFAULT_WORK_TOPIC),
            dead_letter_topic=_topic(env, "DEAD_LETTER_TOPIC", DEFAULT_DEAD_LETTER_TOPIC),
            dead_letter_subscription=_topic(
                env, "DEAD_LETTER_SUBSCRIPTION", DEFAULT_DEAD_LETTER_SUBSCRIPTION
            ),
            snapshot_project=snapshot_project,
            default_storage_location=env.get("DEFAULT_STORAGE_LOCATION") or None,
            label_prefix=env.get("LABEL_PREFIX") or DEFAULT_LABEL_PREFIX,
            max_delivery_attempts=_int(env, "MAX_DELIVERY_ATTEMPTS", DEFAULT_MAX_DELIVERY_ATTEMPTS),
            ready_wait_seconds=_int(env, "READY_WAIT_SECONDS", DEFAULT_READY_WAIT_SECONDS),
            compute_timeout_seconds=_int(
                env, "COMPUTE_TIMEOUT_SECONDS", DEFAULT_COMPUTE_TIMEOUT_SECONDS
            ),
            orphan_policy=_named(
                "ORPHAN_POLICY", orphan_policy, env.get("ORPHAN_POLICY") or ORPHAN_KEEP
            ),
            deployment_id=_named(
                "DEPLOYMENT_ID", check_deployment_id, env.get("DEPLOYMENT_ID") or DEFAULT_DEPLOYMENT
            ),
            min_keep=_int(env, "MIN_KEEP", DEFAULT_MIN_KEEP),
            max_deletes_per_run=_int(env, "MAX_DELETES_PER_RUN", DEFAULT_MAX_DELETES_PER_RUN),
            scheduler_location=env.get("SCHEDULER_LOCATION") or DEFAULT_SCHEDULER_LOCATION,
            compute_write_quota_per_minute=_int(
                env, "COMPUTE_WRITE_QUOTA_PER_MINUTE", DEFAULT_COMPUTE_WRITE_QUOTA_PER_MINUTE
            ),
            snapshot_max_instances=_int(
                env, "SNAPSHOT_MAX_INSTANCES", DEFAULT_SNAPSHOT_MAX_INSTANCES
            ),
            pace_max_wait_seconds=_int(env, "PACE_MAX_WAIT_SECONDS", DEFAULT_PACE_MAX_WAIT_SECONDS),
            max_requeues=_int(env, "MAX_REQUEUES", DEFAULT_MAX_REQUEUES),
            quota_guard_percent=_int(env, "QUOTA_GUARD_PERCENT", DEFAULT_QUOTA_GUARD_PERCENT),
            drills=Drills.from_env(env),
            endpoints=Endpoints.from_env(env),
        )
        try:
            check_label_prefix(config.label_prefix)
        except ConfigError as exc:
            raise ConfigError(f"LABEL_PREFIX {exc}") from None
        if not DELIVERY_ATTEMPTS_MIN <= config.max_delivery_attempts <= DELIVERY_ATTEMPTS_MAX:
            raise ConfigError(
                f"MAX_DELIVERY_ATTEMPTS must be between {DELIVERY_ATTEMPTS_MIN} and "
                f"{DELIVERY_ATTEMPTS_MAX} (Pub/Sub's range)"
            )
        if not 1 <= config.ready_wait_seconds <= MAX_READY_WAIT_SECONDS:
            raise ConfigError(
                f"READY_WAIT_SECONDS must be between 1 and {MAX_READY_WAIT_SECONDS} seconds"
            )
        if not 1 <= config.compute_timeout_seconds <= MAX_COMPUTE_TIMEOUT_SECONDS:
            raise ConfigError(
                f"COMPUTE_TIMEOUT_SECONDS must be between 1 and {MAX_COMPUTE_TIMEOUT_SECONDS}"
            )
        if not 1 <= config.min_keep <= MAX_KEEP:
            raise ConfigError(f"MIN_KEEP must be between 1 and {MAX_KEEP}")
        if not MIN_MAX_DELETES_PER_RUN <= config.max_deletes_per_run <= MAX_MAX_DELETES_PER_RUN:
            raise ConfigError(
                f"MAX_DELETES_PER_RUN must be between {MIN_MAX_DELETES_PER_RUN} and "
                f"{MAX_MAX_DELETES_PER_RUN}: each run adds a snapshot, so below "
                f"{MIN_MAX_DELETES_PER_RUN} a lowered N would never take effect"
            )
        _check_ranges(config)
        return config

    @property
    def keep_floor(self) -> int:
        """The fewest READY snapshots pruning may leave a disk and schedule: MIN_KEEP in
        a vault, whatever its label says; elsewhere 1."""
        return self.min_keep if self.snapshot_project else 1

    @property
    def roots(self) -> tuple[str, ...]:
        """The folders and organization whose projects are targets (snapkeeper.hierarchy)."""
        organization = (self.target_organization,) if self.target_organization else ()
        return (*self.target_folders, *organization)

    def allows(self, project: str) -> bool:
        """In TARGET_PROJECTS and not excluded; projects under the roots are allowed
        by snapkeeper.hierarchy.Scope, which asks Resource Manager."""
        return project in self.target_projects and project not in self.exclude_projects

    def topic_path(self, topic_id: str) -> str:
        return f"projects/{self.host_project}/topics/{topic_id}"


_RANGES: tuple[tuple[str, str, int, int], ...] = (
    (
        "compute_write_quota_per_minute",
        "COMPUTE_WRITE_QUOTA_PER_MINUTE",
        1,
        MAX_COMPUTE_WRITE_QUOTA_PER_MINUTE,
    ),
    ("snapshot_max_instances", "SNAPSHOT_MAX_INSTANCES", 1, MAX_SNAPSHOT_MAX_INSTANCES),
    ("pace_max_wait_seconds", "PACE_MAX_WAIT_SECONDS", 0, MAX_READY_WAIT_SECONDS),
    ("max_requeues", "MAX_REQUEUES", 0, 10_000),
    ("quota_guard_percent", "QUOTA_GUARD_PERCENT", 1, 100),
)


def _check_ranges(config: Config) -> None:
    for attribute, variable, low, high in _RANGES:
        if not low <= getattr(config, attribute) <= high:
            raise ConfigError(f"{variable} must be between {low} and {high}")


# The rules for one value, public so that deploy.sh's config (snapkeeper.deployconfig)
# is checked with these same ones; their messages name no variable.


check_project_id = pattern_check(patterns.PROJECT_ID, "{value} is not a valid project id")
check_label_prefix = pattern_check(patterns.LABEL_PREFIX, "{value} is not a valid label-key prefix")
check_zone = pattern_check(patterns.ZONE, "{value} is not a zone, e.g. us-central1-a")
check_deployment_id = pattern_check(
    patterns.DEPLOYMENT_ID,
    "{value} is not a deployment id: 1-12 lowercase letters, digits and dashes, "
    "starting with a letter",
)


def check_folder(value: str) -> str:
    """A folder, as folders/NUMBER or NUMBER; normalised to folders/NUMBER."""
    match = patterns.FOLDER.fullmatch(value.strip())
    if not match:
        raise ConfigError(f"{value!r} is not a folder: folders/NUMBER or NUMBER")
    return f"folders/{match.group(2)}"


def check_organization(value: str) -> str:
    """An organization, as organizations/NUMBER or NUMBER; normalised to the former."""
    match = patterns.ORGANIZATION.fullmatch(value.strip())
    if not match:
        raise ConfigError(f"{value!r} is not an organization: organizations/NUMBER or NUMBER")
    return f"organizations/{match.group(2)}"


def _items(value: str) -> list[str]:
    return list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))


def folder_list(value: str) -> tuple[str, ...]:
    """Comma-separated folders, normalised, repeats dropped; may be empty."""
    return tuple(dict.fromkeys(check_folder(item) for item in _items(value)))


def project_set(value: str) -> frozenset[str]:
    """Comma-separated project ids; may be empty."""
    return frozenset(check_project_id(item) for item in _items(value))


def check_topic_id(value: str) -> str:
    """A Pub/Sub topic or subscription id."""
    if not patterns.TOPIC_ID.fullmatch(value) or value.startswith("goog"):
        raise ConfigError(f"{value!r} is not a valid Pub/Sub id")
    return value


def parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{raw!r} is not an integer") from None


def parse_bool(raw: str) -> bool:
    """true/false and their usual spellings, any case (an empty value is false)."""
    raw = raw.strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{raw!r} is not true/false")


def _named(variable: str, check: Callable[[str], _T], value: str) -> _T:
    """check(value), its error prefixed with the variable the value came from."""
    try:
        return check(value)
    except ConfigError as exc:
        raise ConfigError(f"{variable}: {exc}") from None


def _check_project(variable: str, value: str) -> None:
    _named(variable, check_project_id, value)


def _topic(env: Mapping[str, str], variable: str, default: str) -> str:
    return _named(variable, check_topic_id, env.get(variable) or default)


def _int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    return _named(variable, parse_int, raw)


def _bool(env: Mapping[str, str], variable: str) -> bool:
    return _named(variable, parse_bool, env.get(variable, ""))

"""Deployment settings: one frozen dataclass read from the environment when a handler
runs (never at import, so tests and the CLI can change the environment freely)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from snapkeeper.errors import ConfigError

DEFAULT_TICK_TOPIC = "snapkeeper-ticks"
DEFAULT_WORK_TOPIC = "snapkeeper-work"
DEFAULT_DEAD_LETTER_TOPIC = "snapkeeper-dead-letter"
DEFAULT_DEAD_LETTER_SUBSCRIPTION = "snapkeeper-dead-letter-sub"
DEFAULT_LABEL_PREFIX = "snapshot-"
DEFAULT_MAX_DELIVERY_ATTEMPTS = 10
DEFAULT_SCHEDULER_LOCATION = "us-central1"
# How long the snapshot function follows a snapshot towards READY before it asks for
# redelivery. deploy.sh gives the function this plus a margin as its timeout (event-driven
# functions may run 540 s at most), and the next delivery follows the same snapshot.
DEFAULT_READY_WAIT_SECONDS = 420
MAX_READY_WAIT_SECONDS = 3600

# Project ids: 6-30 chars; we accept the wider legacy forms ("domain.com:proj") too.
_PROJECT_ID = re.compile(r"^([a-z][-a-z0-9.]*:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_TOPIC_ID = re.compile(r"^[A-Za-z][-A-Za-z0-9._~%+]{2,254}$")
_LABEL_PREFIX = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    host_project: str
    target_projects: frozenset[str] = field(default_factory=frozenset)
    tick_topic: str = DEFAULT_TICK_TOPIC
    work_topic: str = DEFAULT_WORK_TOPIC
    dead_letter_topic: str = DEFAULT_DEAD_LETTER_TOPIC
    dead_letter_subscription: str = DEFAULT_DEAD_LETTER_SUBSCRIPTION
    snapshot_project: str | None = None
    default_storage_location: str | None = None
    label_prefix: str = DEFAULT_LABEL_PREFIX
    max_delivery_attempts: int = DEFAULT_MAX_DELIVERY_ATTEMPTS
    ready_wait_seconds: int = DEFAULT_READY_WAIT_SECONDS
    prune_orphans: bool = False
    scheduler_location: str = DEFAULT_SCHEDULER_LOCATION
    compute_emulator_host: str | None = None
    scheduler_emulator_host: str | None = None
    pubsub_emulator_host: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read and validate every setting; raise ConfigError naming the variable."""
        env = os.environ if env is None else env
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
        snapshot_project = env.get("SNAPSHOT_PROJECT") or None
        if snapshot_project:
            _check_project("SNAPSHOT_PROJECT", snapshot_project)
        config = cls(
            host_project=host,
            target_projects=targets,
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
            prune_orphans=_bool(env, "PRUNE_ORPHANS"),
            scheduler_location=env.get("SCHEDULER_LOCATION") or DEFAULT_SCHEDULER_LOCATION,
            compute_emulator_host=env.get("COMPUTE_EMULATOR_HOST") or None,
            scheduler_emulator_host=env.get("CLOUD_SCHEDULER_EMULATOR_HOST") or None,
            pubsub_emulator_host=env.get("PUBSUB_EMULATOR_HOST") or None,
        )
        if not _LABEL_PREFIX.match(config.label_prefix):
            raise ConfigError(
                f"LABEL_PREFIX {config.label_prefix!r} is not a valid label-key prefix"
            )
        if not 5 <= config.max_delivery_attempts <= 100:
            raise ConfigError("MAX_DELIVERY_ATTEMPTS must be between 5 and 100 (Pub/Sub's range)")
        if not 1 <= config.ready_wait_seconds <= MAX_READY_WAIT_SECONDS:
            raise ConfigError(
                f"READY_WAIT_SECONDS must be between 1 and {MAX_READY_WAIT_SECONDS} seconds"
            )
        return config

    def allows(self, project: str) -> bool:
        return project in self.target_projects

    def topic_path(self, topic_id: str) -> str:
        return f"projects/{self.host_project}/topics/{topic_id}"


def _check_project(variable: str, value: str) -> None:
    if not _PROJECT_ID.match(value):
        raise ConfigError(f"{variable}: {value!r} is not a valid project id")


def _topic(env: Mapping[str, str], variable: str, default: str) -> str:
    value = env.get(variable) or default
    if not _TOPIC_ID.match(value) or value.startswith("goog"):
        raise ConfigError(f"{variable}: {value!r} is not a valid Pub/Sub id")
    return value


def _int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{variable}: {raw!r} is not an integer") from None


def _bool(env: Mapping[str, str], variable: str) -> bool:
    raw = env.get(variable, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{variable}: {raw!r} is not true/false")

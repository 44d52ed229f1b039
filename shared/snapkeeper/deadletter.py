"""Publishing to the dead-letter topic, so that no failure is ever lost silently.

Every dead letter carries the original payload as its data and, as attributes, the
original attributes plus why: error_class, error, attempts, function and time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from snapkeeper import clients
from snapkeeper.config import Config

# The `function` attribute of a dead letter: which function gave up on the message
# (and so which topic a replay goes to).
ENUMERATOR = "enumerate_disks"
SNAPSHOTTER = "snapshot_disk"
PUBLISH_TIMEOUT = 30.0
MAX_ATTRIBUTE_VALUE = 1024  # Pub/Sub allows 1024 bytes per attribute value
REASON_ATTRIBUTES = ("error_class", "error", "attempts", "function", "time")
# Set on a replayed letter (the dead letter's message id): a replayed work message reads
# the disk's labels again rather than trusting the ones it carries.
REPLAY_ATTRIBUTE = "replay_of"


def dead_letter(
    config: Config,
    payload: bytes,
    attributes: Mapping[str, str],
    *,
    error_class: str,
    error: str,
    attempts: int | None,
    function: str,
) -> str:
    """Publish and wait; returns the dead letter's message id. Raises if Pub/Sub does not
    take it, so the caller's message is redelivered instead of lost."""
    reasons = {
        "error_class": error_class,
        "error": _clip(error),
        "attempts": str(attempts) if attempts is not None else "unknown",
        "function": function,
        "time": datetime.now(UTC).isoformat(),
    }
    merged = {k: _clip(v) for k, v in attributes.items() if k not in reasons} | reasons
    publisher = clients.publisher(config.endpoints.pubsub)
    future = publisher.publish(config.topic_path(config.dead_letter_topic), payload, **merged)
    return str(future.result(timeout=PUBLISH_TIMEOUT))


def _clip(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= MAX_ATTRIBUTE_VALUE:
        return text
    return encoded[: MAX_ATTRIBUTE_VALUE - 3].decode(errors="ignore") + "..."


# Attributes Pub/Sub itself adds when it forwards a message after max delivery attempts.
PUBSUB_DEAD_LETTER_PREFIX = "CloudPubSubDeadLetter"
PUBSUB_DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
WORK = "work"
TICK = "tick"


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter as operators see it, whoever dead-lettered it (a function, with
    its reasons as attributes, or Pub/Sub itself after max delivery attempts)."""

    message_id: str
    payload: bytes
    attributes: Mapping[str, str]
    publish_time: datetime | None

    @property
    def body(self) -> dict[str, Any] | None:
        try:
            body = json.loads(self.payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return body if isinstance(body, dict) else None

    @property
    def kind(self) -> str | None:
        """WORK or TICK (the topic a replay goes to), or None when neither can be told."""
        function = self.attributes.get("function")
        if function == SNAPSHOTTER:
            return WORK
        if function == ENUMERATOR:
            return TICK
        body = self.body or {}
        if "disk_id" in body:
            return WORK
        if "schedule" in body:
            return TICK
        return None

    @property
    def error_class(self) -> str:
        if "error_class" in self.attributes:
            return self.attributes["error_class"]
        # Pub/Sub forwarded it: the last error is in the function's log, not here.
        return "MaxDeliveryAttempts"

    @property
    def error(self) -> str:
        return self.attributes.get(
            "error", "dead-lettered by Pub/Sub after its last delivery attempt"
        )

    @property
    def attempts(self) -> str:
        return self.attributes.get(
            "attempts", self.attributes.get(PUBSUB_DELIVERY_COUNT, "unknown")
        )

    @property
    def time(self) -> str:
        if "time" in self.attributes:
            return self.attributes["time"]
        return self.publish_time.isoformat() if self.publish_time else ""

    def field(self, name: str) -> str:
        """A field of the original message (project, disk, schedule...): attribute or
        payload, so Pub/Sub-forwarded letters read like the others."""
        value = self.attributes.get(name) or (self.body or {}).get(name)
        if value is None and name == "project":
            projects = (self.body or {}).get("projects") or []
            value = ",".join(str(p) for p in projects) if isinstance(projects, list) else None
        return "" if value is None else str(value)

    @property
    def replay_attributes(self) -> dict[str, str]:
        """The original attributes, without the reasons it was dead-lettered."""
        return {
            k: v
            for k, v in self.attributes.items()
            if k not in REASON_ATTRIBUTES and not k.startswith(PUBSUB_DEAD_LETTER_PREFIX)
        }


def replay_topic(letter: DeadLetter, config: Config) -> str | None:
    """The topic path a dead letter goes back to, or None when it cannot be told."""
    topic = {WORK: config.work_topic, TICK: config.tick_topic}.get(letter.kind or "")
    return config.topic_path(topic) if topic else None

"""Publishing to the dead-letter topic, so that no failure is ever lost silently.

Every dead letter carries the original payload as its data and, as attributes, the
original attributes plus why: error_class, error, attempts, function and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from snapkeeper import clients
from snapkeeper.config import Config

PUBLISH_TIMEOUT = 30.0
MAX_ATTRIBUTE_VALUE = 1024  # Pub/Sub allows 1024 bytes per attribute value
REASON_ATTRIBUTES = ("error_class", "error", "attempts", "function", "time")


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
    publisher = clients.publisher(config.pubsub_emulator_host)
    future = publisher.publish(config.topic_path(config.dead_letter_topic), payload, **merged)
    return str(future.result(timeout=PUBLISH_TIMEOUT))


def _clip(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= MAX_ATTRIBUTE_VALUE:
        return text
    return encoded[: MAX_ATTRIBUTE_VALUE - 3].decode(errors="ignore") + "..."

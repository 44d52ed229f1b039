"""The REST JSON of Cloud Scheduler v1 <-> the backend's dataclasses.

Proto3 JSON rules, as the real front end applies them: camelCase names (snake_case is
accepted too), bytes as base64, durations as "3.5s", timestamps as RFC 3339, enums as
names unless the caller asked for `$alt=json;enum-encoding=int` (the Python client does).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from . import cron
from .backend import (
    DEFAULT_ATTEMPT_DEADLINE,
    REGION_LABEL,
    Job,
    JobState,
    Location,
    PubsubTarget,
    RetryConfig,
    RpcStatus,
    format_timestamp,
)
from .errors import ONLY_PUBSUB_TARGETS, InvalidArgument

JOB_FIELDS = frozenset(
    {
        "name",
        "description",
        "pubsubTarget",
        "appEngineHttpTarget",
        "httpTarget",
        "schedule",
        "timeZone",
        "userUpdateTime",
        "state",
        "status",
        "scheduleTime",
        "lastAttemptTime",
        "retryConfig",
        "attemptDeadline",
    }
)
PUBSUB_TARGET_FIELDS = frozenset({"topicName", "data", "attributes"})
RETRY_CONFIG_FIELDS = frozenset(
    {"retryCount", "maxRetryDuration", "minBackoffDuration", "maxBackoffDuration", "maxDoublings"}
)
UNSUPPORTED_TARGETS = ("httpTarget", "appEngineHttpTarget")
STATE_NUMBERS: dict[JobState, int] = {JobState.ENABLED: 1, JobState.PAUSED: 2}
DURATION_RE = re.compile(r"^\d{1,12}(\.\d{1,9})?s$")

# Every field a patch can set, by its updateMask path, and how it is set.
LEAF_SETTERS: dict[str, Callable[[Job, Any], Job]] = {
    "description": lambda job, value: dataclasses.replace(job, description=value),
    "schedule": lambda job, value: dataclasses.replace(job, schedule=value),
    "timeZone": lambda job, value: dataclasses.replace(
        job, time_zone=value or cron.DEFAULT_TIME_ZONE
    ),
    "attemptDeadline": lambda job, value: dataclasses.replace(job, attempt_deadline=value),
    "pubsubTarget.topicName": lambda job, value: dataclasses.replace(
        job, pubsub_target=dataclasses.replace(job.pubsub_target, topic_name=value)
    ),
    "pubsubTarget.data": lambda job, value: dataclasses.replace(
        job, pubsub_target=dataclasses.replace(job.pubsub_target, data=value)
    ),
    "pubsubTarget.attributes": lambda job, value: dataclasses.replace(
        job, pubsub_target=dataclasses.replace(job.pubsub_target, attributes=dict(value))
    ),
    "retryConfig.retryCount": lambda job, value: dataclasses.replace(
        job, retry_config=dataclasses.replace(job.retry_config, retry_count=value)
    ),
    "retryConfig.maxRetryDuration": lambda job, value: dataclasses.replace(
        job, retry_config=dataclasses.replace(job.retry_config, max_retry_duration=value)
    ),
    "retryConfig.minBackoffDuration": lambda job, value: dataclasses.replace(
        job, retry_config=dataclasses.replace(job.retry_config, min_backoff_duration=value)
    ),
    "retryConfig.maxBackoffDuration": lambda job, value: dataclasses.replace(
        job, retry_config=dataclasses.replace(job.retry_config, max_backoff_duration=value)
    ),
    "retryConfig.maxDoublings": lambda job, value: dataclasses.replace(
        job, retry_config=dataclasses.replace(job.retry_config, max_doublings=value)
    ),
}
_DEFAULT_RETRY = RetryConfig()
# What a masked field becomes when the body leaves it out (cleared to its default).
LEAF_DEFAULTS: dict[str, Any] = {
    "description": "",
    "schedule": "",
    "timeZone": cron.DEFAULT_TIME_ZONE,
    "attemptDeadline": DEFAULT_ATTEMPT_DEADLINE,
    "pubsubTarget.topicName": "",
    "pubsubTarget.data": b"",
    "pubsubTarget.attributes": {},
    "retryConfig.retryCount": _DEFAULT_RETRY.retry_count,
    "retryConfig.maxRetryDuration": _DEFAULT_RETRY.max_retry_duration,
    "retryConfig.minBackoffDuration": _DEFAULT_RETRY.min_backoff_duration,
    "retryConfig.maxBackoffDuration": _DEFAULT_RETRY.max_backoff_duration,
    "retryConfig.maxDoublings": _DEFAULT_RETRY.max_doublings,
}
# A mask path naming a whole message covers all of its fields.
MESSAGE_PATHS: dict[str, tuple[str, ...]] = {
    prefix: tuple(leaf for leaf in LEAF_SETTERS if leaf.startswith(prefix + "."))
    for prefix in ("pubsubTarget", "retryConfig")
}


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"Invalid JSON payload received. '{where}' must be an object.")
    return value


def _fields(value: Any, known: frozenset[str], where: str) -> dict[str, Any]:
    """The object's fields under their camelCase names; unknown names are refused."""
    fields: dict[str, Any] = {}
    for key, item in _object(value, where).items():
        name = camel_case(key)
        if name not in known:
            raise InvalidArgument(
                f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': "
                "Cannot find field."
            )
        fields[name] = item
    return fields


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"Invalid value at '{where}': expected a string.")
    return value


def _integer(value: Any, where: str) -> int:
    # Proto3 JSON carries integers as numbers or as decimal strings.
    if isinstance(value, bool):
        raise InvalidArgument(f"Invalid value at '{where}': expected an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise InvalidArgument(f"Invalid value at '{where}': expected an integer.")


def _bytes(value: Any, where: str) -> bytes:
    text = _string(value, where)
    # Proto3 JSON accepts standard and URL-safe base64, padded or not.
    normalized = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidArgument(f"Invalid value at '{where}': invalid base64 data.") from error


def _duration(value: Any, where: str) -> str:
    text = _string(value, where)
    if not DURATION_RE.match(text):
        raise InvalidArgument(f"Invalid value at '{where}': invalid duration {text!r}.")
    return text


def _attributes(value: Any, where: str) -> dict[str, str]:
    return {key: _string(item, f"{where}[{key}]") for key, item in _object(value, where).items()}


def _reject_unsupported_targets(fields: Mapping[str, Any]) -> None:
    for target in UNSUPPORTED_TARGETS:
        if target in fields:
            raise InvalidArgument(ONLY_PUBSUB_TARGETS.format(target=target))


def parse_leaves(body: Any) -> dict[str, Any]:
    """The settable fields present in a job body, by updateMask path, parsed."""
    fields = _fields(body, JOB_FIELDS, "job")
    _reject_unsupported_targets(fields)
    leaves: dict[str, Any] = {}
    for name in ("description", "schedule", "timeZone"):
        if name in fields:
            leaves[name] = _string(fields[name], f"job.{name}")
    if "attemptDeadline" in fields:
        leaves["attemptDeadline"] = _duration(fields["attemptDeadline"], "job.attempt_deadline")
    if "pubsubTarget" in fields:
        target = _fields(fields["pubsubTarget"], PUBSUB_TARGET_FIELDS, "job.pubsub_target")
        where = "job.pubsub_target"
        if "topicName" in target:
            leaves["pubsubTarget.topicName"] = _string(target["topicName"], f"{where}.topic_name")
        if "data" in target:
            leaves["pubsubTarget.data"] = _bytes(target["data"], f"{where}.data")
        if "attributes" in target:
            leaves["pubsubTarget.attributes"] = _attributes(
                target["attributes"], f"{where}.attributes"
            )
    if "retryConfig" in fields:
        retry = _fields(fields["retryConfig"], RETRY_CONFIG_FIELDS, "job.retry_config")
        for name, item in retry.items():
            where = f"job.retry_config.{name}"
            parse = _integer if name in ("retryCount", "maxDoublings") else _duration
            leaves[f"retryConfig.{name}"] = parse(item, where)
    return leaves


def job_from_json(body: Any) -> Job:
    """A job to create: settable fields from the body, output-only ones ignored."""
    fields = _fields(body, JOB_FIELDS, "job")
    _reject_unsupported_targets(fields)
    if "pubsubTarget" not in fields:
        raise InvalidArgument("A job needs a target; this local fake supports pubsubTarget only.")
    name = _string(fields.get("name", ""), "job.name")
    job = Job(name=name, schedule="", pubsub_target=PubsubTarget(topic_name=""))
    for path, value in parse_leaves(body).items():
        job = LEAF_SETTERS[path](job, value)
    return job


def parse_update_mask(raw: str | None) -> list[str] | None:
    """The mask's paths in camelCase, or None when the request has no mask."""
    if raw is None or not raw.strip():
        return None
    paths = []
    for path in raw.split(","):
        path = ".".join(camel_case(part) for part in path.strip().split("."))
        if path.split(".")[0] in UNSUPPORTED_TARGETS:
            raise InvalidArgument(ONLY_PUBSUB_TARGETS.format(target=path.split(".")[0]))
        if path not in LEAF_SETTERS and path not in MESSAGE_PATHS:
            raise InvalidArgument(f"Invalid update mask path: {path!r}.")
        paths.append(path)
    return paths


def apply_patch(job: Job, body: Any, mask: list[str] | None) -> Job:
    """UpdateJob: with a mask only the masked fields change (a masked field the body
    leaves out is cleared); without one, every settable field present in the body."""
    leaves = parse_leaves(body)
    if mask is None:
        selected = list(leaves)
    else:
        selected = []
        for path in mask:
            selected.extend(MESSAGE_PATHS.get(path, (path,)))
    for path in selected:
        job = LEAF_SETTERS[path](job, leaves.get(path, LEAF_DEFAULTS[path]))
    return job


def status_to_json(status: RpcStatus) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if status.code:
        out["code"] = status.code
    if status.message:
        out["message"] = status.message
    return out


def job_to_json(job: Job, int_enums: bool = False) -> dict[str, Any]:
    target: dict[str, Any] = {"topicName": job.pubsub_target.topic_name}
    if job.pubsub_target.data:
        target["data"] = base64.b64encode(job.pubsub_target.data).decode()
    if job.pubsub_target.attributes:
        target["attributes"] = dict(job.pubsub_target.attributes)
    retry: dict[str, Any] = {
        "maxRetryDuration": job.retry_config.max_retry_duration,
        "minBackoffDuration": job.retry_config.min_backoff_duration,
        "maxBackoffDuration": job.retry_config.max_backoff_duration,
        "maxDoublings": job.retry_config.max_doublings,
    }
    if job.retry_config.retry_count:
        retry["retryCount"] = job.retry_config.retry_count
    out: dict[str, Any] = {"name": job.name}
    if job.description:
        out["description"] = job.description
    out["pubsubTarget"] = target
    if job.user_update_time:
        out["userUpdateTime"] = format_timestamp(job.user_update_time)
    out["state"] = STATE_NUMBERS[job.state] if int_enums else str(job.state)
    if job.status is not None:
        out["status"] = status_to_json(job.status)
    if job.schedule_time:
        out["scheduleTime"] = format_timestamp(job.schedule_time)
    if job.last_attempt_time:
        out["lastAttemptTime"] = format_timestamp(job.last_attempt_time)
    out["schedule"] = job.schedule
    out["timeZone"] = job.time_zone
    out["retryConfig"] = retry
    out["attemptDeadline"] = job.attempt_deadline
    return out


def location_to_json(location: Location) -> dict[str, Any]:
    return {
        "name": location.name,
        "locationId": location.location_id,
        "labels": {REGION_LABEL: location.location_id},
    }

"""The rules for each value of deploy.sh's config, and the platform limits they check.

Where the library has a rule (project ids, label prefix, integers and booleans as the
functions' config reads them; schedule names as the labels; cron and time zone as the
slots are computed), it is used as it is; the rules only deploy.sh needed live here.
Each rule returns the normalised value or raises a SnapkeeperError saying what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from snapkeeper import config, labels, options, patterns, slots
from snapkeeper.checks import pattern_check
from snapkeeper.errors import ConfigError, SnapkeeperError
from snapkeeper.messages import MAX_DRILL_SAMPLE, DrillTick, Tick
from snapkeeper.options import ORPHAN_FORM, OrphanPolicy, ScheduleOptions, orphan_policy

# Limits of the platform.
EVENT_TIMEOUT_MAX = 540  # the longest an event-driven function may run
ACK_DEADLINE_MAX = 600  # Pub/Sub's longest ack deadline
RETRY_DELAY_MAX = 600  # Pub/Sub's longest retry delay
RATE_LIMIT_SECONDS = 600  # Compute Engine: one snapshot per disk per 10 minutes
# The snapshot function follows its snapshot to READY for READY_WAIT_SECONDS; its timeout
# adds this margin for the insert, the pruning and the log line.
READY_WAIT_MARGIN = 60
READY_WAIT_MIN = 10
READY_WAIT_MAX = EVENT_TIMEOUT_MAX - READY_WAIT_MARGIN
# Cloud Run: a concurrency above 1 needs at least 1 vCPU; vCPUs -> MiB of memory allowed.
MEMORY_MIB_PER_CPU = {1: (512, 4096)}

# deploy.sh's short durations: a count and an optional unit letter ("10s", "26h").
_DURATION = re.compile(r"([0-9]+)([a-z]?)")
# The local stack's endpoints.
_URL = re.compile(r"https?://[A-Za-z0-9.:_/%-]+")
_HOST_PORT = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")
SECONDS_PER_UNIT = {"": 1, "s": 1, "m": 60}
STALE_UNITS = ("m", "h", "d")  # what a PromQL range (the stale-disk alert's) takes
STALE_MAX_COUNT = 99999
SCHEDULE_FORM = (
    "name|cron|time zone[|stale after][|options], e.g. daily|0 3 * * *|Asia/Tokyo or "
    "monthly|0 5 1 * *|Etc/UTC|type=ARCHIVE,max-age=400d"
)

Check = Callable[[str], object]


def failures(checks: Iterable[tuple[Check, str]]) -> list[str]:
    """The message of every check that fails on its value."""
    found = []
    for check, value in checks:
        try:
            check(value)
        except SnapkeeperError as exc:
            found.append(str(exc))
    return found


region = pattern_check(patterns.REGION, "{value} is not a region")
storage_location = pattern_check(patterns.STORAGE_LOCATION, "{value} is not a storage location")


def _list_of(check: Check, value: str) -> tuple[str, ...]:
    """A comma-separated list: items trimmed, empty ones and repeats dropped, every bad
    one in one error (they are on one line)."""
    items = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    bad = failures((check, item) for item in items)
    if bad:
        raise ConfigError("; ".join(bad))
    return items


def project_list(value: str) -> tuple[str, ...]:
    projects = _list_of(config.check_project_id, value)
    if not projects:
        raise ConfigError("lists no project")
    return projects


def folder_list(value: str) -> tuple[str, ...]:
    folders = _list_of(config.check_folder, value)
    if not folders:
        raise ConfigError("lists no folder")
    return tuple(dict.fromkeys(config.check_folder(folder) for folder in folders))


def excluded_projects(value: str) -> tuple[str, ...]:
    return _list_of(config.check_project_id, value)


def notification_channel(value: str) -> str:
    match = patterns.NOTIFICATION_CHANNEL.fullmatch(value)
    if not match:
        raise ConfigError(f"{value!r} is not projects/PROJECT/notificationChannels/NUMBER")
    config.check_project_id(match.group(1))
    return value


def channel_list(value: str) -> tuple[str, ...]:
    return _list_of(notification_channel, value)


def duration(value: str, units: Sequence[str]) -> tuple[int, str]:
    """(count, unit) of a duration such as 10s or 26h, its unit one of `units`."""
    match = _DURATION.fullmatch(value)
    if not match or match.group(2) not in units:
        raise ConfigError(f"{value!r} is not a duration in {'/'.join(filter(None, units))}")
    return int(match.group(1)), match.group(2)


def retry_delay(value: str) -> int:
    """Seconds: 10s, 2m, or a bare number of seconds."""
    count, unit = duration(value, tuple(SECONDS_PER_UNIT))
    seconds = count * SECONDS_PER_UNIT[unit]
    if seconds > RETRY_DELAY_MAX:
        raise ConfigError(f"{value!r} is above {RETRY_DELAY_MAX}s")
    return seconds


def stale_after(value: str) -> str:
    """How long a disk may go without a snapshot before the stale-disk alert fires."""
    count, unit = duration(value, STALE_UNITS)
    if not 1 <= count <= STALE_MAX_COUNT:
        raise ConfigError(f"stale after {value!r} must be from 1 to {STALE_MAX_COUNT}{unit}")
    return f"{count}{unit}"


def default_stale_after(cron: str) -> str:
    """The stale window when a SCHEDULE line gives none: the cron's period plus slack for
    a late or retried run."""
    _minute, hour, day, _month, weekday = cron.split()
    if day != "*":
        return "32d"  # monthly
    if weekday != "*":
        return "8d"  # weekly
    if hour == "*" or any(mark in hour for mark in "/,-"):
        return "3h"  # several times a day
    return "26h"  # daily


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    time_zone: str
    stale_after: str
    options: ScheduleOptions = field(default_factory=ScheduleOptions)

    @property
    def tick(self) -> str:
        """What its Scheduler job publishes: the message the enumerator parses."""
        return Tick(self.name, self.cron, self.time_zone, options=self.options).to_json().decode()


def _stale_and_options(value: str, rest: list[str]) -> tuple[str, str]:
    """The fields after the time zone: a stale window (no "="), then options (with "="),
    each optional: `|26h`, `|type=ARCHIVE`, `|26h|type=ARCHIVE`, `||type=ARCHIVE`."""
    while rest and not rest[-1]:
        rest = rest[:-1]  # "name|cron|zone|": nothing given
    if len(rest) == 1:
        return ("", rest[0]) if "=" in rest[0] else (rest[0], "")
    if len(rest) == 2 and "=" not in rest[0] and "=" in rest[1]:
        return rest[0], rest[1]
    if not rest:
        return "", ""
    raise ConfigError(f"{value!r} is not {SCHEDULE_FORM}")


def schedule(value: str) -> Schedule:
    """A SCHEDULE line's value, every bad field of it in one error."""
    parts = [part.strip() for part in value.split("|")]
    if len(parts) < 3:
        raise ConfigError(f"{value!r} is not {SCHEDULE_FORM}")
    stale_text, option_text = _stale_and_options(value, parts[3:])
    name, cron, time_zone = parts[0], " ".join(parts[1].split()), parts[2]
    checks: list[tuple[Check, str]] = [
        (labels.validate_schedule_name, name),
        (slots.validate_cron, cron),
        (slots.zone, time_zone),
    ]
    if stale_text:
        checks.append((stale_after, stale_text))
    if option_text:
        checks.append((options.parse_text, option_text))
    bad = failures(checks)
    if bad:
        raise ConfigError("; ".join(bad))
    stale = stale_after(stale_text) if stale_text else default_stale_after(cron)
    chosen = options.parse_text(option_text) if option_text else ScheduleOptions()
    return Schedule(name, cron, time_zone, stale, chosen)


@dataclass(frozen=True)
class DrillSchedule:
    """DRILL_SCHEDULE: when the restore drill's Scheduler job ticks."""

    cron: str
    time_zone: str

    @property
    def tick(self) -> str:
        """What its job publishes: a drill tick (the sample is the functions' DRILL_SAMPLE)."""
        return DrillTick(self.cron, self.time_zone).to_json().decode()


DRILL_FORM = "cron|time zone, e.g. 0 4 * * 1|Etc/UTC"


def drill_schedule(value: str) -> DrillSchedule:
    parts = [part.strip() for part in value.split("|")]
    if len(parts) != 2:
        raise ConfigError(f"{value!r} is not {DRILL_FORM}")
    cron, time_zone = " ".join(parts[0].split()), parts[1]
    bad = failures([(slots.validate_cron, cron), (slots.zone, time_zone)])
    if bad:
        raise ConfigError("; ".join(bad))
    return DrillSchedule(cron, time_zone)


def ready_wait(value: str) -> int:
    """READY_WAIT_SECONDS: the snapshot function's timeout (this + the margin) must fit."""
    wait = config.parse_int(value)
    if wait < READY_WAIT_MIN:
        raise ConfigError(f"{wait} is out of range")
    if wait > READY_WAIT_MAX:
        raise ConfigError(
            f"{wait} does not fit the snapshot function's timeout: {wait}s + "
            f"{READY_WAIT_MARGIN}s margin is above {EVENT_TIMEOUT_MAX}s, the longest an "
            "event-driven function may run"
        )
    return wait


def ack_deadline_for(timeout: int, floor: int = 0) -> int:
    """A push subscription's ack deadline: Pub/Sub waits that long for the function's
    answer before delivering again, so at least its timeout (and floor), at most the
    maximum."""
    return min(max(timeout, floor), ACK_DEADLINE_MAX)


def instance_size_problem(cpu: int, memory_mib: int, concurrency: int) -> str | None:
    """What breaks Cloud Run's rules for one instance, or None."""
    if concurrency > 1 and cpu < 1:
        return f"{concurrency} messages at once need at least 1 vCPU per instance (has {cpu})"
    if cpu in MEMORY_MIB_PER_CPU:
        low, high = MEMORY_MIB_PER_CPU[cpu]
        if not low <= memory_mib <= high:
            return f"{memory_mib} MiB does not go with {cpu} vCPU ({low} to {high} MiB)"
    return None


# -- the table: each key's rule, what a good value looks like, its default ------------------


@dataclass(frozen=True)
class Rule:
    parse: Callable[[str], Any]
    expected: str  # said with every error about the key
    default: Any = None  # None: required, or derived from another key


def integer(low: int, high: int, default: int, why: str = "") -> Rule:
    def parse(value: str) -> int:
        number = config.parse_int(value)
        if not low <= number <= high:
            raise ConfigError(f"{number} is out of range")
        return number

    return Rule(parse, f"a whole number from {low} to {high}{why}, default {default}", default)


def _delay(default: int) -> Rule:
    expected = f"a duration from 0s to {RETRY_DELAY_MAX}s such as 10s or 2m, default {default}s"
    return Rule(retry_delay, expected, default)


RULES: dict[str, Rule] = {
    "HOST_PROJECT": Rule(config.check_project_id, "a project id, e.g. my-snapkeeper-host"),
    "REGION": Rule(region, "a region, e.g. europe-west1"),
    "SCHEDULER_LOCATION": Rule(region, "a region, e.g. europe-west1; default REGION"),
    "TARGET_PROJECTS": Rule(
        project_list, "comma-separated project ids, e.g. prod-app-1,prod-db-2", ()
    ),
    "TARGET_FOLDERS": Rule(
        folder_list, "comma-separated folders, e.g. folders/123456789012,345678901234", ()
    ),
    "TARGET_ORGANIZATION": Rule(
        config.check_organization, "an organization, e.g. organizations/123456789012", ""
    ),
    "ROLE_ORGANIZATION": Rule(
        config.check_organization,
        "the organization the custom roles are defined in, to be granted on TARGET_FOLDERS, "
        "e.g. organizations/123456789012; default TARGET_ORGANIZATION",
        "",
    ),
    "EXCLUDE_PROJECTS": Rule(
        excluded_projects, "comma-separated project ids never snapshotted, or nothing", ()
    ),
    "SNAPSHOT_PROJECT": Rule(config.check_project_id, "a project id, or nothing", ""),
    "DEFAULT_STORAGE_LOCATION": Rule(
        storage_location, "a storage location such as eu or us-central1, or nothing", ""
    ),
    "LABEL_PREFIX": Rule(
        config.check_label_prefix,
        f"[a-z][a-z0-9_-]{{0,40}}, default {config.DEFAULT_LABEL_PREFIX}",
        config.DEFAULT_LABEL_PREFIX,
    ),
    "ORPHAN_POLICY": Rule(orphan_policy, f"{ORPHAN_FORM}, default keep", OrphanPolicy()),
    "DEPLOYMENT_ID": Rule(
        config.check_deployment_id,
        f"1-12 lowercase letters, digits and dashes, default {labels.DEFAULT_DEPLOYMENT}",
        labels.DEFAULT_DEPLOYMENT,
    ),
    "MIN_KEEP": integer(
        1, labels.MAX_KEEP, config.DEFAULT_MIN_KEEP, " (the floor of N with SNAPSHOT_PROJECT)"
    ),
    "MAX_DELETES_PER_RUN": integer(
        config.MIN_MAX_DELETES_PER_RUN,
        config.MAX_MAX_DELETES_PER_RUN,
        config.DEFAULT_MAX_DELETES_PER_RUN,
        " (per disk and schedule)",
    ),
    "MAX_DELIVERY_ATTEMPTS": integer(
        config.DELIVERY_ATTEMPTS_MIN,
        config.DELIVERY_ATTEMPTS_MAX,
        config.DEFAULT_MAX_DELIVERY_ATTEMPTS,
        " (Pub/Sub's range)",
    ),
    "MIN_RETRY_DELAY": _delay(10),
    "MAX_RETRY_DELAY": _delay(RETRY_DELAY_MAX),
    "ACK_DEADLINE_SECONDS": integer(10, ACK_DEADLINE_MAX, 60, " (Pub/Sub's range)"),
    "SNAPSHOT_MAX_INSTANCES": integer(
        1, config.MAX_SNAPSHOT_MAX_INSTANCES, config.DEFAULT_SNAPSHOT_MAX_INSTANCES
    ),
    "SNAPSHOT_CONCURRENCY": integer(1, 1000, 20),
    "READY_WAIT_SECONDS": Rule(
        ready_wait,
        f"a whole number of seconds from {READY_WAIT_MIN} to {READY_WAIT_MAX}, default "
        f"{config.DEFAULT_READY_WAIT_SECONDS}",
        config.DEFAULT_READY_WAIT_SECONDS,
    ),
    "COMPUTE_WRITE_QUOTA_PER_MINUTE": integer(
        1,
        config.MAX_COMPUTE_WRITE_QUOTA_PER_MINUTE,
        config.DEFAULT_COMPUTE_WRITE_QUOTA_PER_MINUTE,
        " (the write quota per project and minute the snapshot function paces to)",
    ),
    "QUOTA_GUARD_PERCENT": integer(
        1,
        100,
        config.DEFAULT_QUOTA_GUARD_PERCENT,
        " (of the SNAPSHOTS quota, from which new snapshots are refused)",
    ),
    "NOTIFICATION_CHANNELS": Rule(
        channel_list, "comma-separated projects/PROJECT/notificationChannels/NUMBER", ()
    ),
    # Restore drills (optional): when, how many disks, and where the scratch disks go.
    "DRILL_SCHEDULE": Rule(drill_schedule, f"{DRILL_FORM}, or nothing (no drills)"),
    "DRILL_SAMPLE": integer(
        1, MAX_DRILL_SAMPLE, config.DEFAULT_DRILL_SAMPLE, " (disks restored per drill)"
    ),
    "SCRATCH_PROJECT": Rule(config.check_project_id, "a project id, or nothing", ""),
    "SCRATCH_ZONE": Rule(config.check_zone, "a zone such as us-central1-a, or nothing", ""),
}
REQUIRED = ("HOST_PROJECT", "REGION")
# At least one of these says which projects are covered.
TARGET_KEYS = ("TARGET_PROJECTS", "TARGET_FOLDERS", "TARGET_ORGANIZATION")

# The local stack's endpoints (deploy.sh --local): name -> (pattern, what it looks like).
ENDPOINTS: dict[str, tuple[re.Pattern[str], str]] = {
    "PUBSUB_EMULATOR_HOST": (_HOST_PORT, "host:port, e.g. 127.0.0.1:8085"),
    "CLOUD_SCHEDULER_EMULATOR_HOST": (_HOST_PORT, "host:port, e.g. 127.0.0.1:8086"),
    "ENUMERATOR_URL": (_URL, "an http(s) URL, e.g. http://127.0.0.1:8081/"),
    "SNAPSHOT_URL": (_URL, "an http(s) URL, e.g. http://127.0.0.1:8082/"),
}


def endpoint(name: str, value: str) -> str:
    pattern, expected = ENDPOINTS[name]
    if not pattern.fullmatch(value):
        raise ConfigError(f"{value!r} is not valid (expected {expected})")
    return value

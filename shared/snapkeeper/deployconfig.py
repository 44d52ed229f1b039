"""deploy.sh's config file (KEY=VALUE lines, data never evaluated), checked with the
library's own rules (snapkeeper.deployrules), so that a config deploy.sh accepts is one
the functions and Cloud Scheduler accept too.

    python -m snapkeeper.deployconfig FILE [--local] [--null] [--endpoint NAME=VALUE]...

Prints the normalised settings as KEY=value records and exits 0: shell-quoted lines, or
with --null unquoted and NUL-terminated (what deploy.sh reads); a repeated key is a
list, in order. Otherwise prints one message per bad line, naming the line and the key,
and exits 2.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapkeeper import config
from snapkeeper.config import DEFAULT_DRILL_SAMPLE, Config
from snapkeeper.deployrules import (
    ENDPOINTS,
    EVENT_TIMEOUT_MAX,
    RATE_LIMIT_SECONDS,
    READY_WAIT_MARGIN,
    REQUIRED,
    RULES,
    SCHEDULE_FORM,
    TARGET_KEYS,
    DrillSchedule,
    Schedule,
    ack_deadline_for,
    endpoint,
    instance_size_problem,
    schedule,
)
from snapkeeper.errors import ConfigError, SnapkeeperError
from snapkeeper.options import OrphanPolicy

EXIT_INVALID = 2
EXAMPLE = "infra/snapkeeper.example.env"
KEYS = (*RULES, "SCHEDULE")  # SCHEDULE: one line per schedule
ENUMERATOR_TIMEOUT = EVENT_TIMEOUT_MAX
# Waiting for READY is I/O, so one instance serves SNAPSHOT_CONCURRENCY messages at once;
# Cloud Run allows that with a whole vCPU, which takes at least 512 MiB.
SNAPSHOT_CPU = 1
SNAPSHOT_MEMORY_MIB = 512
# The ids the functions, the CLI and the local stack default to: deploy.sh makes these.
TOPICS = {
    "TICK_TOPIC": config.DEFAULT_TICK_TOPIC,
    "WORK_TOPIC": config.DEFAULT_WORK_TOPIC,
    "DEAD_LETTER_TOPIC": config.DEFAULT_DEAD_LETTER_TOPIC,
    "DEAD_LETTER_SUBSCRIPTION": config.DEFAULT_DEAD_LETTER_SUBSCRIPTION,
}


# -- reading the file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One KEY=VALUE line of the file."""

    line: int
    key: str
    value: str


@dataclass(frozen=True)
class Problem:
    line: int | None  # None: the file as a whole (a missing key)
    key: str  # "" when the line has no known key
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def _unquote(value: str) -> str:
    """One pair of surrounding quotes is stripped (the value is never evaluated)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _unknown(key: str) -> str:
    if key.upper() == config.REPLACED_PRUNE_ORPHANS:
        return config.PRUNE_ORPHANS_REPLACED
    close = difflib.get_close_matches(key.upper(), KEYS, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the keys are those in {EXAMPLE}"
    return f"unknown key {key!r}: {hint}"


def read_entries(text: str) -> tuple[list[Entry], list[Problem]]:
    """The KEY=VALUE lines, and the lines that are not one of a known key."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = (part.strip() for part in line.partition("="))
        if not all(char.isprintable() or char == "\t" for char in line):
            problems.append(Problem(number, "", "holds a control character: retype the line"))
        elif not equals:
            problems.append(Problem(number, "", "expected KEY=VALUE, e.g. REGION=europe-west1"))
        elif key not in KEYS:
            problems.append(Problem(number, "", _unknown(key)))
        elif key in first and key != "SCHEDULE":
            problems.append(Problem(number, key, f"is set twice (first on line {first[key]})"))
        else:
            first.setdefault(key, number)
            entries.append(Entry(number, key, _unquote(value)))
    return entries, problems


# -- the whole config ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployConfig:
    """The normalised settings: the keys of RULES, lower-cased, and the schedules."""

    host_project: str
    region: str
    scheduler_location: str
    target_projects: tuple[str, ...]
    target_folders: tuple[str, ...]
    target_organization: str
    role_organization: str  # where the roles granted on folders and the organization live
    exclude_projects: tuple[str, ...]
    snapshot_project: str
    default_storage_location: str
    label_prefix: str
    orphan_policy: OrphanPolicy
    deployment_id: str
    min_keep: int
    max_deletes_per_run: int
    max_delivery_attempts: int
    min_retry_delay: int
    max_retry_delay: int
    ack_deadline_seconds: int
    snapshot_max_instances: int
    snapshot_concurrency: int
    ready_wait_seconds: int
    compute_write_quota_per_minute: int
    quota_guard_percent: int
    notification_channels: tuple[str, ...]
    schedules: tuple[Schedule, ...] = ()
    drill_schedule: DrillSchedule | None = None
    drill_sample: int = DEFAULT_DRILL_SAMPLE
    scratch_project: str = ""
    scratch_zone: str = ""

    @property
    def snapshot_timeout(self) -> int:
        return self.ready_wait_seconds + READY_WAIT_MARGIN

    @property
    def role_projects(self) -> tuple[str, ...]:
        """Every project a function role is defined and granted in: targets and vault."""
        vault = (self.snapshot_project,) if self.snapshot_project else ()
        return tuple(dict.fromkeys((*self.target_projects, *vault)))

    def retry_span(self) -> int:
        """Seconds Pub/Sub's backoff (doubling from the minimum, capped at the maximum)
        waits over all redeliveries."""
        return sum(
            min(self.min_retry_delay * 2**attempt, self.max_retry_delay)
            for attempt in range(self.max_delivery_attempts - 1)
        )

    def function_env(self) -> dict[str, str]:
        """The environment of both functions (what Config.from_env reads)."""
        env = {
            "GOOGLE_CLOUD_PROJECT": self.host_project,
            "TARGET_PROJECTS": ",".join(self.target_projects),
            **TOPICS,
            "LABEL_PREFIX": self.label_prefix,
            "MAX_DELIVERY_ATTEMPTS": str(self.max_delivery_attempts),
            "ORPHAN_POLICY": str(self.orphan_policy),
            "SCHEDULER_LOCATION": self.scheduler_location,
            "DEPLOYMENT_ID": self.deployment_id,
            "MIN_KEEP": str(self.min_keep),
            "MAX_DELETES_PER_RUN": str(self.max_deletes_per_run),
        }
        if self.snapshot_project:
            env["SNAPSHOT_PROJECT"] = self.snapshot_project
        if self.default_storage_location:
            env["DEFAULT_STORAGE_LOCATION"] = self.default_storage_location
        if self.scratch_project or self.scratch_zone:
            env["SCRATCH_PROJECT"] = self.scratch_project
            env["SCRATCH_ZONE"] = self.scratch_zone
            env["DRILL_SAMPLE"] = str(self.drill_sample)
        optional = {
            "TARGET_FOLDERS": ",".join(self.target_folders),
            "TARGET_ORGANIZATION": self.target_organization,
            "EXCLUDE_PROJECTS": ",".join(self.exclude_projects),
        }
        env.update({name: value for name, value in optional.items() if value})
        return env

    def snapshot_function_env(self) -> dict[str, str]:
        """What the snapshot function gets on top of function_env()."""
        return {
            "READY_WAIT_SECONDS": str(self.ready_wait_seconds),
            # Pacing gives each instance its share of the write quota.
            "COMPUTE_WRITE_QUOTA_PER_MINUTE": str(self.compute_write_quota_per_minute),
            "SNAPSHOT_MAX_INSTANCES": str(self.snapshot_max_instances),
            "QUOTA_GUARD_PERCENT": str(self.quota_guard_percent),
        }

    def records(self) -> list[tuple[str, str]]:
        scalars: dict[str, object] = {
            "HOST_PROJECT": self.host_project,
            "REGION": self.region,
            "SCHEDULER_LOCATION": self.scheduler_location,
            "SNAPSHOT_PROJECT": self.snapshot_project,
            "TARGET_ORGANIZATION": self.target_organization,
            "ROLE_ORGANIZATION": self.role_organization,
            "DEFAULT_STORAGE_LOCATION": self.default_storage_location,
            "LABEL_PREFIX": self.label_prefix,
            "ORPHAN_POLICY": str(self.orphan_policy),
            "DEPLOYMENT_ID": self.deployment_id,
            "MIN_KEEP": self.min_keep,
            "MAX_DELETES_PER_RUN": self.max_deletes_per_run,
            "MAX_DELIVERY_ATTEMPTS": self.max_delivery_attempts,
            "MIN_RETRY_DELAY_SECONDS": self.min_retry_delay,
            "MAX_RETRY_DELAY_SECONDS": self.max_retry_delay,
            "ACK_DEADLINE_SECONDS": self.ack_deadline_seconds,
            "READY_WAIT_SECONDS": self.ready_wait_seconds,
            "SNAPSHOT_TIMEOUT_SECONDS": self.snapshot_timeout,
            "SNAPSHOT_CONCURRENCY": self.snapshot_concurrency,
            "SNAPSHOT_MAX_INSTANCES": self.snapshot_max_instances,
            "SNAPSHOT_CPU": SNAPSHOT_CPU,
            "SNAPSHOT_MEMORY_MIB": SNAPSHOT_MEMORY_MIB,
            "ENUMERATOR_TIMEOUT_SECONDS": ENUMERATOR_TIMEOUT,
            "ENUMERATOR_ACK_DEADLINE_SECONDS": ack_deadline_for(ENUMERATOR_TIMEOUT),
            "SNAPSHOT_ACK_DEADLINE_SECONDS": ack_deadline_for(self.snapshot_timeout),
            # functions-framework has no timeout, but the snapshot function waits the same.
            "LOCAL_SNAPSHOT_ACK_DEADLINE_SECONDS": ack_deadline_for(
                self.snapshot_timeout, self.ack_deadline_seconds
            ),
            **TOPICS,
            "NOTIFICATION_CHANNELS_JSON": json.dumps(list(self.notification_channels)),
        }
        records = [(key, str(value)) for key, value in scalars.items()]
        records += [("TARGET_PROJECT", project) for project in self.target_projects]
        records += [("TARGET_FOLDER", folder) for folder in self.target_folders]
        records += [("EXCLUDE_PROJECT", project) for project in self.exclude_projects]
        records += [("ROLE_PROJECT", project) for project in self.role_projects]
        for each in self.schedules:
            records += [
                ("SCHEDULE_NAME", each.name),
                ("SCHEDULE_CRON", each.cron),
                ("SCHEDULE_TIME_ZONE", each.time_zone),
                ("SCHEDULE_STALE_AFTER", each.stale_after),
                ("SCHEDULE_OPTIONS", each.options.to_text()),
                ("SCHEDULE_TICK", each.tick),
            ]
        if self.scratch_project:
            records.append(("SCRATCH_PROJECT", self.scratch_project))
        if self.drill_schedule:
            records += [
                ("DRILL_CRON", self.drill_schedule.cron),
                ("DRILL_TIME_ZONE", self.drill_schedule.time_zone),
                ("DRILL_TICK", self.drill_schedule.tick),
            ]
        for key, env in (
            ("FUNCTION_ENV", self.function_env()),
            ("SNAPSHOT_FUNCTION_ENV", self.snapshot_function_env()),
        ):
            records += [(key, f"{name}={value}") for name, value in env.items()]
        return records


# -- rules between settings ---------------------------------------------------------------------

# (the keys involved, the first one the file sets gives the line; the problem)
Clash = tuple[tuple[str, ...], str]


def retry_order(deploy: DeployConfig) -> Clash | None:
    if deploy.min_retry_delay <= deploy.max_retry_delay:
        return None
    message = f"{deploy.min_retry_delay}s is above MAX_RETRY_DELAY ({deploy.max_retry_delay}s)"
    return ("MIN_RETRY_DELAY", "MAX_RETRY_DELAY"), message


def retry_span(deploy: DeployConfig) -> Clash | None:
    """A disk snapshotted twice in ten minutes (two schedules firing together) must be
    retried until the rate limit lets it through, not dead-lettered."""
    span = deploy.retry_span()
    if span > RATE_LIMIT_SECONDS or deploy.min_retry_delay > deploy.max_retry_delay:
        return None
    message = (
        f"the retries span {span}s: at most MAX_DELIVERY_ATTEMPTS={deploy.max_delivery_attempts} "
        f"with MIN_RETRY_DELAY={deploy.min_retry_delay}s..MAX_RETRY_DELAY="
        f"{deploy.max_retry_delay}s does not outlast the {RATE_LIMIT_SECONDS}s per-disk "
        "snapshot rate limit; raise MAX_DELIVERY_ATTEMPTS or the retry delays"
    )
    return ("MAX_DELIVERY_ATTEMPTS", "MIN_RETRY_DELAY", "MAX_RETRY_DELAY"), message


def role_home(deploy: DeployConfig) -> Clash | None:
    """A custom role granted on a folder must be defined in an organization."""
    if not deploy.target_folders or deploy.role_organization:
        return None
    message = (
        "needs ROLE_ORGANIZATION (or TARGET_ORGANIZATION): the custom roles granted on "
        "folders are defined in their organization"
    )
    return ("TARGET_FOLDERS",), message


def instance_size(deploy: DeployConfig) -> Clash | None:
    problem = instance_size_problem(SNAPSHOT_CPU, SNAPSHOT_MEMORY_MIB, deploy.snapshot_concurrency)
    return (("SNAPSHOT_CONCURRENCY",), problem) if problem else None


def functions_refuse(deploy: DeployConfig) -> Clash | None:
    """The functions read their environment with Config.from_env: it must take it."""
    snapshot_env = {**deploy.function_env(), **deploy.snapshot_function_env()}
    for env in (deploy.function_env(), snapshot_env):
        try:
            Config.from_env(env)
        except ConfigError as exc:
            return (), f"the functions would refuse their environment: {exc}"
    return None


def drill_needs_scratch(deploy: DeployConfig) -> Clash | None:
    if not deploy.drill_schedule or (deploy.scratch_project and deploy.scratch_zone):
        return None
    message = "restore drills need SCRATCH_PROJECT and SCRATCH_ZONE: where scratch disks go"
    return ("DRILL_SCHEDULE", "SCRATCH_PROJECT", "SCRATCH_ZONE"), message


CLASHES: tuple[Callable[[DeployConfig], Clash | None], ...] = (
    drill_needs_scratch,
    retry_order,
    retry_span,
    role_home,
    instance_size,
    functions_refuse,
)
NOTES_WHEN_LOCAL = frozenset({retry_span})  # seconds of backoff will do on the local stack


# -- validation ----------------------------------------------------------------------------------


@dataclass
class Result:
    config: DeployConfig | None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def validate(text: str, *, local: bool = False) -> Result:
    """The config in `text`, or every problem in it. `local` (deploy.sh --local) allows
    a config without schedules, and a backoff shorter than the rate limit."""
    entries, problems = read_entries(text)
    lines = {entry.key: entry.line for entry in entries if entry.key != "SCHEDULE"}
    values: dict[str, Any] = {}
    schedules: dict[str, tuple[int, Schedule]] = {}  # name -> (line, schedule)
    for entry in entries:
        problem = _add(entry, values, schedules)
        if problem:
            problems.append(problem)
    bad = {problem.key for problem in problems}
    for key in REQUIRED:
        if key not in values and key not in bad:
            said = "is empty" if key in lines else "is missing"
            problems.append(Problem(lines.get(key), key, f"{said}; expected {RULES[key].expected}"))
    if not any(key in values or key in bad for key in TARGET_KEYS):
        expected = RULES["TARGET_PROJECTS"].expected
        said = "is empty" if "TARGET_PROJECTS" in lines else "is missing"
        message = f"{said}; expected {expected} (or TARGET_FOLDERS or TARGET_ORGANIZATION)"
        problems.append(Problem(lines.get("TARGET_PROJECTS"), "TARGET_PROJECTS", message))
    if not schedules and not local and "SCHEDULE" not in bad:
        message = f"no SCHEDULE line: add one per schedule, {SCHEDULE_FORM}"
        problems.append(Problem(None, "SCHEDULE", message))
    if problems:  # in the order of the file, those of the file as a whole last
        return Result(None, sorted(problems, key=lambda p: (p.line is None, p.line or 0)))

    settings = {key.lower(): values.get(key, rule.default) for key, rule in RULES.items()}
    settings["scheduler_location"] = settings["scheduler_location"] or settings["region"]
    settings["role_organization"] = settings["role_organization"] or settings["target_organization"]
    deploy = DeployConfig(schedules=tuple(each for _, each in schedules.values()), **settings)
    result = Result(deploy)
    for rule in CLASHES:
        clash = rule(deploy)
        if clash is None:
            continue
        keys, message = clash
        if local and rule in NOTES_WHEN_LOCAL:
            result.notes.append(f"{message} (fine for the local stack)")
            continue
        line = next((lines[key] for key in keys if key in lines), None)
        result.problems.append(Problem(line, keys[0] if keys else "", message))
    if result.problems:
        result.config = None
    return result


def _add(
    entry: Entry, values: dict[str, Any], schedules: dict[str, tuple[int, Schedule]]
) -> Problem | None:
    """Parse one entry into `values` or `schedules`; its problem, if any."""
    if entry.key == "SCHEDULE":
        try:
            parsed = schedule(entry.value)
        except SnapkeeperError as exc:
            return Problem(entry.line, entry.key, f"{exc}; expected {SCHEDULE_FORM}")
        if parsed.name in schedules:
            first = schedules[parsed.name][0]
            message = f"schedule {parsed.name!r} is listed twice (first on line {first})"
            return Problem(entry.line, entry.key, message)
        schedules[parsed.name] = (entry.line, parsed)
    elif entry.value:  # an empty value means the default
        rule = RULES[entry.key]
        try:
            values[entry.key] = rule.parse(entry.value)
        except SnapkeeperError as exc:
            return Problem(entry.line, entry.key, f"{exc}; expected {rule.expected}")
    return None


def check_endpoints(pairs: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """--endpoint NAME=VALUE pairs -> (records, problems)."""
    records, problems = [], []
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in ENDPOINTS:
            problems.append(f"--endpoint {name!r}: not one of {', '.join(ENDPOINTS)}")
            continue
        try:
            records.append((name, endpoint(name, value)))
        except SnapkeeperError as exc:
            problems.append(f"{name}: {exc}")
    return records, problems


def render(records: Sequence[tuple[str, str]], *, null: bool) -> str:
    if null:
        return "".join(f"{key}={value}\0" for key, value in records)
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in records)


def _say(kind: str, message: str) -> None:
    print(f"snapkeeper: {kind}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m snapkeeper.deployconfig",
        description="Check deploy.sh's config file and print its normalised settings.",
    )
    parser.add_argument("file", help=f"the config file (see {EXAMPLE})")
    parser.add_argument(
        "--local", action="store_true", help="for deploy.sh --local: schedules are optional"
    )
    parser.add_argument(
        "--null", action="store_true", help="NUL-terminated, unquoted records (for deploy.sh)"
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"also check a local endpoint: {', '.join(ENDPOINTS)}",
    )
    args = parser.parse_args(argv)
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        _say("error", f"cannot read the config file {args.file}: {why}")
        return EXIT_INVALID
    result = validate(text, local=args.local)
    endpoints, endpoint_problems = check_endpoints(args.endpoint)
    for note in result.notes:
        _say("note", note)
    for problem in result.problems:
        _say("error", problem.render(args.file))
    for message in endpoint_problems:
        _say("error", message)
    if result.config is None or endpoint_problems:
        return EXIT_INVALID
    sys.stdout.write(render([*result.config.records(), *endpoints], null=args.null))
    return 0


if __name__ == "__main__":
    sys.exit(main())

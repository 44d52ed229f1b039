"""deploy.sh's config checker: every rule with good and bad values, messages that name the
line and the key, the normalised records deploy.sh reads, and that the rules are the
library's own."""

from __future__ import annotations

import json
import shlex
from datetime import timedelta
from pathlib import Path

import pytest

from snapkeeper import config, deployconfig, deployrules, labels, options
from snapkeeper.config import Config
from snapkeeper.deployconfig import DeployConfig, Problem, main, render, validate
from snapkeeper.deployrules import (
    RULES,
    SCHEDULE_FORM,
    ack_deadline_for,
    default_stale_after,
    instance_size_problem,
)
from snapkeeper.messages import Tick, parse_tick
from snapkeeper.options import OrphanPolicy

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "infra" / "snapkeeper.example.env"
BASE = (
    "HOST_PROJECT=my-host-proj",
    "REGION=europe-west1",
    "TARGET_PROJECTS=prod-app-1",
    "SCHEDULE=daily|0 3 * * *|Asia/Tokyo",
)


def key_of(line: str) -> str:
    return line.split("=", 1)[0]


def base_without(key: str) -> tuple[str, ...]:
    """BASE without its line of `key` (a test's own line of it stands instead)."""
    return tuple(b for b in BASE if not b.startswith(f"{key}="))


def text(*extra: str, base: tuple[str, ...] = BASE) -> str:
    return "\n".join((*base, *extra)) + "\n"


def valid(*extra: str, local: bool = False, base: tuple[str, ...] = BASE) -> DeployConfig:
    result = validate(text(*extra, base=base), local=local)
    assert result.problems == [], [p.render("x.env") for p in result.problems]
    assert result.config is not None
    return result.config


def only_problem(*extra: str, local: bool = False, base: tuple[str, ...] = BASE) -> Problem:
    result = validate(text(*extra, base=base), local=local)
    assert result.config is None
    assert len(result.problems) == 1, [p.render("x.env") for p in result.problems]
    return result.problems[0]


def records(deploy: DeployConfig) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in deploy.records():
        found.setdefault(key, []).append(value)
    return found


# -- the example and the defaults --------------------------------------------------------------


def test_the_example_config_is_valid() -> None:
    result = validate(EXAMPLE.read_text())
    assert result.problems == [] and result.notes == []
    assert result.config is not None
    assert [s.name for s in result.config.schedules] == ["hourly", "daily", "monthly"]
    # A grandfather-father-son set: the monthly generations as ARCHIVE snapshots.
    types = [s.options.snapshot_type for s in result.config.schedules]
    assert types == ["STANDARD", "STANDARD", "ARCHIVE"]


def test_defaults_and_derived_settings() -> None:
    deploy = valid()
    assert deploy.scheduler_location == "europe-west1"  # REGION
    assert deploy.label_prefix == config.DEFAULT_LABEL_PREFIX
    assert deploy.max_delivery_attempts == config.DEFAULT_MAX_DELIVERY_ATTEMPTS
    assert (deploy.min_retry_delay, deploy.max_retry_delay) == (10, 600)
    assert deploy.ready_wait_seconds == config.DEFAULT_READY_WAIT_SECONDS
    assert deploy.snapshot_timeout == config.DEFAULT_READY_WAIT_SECONDS + 60
    assert (deploy.snapshot_concurrency, deploy.snapshot_max_instances) == (20, 50)
    assert deploy.ack_deadline_seconds == 60
    assert str(deploy.orphan_policy) == "keep"
    assert deploy.snapshot_project == "" and deploy.notification_channels == ()
    assert deploy.role_projects == ("prod-app-1",)


def test_an_empty_value_means_the_default() -> None:
    deploy = valid("READY_WAIT_SECONDS=", "SCHEDULER_LOCATION=", "LABEL_PREFIX=''")
    assert deploy.ready_wait_seconds == 420
    assert deploy.scheduler_location == "europe-west1"
    assert deploy.label_prefix == "snapshot-"


# -- each rule: good values and what they normalise to ------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("HOST_PROJECT=example.com:legacy-proj", "example.com:legacy-proj"),
        ("SCHEDULER_LOCATION=us-central1", "us-central1"),
        ("TARGET_PROJECTS= a-proj1 ,b-proj2,,a-proj1", ("a-proj1", "b-proj2")),
        ("SNAPSHOT_PROJECT=vault-backups-1", "vault-backups-1"),
        ("DEFAULT_STORAGE_LOCATION=eu", "eu"),
        ('LABEL_PREFIX="snap_"', "snap_"),
        ("ORPHAN_POLICY=keep-newest", OrphanPolicy("keep-newest")),
        ("ORPHAN_POLICY=Max-Age:36h", OrphanPolicy("max-age", timedelta(hours=36))),
        ("MAX_DELIVERY_ATTEMPTS=100", 100),
        ("MIN_RETRY_DELAY=10", 10),
        ("MIN_RETRY_DELAY=20s", 20),
        ("MAX_RETRY_DELAY=2m", 120),
        ("ACK_DEADLINE_SECONDS=600", 600),
        ("SNAPSHOT_MAX_INSTANCES=1", 1),
        ("COMPUTE_WRITE_QUOTA_PER_MINUTE=1500", 1500),
        ("QUOTA_GUARD_PERCENT=80", 80),
        ("SNAPSHOT_CONCURRENCY=1000", 1000),
        ("READY_WAIT_SECONDS=10", 10),
        ("READY_WAIT_SECONDS=480", 480),
        (
            "NOTIFICATION_CHANNELS=projects/my-host-proj/notificationChannels/1, "
            "projects/my-host-proj/notificationChannels/2",
            (
                "projects/my-host-proj/notificationChannels/1",
                "projects/my-host-proj/notificationChannels/2",
            ),
        ),
    ],
)
def test_good_values_are_normalised(line: str, expected: object) -> None:
    key = key_of(line)
    deploy = valid(line, base=base_without(key))
    assert getattr(deploy, key.lower()) == expected  # the field a key sets


# -- each rule: bad values, each reported with its line and key ---------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("HOST_PROJECT=$(touch x)", "'$(touch x)' is not a valid project id"),
        ("HOST_PROJECT=Upper-Case", "is not a valid project id"),
        ("REGION=europe west1", "'europe west1' is not a region"),
        ("SCHEDULER_LOCATION=eu", "'eu' is not a region"),
        ("TARGET_PROJECTS=ok-proj1,BAD", "'BAD' is not a valid project id"),
        ("TARGET_PROJECTS=, ,", "lists no project"),
        ("SNAPSHOT_PROJECT=x", "'x' is not a valid project id"),
        ("DEFAULT_STORAGE_LOCATION=EU", "is not a storage location"),
        ("LABEL_PREFIX=Snap-", "is not a valid label-key prefix"),
        ("ORPHAN_POLICY=newest", "'newest' is not keep, keep-newest or max-age"),
        ("ORPHAN_POLICY=max-age:0d", "must be from 1h"),
        (
            "MAX_DELIVERY_ATTEMPTS=4",
            "4 is out of range; expected a "
            "whole number from 5 to 100 (Pub/Sub's range), default 10",
        ),
        ("MAX_DELIVERY_ATTEMPTS=101", "101 is out of range"),
        ("MAX_DELIVERY_ATTEMPTS=ten", "'ten' is not an integer"),
        ("MIN_RETRY_DELAY=10x", "'10x' is not a duration in s/m"),
        ("MIN_RETRY_DELAY=1h", "'1h' is not a duration in s/m"),
        ("MIN_RETRY_DELAY=-1s", "'-1s' is not a duration"),
        ("MAX_RETRY_DELAY=601s", "'601s' is above 600s"),
        ("MAX_RETRY_DELAY=11m", "'11m' is above 600s"),
        ("ACK_DEADLINE_SECONDS=9", "9 is out of range"),
        ("ACK_DEADLINE_SECONDS=601", "601 is out of range"),
        ("SNAPSHOT_MAX_INSTANCES=0", "0 is out of range"),
        ("QUOTA_GUARD_PERCENT=101", "101 is out of range"),
        (
            "SNAPSHOT_CONCURRENCY=1001",
            "1001 is out of range; expected a whole number from 1 to 1000, default 20",
        ),
        ("SNAPSHOT_CONCURRENCY=twenty", "'twenty' is not an integer"),
        (
            "READY_WAIT_SECONDS=9",
            "9 is out of range; expected a whole number of seconds from 10 to 480, default 420",
        ),
        ("READY_WAIT_SECONDS=7m", "'7m' is not an integer"),
        # 481 s + 60 s margin is above the 540 s an event-driven function may run.
        (
            "READY_WAIT_SECONDS=481",
            "481 does not fit the snapshot function's timeout: 481s + 60s margin is above 540s",
        ),
        (
            "NOTIFICATION_CHANNELS=projects/p/notificationChannels/1",
            "'p' is not a valid project id",
        ),
        (
            "NOTIFICATION_CHANNELS=channel-1",
            "'channel-1' is not projects/PROJECT/notificationChannels/NUMBER",
        ),
    ],
)
def test_a_bad_value_is_reported_with_its_line_and_key(line: str, message: str) -> None:
    key = key_of(line)
    base = base_without(key)
    problem = only_problem("# a comment", "", line, base=base)
    assert (problem.line, problem.key) == (len(base) + 3, key)
    assert message in problem.message
    assert problem.render("bad.env").startswith(f"bad.env:{len(base) + 3}: {key}: ")
    assert "expected " in problem.message  # what a good value looks like


# -- SCHEDULE lines: the library's schedule name, cron and time zone rules ------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "daily|99 99 * * *|Asia/Tokyoo",
            "cron '99 99 * * *' is not a 5-field unix-cron "
            "expression; time zone 'Asia/Tokyoo' is not a known IANA time zone",
        ),
        ("daily|0 3 * *|UTC", "cron '0 3 * *' is not a 5-field unix-cron expression"),
        ("daily|0 3 * * * $(touch x)|UTC", "is not a 5-field unix-cron expression"),
        ("daily|*/0 * * * *|UTC", "is not a 5-field unix-cron expression"),
        ("daily|0 3 * * *|`touch x`", "time zone '`touch x`' is not a known IANA time zone"),
        ("daily|0 3 * * *|../etc/passwd", "is not a known IANA time zone"),
        ("Daily|0 3 * * *|UTC", "schedule name 'Daily' must match [a-z][a-z0-9]{0,19}"),
        ("a-b|0 3 * * *|UTC", "schedule name 'a-b' must match"),
        ("daily|0 3 * * *|UTC|26", "'26' is not a duration in m/h/d"),
        ("daily|0 3 * * *|UTC|0h", "stale after '0h' must be from 1 to 99999h"),
        ("daily|0 3 * * *", "is not name|cron|time zone[|stale after]"),
        ("daily|0 3 * * *|UTC|26h|extra", "is not name|cron|time zone[|stale after]"),
        # Options, after the stale window.
        ("monthly|0 5 1 * *|UTC|type=COLD", "type 'COLD' is not one of STANDARD, ARCHIVE"),
        ("monthly|0 5 1 * *|UTC|typo=ARCHIVE", "unknown option 'typo': did you mean type?"),
        ("monthly|0 5 1 * *|UTC|min-keep=2", "min-keep only limits max-age"),
        ("monthly|0 5 1 * *|UTC|type=ARCHIVE|40d", "is not name|cron|time zone"),
        ("monthly|0 5 1 * *|UTC|40d|41d", "is not name|cron|time zone"),
        ("monthly|0 5 1 * *|Mars/Base|type=COLD", "is not a known IANA time zone; type 'COLD'"),
    ],
)
def test_a_bad_schedule_line_names_every_bad_field_with_its_line(value: str, message: str) -> None:
    problem = only_problem(f"SCHEDULE={value}")
    assert (problem.line, problem.key) == (len(BASE) + 1, "SCHEDULE")
    assert message in problem.message
    assert f"expected {SCHEDULE_FORM}" in problem.message


@pytest.mark.parametrize(
    ("value", "stale", "options"),
    [
        ("monthly|0 5 1 * *|Etc/UTC|type=ARCHIVE", "32d", {"type": "ARCHIVE"}),
        ("monthly|0 5 1 * *|Etc/UTC|40d|type=ARCHIVE", "40d", {"type": "ARCHIVE"}),
        ("monthly|0 5 1 * *|Etc/UTC||type=ARCHIVE", "32d", {"type": "ARCHIVE"}),
        (
            "monthly|0 5 1 * *|Etc/UTC| type=archive , max-age=400d,min-keep=2 |",
            "32d",
            {"type": "ARCHIVE", "max-age": "400d", "min-keep": "2"},
        ),
        ("monthly|0 5 1 * *|Etc/UTC|40d", "40d", {}),
    ],
)
def test_a_schedule_line_takes_options_after_the_stale_window(
    value: str, stale: str, options: dict[str, str]
) -> None:
    [_, monthly] = valid(f"SCHEDULE={value}").schedules
    assert (monthly.stale_after, monthly.options.to_mapping()) == (stale, options)
    # The Scheduler job's tick carries them to the enumerator, and on to each disk.
    assert parse_tick(monthly.tick.encode()).options == monthly.options
    assert records(valid(f"SCHEDULE={value}"))["SCHEDULE_OPTIONS"][1] == monthly.options.to_text()


def test_retention_keys_reach_the_functions() -> None:
    deploy = valid(
        "SNAPSHOT_PROJECT=vault-backups-1",
        "MIN_KEEP=5",
        "MAX_DELETES_PER_RUN=10",
        "DEPLOYMENT_ID=dr",
    )
    function = Config.from_env(deploy.function_env())
    assert (function.keep_floor, function.max_deletes_per_run) == (5, 10)
    assert function.deployment_id == "dr"
    defaults = Config.from_env(valid().function_env())
    assert (defaults.deployment_id, defaults.min_keep, defaults.max_deletes_per_run) == (
        "default",
        config.DEFAULT_MIN_KEEP,
        config.DEFAULT_MAX_DELETES_PER_RUN,
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("DEPLOYMENT_ID=Prod", "'Prod' is not a deployment id"),
        ("MIN_KEEP=0", "0 is out of range"),
        ("MAX_DELETES_PER_RUN=1", "1 is out of range"),
    ],
)
def test_bad_retention_keys(line: str, message: str) -> None:
    problem = only_problem(line)
    assert problem.key == key_of(line) and message in problem.message


@pytest.mark.parametrize("name", sorted(labels.RESERVED_SCHEDULES))
def test_reserved_schedule_names_are_refused(name: str) -> None:
    problem = only_problem(f"SCHEDULE={name}|0 3 * * *|UTC")
    assert "must match [a-z][a-z0-9]{0,19} and not be one of" in problem.message


def test_a_schedule_listed_twice() -> None:
    problem = only_problem("SCHEDULE=daily|30 2 * * *|UTC")
    assert problem.render("x.env") == (
        f"x.env:{len(BASE) + 1}: SCHEDULE: schedule 'daily' is listed twice (first on line 4)"
    )


def test_schedules_are_normalised_with_their_tick() -> None:
    deploy = valid(
        "SCHEDULE=weekly| 0  4 * *\t0 |Europe/Paris| 9d ", "SCHEDULE=often|*/15 * * * *|UTC|"
    )
    daily, weekly, often = deploy.schedules
    assert (weekly.cron, weekly.time_zone, weekly.stale_after) == (
        "0 4 * * 0",
        "Europe/Paris",
        "9d",
    )
    assert (daily.stale_after, often.stale_after) == ("26h", "3h")
    # The tick is the message the enumerator parses, as `snapkeeper schedule set` sends it.
    assert parse_tick(weekly.tick.encode()) == Tick("weekly", "0 4 * * 0", "Europe/Paris")
    assert weekly.tick == '{"schedule": "weekly", "cron": "0 4 * * 0", "time_zone": "Europe/Paris"}'


@pytest.mark.parametrize(
    ("cron", "stale"),
    [
        ("15 * * * *", "3h"),
        ("0 */6 * * *", "3h"),
        ("0 3,15 * * *", "3h"),
        ("0 3 * * *", "26h"),
        ("0 4 * * 0", "8d"),
        ("0 4 1 * *", "32d"),
    ],
)
def test_the_default_stale_window_follows_the_cron(cron: str, stale: str) -> None:
    assert default_stale_after(cron) == stale


def test_no_schedule_is_an_error_except_for_the_local_stack() -> None:
    base = BASE[:3]
    result = validate(text(base=base))
    assert [p.render("x.env") for p in result.problems] == [
        f"x.env: SCHEDULE: no SCHEDULE line: add one per schedule, {SCHEDULE_FORM}"
    ]
    assert validate(text(base=base), local=True).config is not None


# -- the file: lines, keys, quoting ---------------------------------------------------------------


def test_unknown_keys_are_errors_with_a_suggestion() -> None:
    problem = only_problem("READY_WAIT=30")
    assert problem.render("x.env") == (
        f"x.env:{len(BASE) + 1}: unknown key 'READY_WAIT': did you mean READY_WAIT_SECONDS?"
    )
    assert "unknown key 'ZZZ': the keys are those in" in only_problem("ZZZ=1").message
    assert "unknown key 'region'" in only_problem("region=x").message
    # A replaced key says what replaced it.
    replaced = only_problem("PRUNE_ORPHANS=true").message
    assert replaced.startswith("PRUNE_ORPHANS is no longer read: set ORPHAN_POLICY instead")


def test_a_key_set_twice_and_lines_that_are_not_settings() -> None:
    assert only_problem("REGION=us-east1").message == "is set twice (first on line 2)"
    assert only_problem("REGION").message.startswith("expected KEY=VALUE")
    assert "control character" in only_problem("LABEL_PREFIX=a\x1bb").message


def test_required_keys() -> None:
    result = validate(text("REGION=", base=(BASE[0], BASE[3])))
    assert [p.render("x.env") for p in result.problems] == [
        "x.env:3: REGION: is empty; expected a region, e.g. europe-west1",
        "x.env: TARGET_PROJECTS: is missing; expected comma-separated project ids, e.g. "
        "prod-app-1,prod-db-2 (or TARGET_FOLDERS or TARGET_ORGANIZATION)",
    ]


def test_folders_or_an_organization_stand_in_for_target_projects() -> None:
    base = base_without("TARGET_PROJECTS")
    result = validate(
        text(
            "TARGET_FOLDERS=123456789012, folders/345678901234,123456789012",
            "TARGET_ORGANIZATION=987654321098",
            "EXCLUDE_PROJECTS=legacy-app-9",
            base=base,
        )
    )
    assert result.problems == [], [p.render("x.env") for p in result.problems]
    deploy = result.config
    assert deploy is not None
    assert deploy.target_projects == ()
    assert deploy.target_folders == ("folders/123456789012", "folders/345678901234")
    assert deploy.target_organization == "organizations/987654321098"
    env = deploy.function_env()
    assert env["TARGET_FOLDERS"] == "folders/123456789012,folders/345678901234"
    assert env["TARGET_ORGANIZATION"] == "organizations/987654321098"
    assert env["EXCLUDE_PROJECTS"] == "legacy-app-9"
    assert ("TARGET_FOLDER", "folders/345678901234") in deploy.records()
    assert ("EXCLUDE_PROJECT", "legacy-app-9") in deploy.records()
    assert ("ROLE_ORGANIZATION", "organizations/987654321098") in deploy.records()


def test_folders_need_an_organization_for_their_roles() -> None:
    base = base_without("TARGET_PROJECTS")
    result = validate(text("TARGET_FOLDERS=123", base=base))
    assert [(p.key, p.line) for p in result.problems] == [("TARGET_FOLDERS", 4)]
    assert "needs ROLE_ORGANIZATION" in result.problems[0].message
    deploy = valid("TARGET_FOLDERS=123", "ROLE_ORGANIZATION=77", base=base)
    assert deploy.role_organization == "organizations/77" and deploy.target_organization == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("TARGET_FOLDERS=folders/abc", "'folders/abc' is not a folder"),
        ("TARGET_FOLDERS=, ,", "lists no folder"),
        ("TARGET_ORGANIZATION=folders/12", "is not an organization"),
        ("EXCLUDE_PROJECTS=ok-proj1,BAD", "'BAD' is not a valid project id"),
    ],
)
def test_bad_hierarchy_values(line: str, message: str) -> None:
    result = validate(text(line))
    assert [p.key for p in result.problems] == [key_of(line)]
    assert message in result.problems[0].message


def test_every_bad_line_is_reported_in_file_order() -> None:
    result = validate(text("MIN_RETRY_DELAY=soon", "NOPE=1", "SNAPSHOT_CONCURRENCY=0"))
    assert [(p.line, p.key) for p in result.problems] == [
        (5, "MIN_RETRY_DELAY"),
        (6, ""),
        (7, "SNAPSHOT_CONCURRENCY"),
    ]


def test_values_are_data_quotes_and_line_endings() -> None:
    lines = ["HOST_PROJECT = 'my-host-proj' ", '\tREGION="europe-west1"\r', *BASE[2:]]
    result = validate("\n".join(lines))  # no newline at the end
    assert result.config is not None
    assert (result.config.host_project, result.config.region) == ("my-host-proj", "europe-west1")
    # One pair of quotes only, matching; the rest is the value.
    assert "is not a valid project id" in only_problem("SNAPSHOT_PROJECT='vault-1\"").message
    assert "is not a valid project id" in only_problem("SNAPSHOT_PROJECT=''vault-1''").message


# -- rules between settings ---------------------------------------------------------------------


def test_the_minimum_retry_delay_may_not_exceed_the_maximum() -> None:
    problem = only_problem("MAX_RETRY_DELAY=20s", "MIN_RETRY_DELAY=30s")
    assert problem.render("x.env") == "x.env:6: MIN_RETRY_DELAY: 30s is above MAX_RETRY_DELAY (20s)"


def test_the_retries_must_outlast_the_rate_limit_except_locally() -> None:
    # 10 + 20 + 40 + 80 s < 10 min
    problem = only_problem("MAX_DELIVERY_ATTEMPTS=5")
    assert (problem.line, problem.key) == (5, "MAX_DELIVERY_ATTEMPTS")
    assert "the retries span 150s" in problem.message and "rate limit" in problem.message
    result = validate(text("MAX_DELIVERY_ATTEMPTS=5"), local=True)
    assert result.config is not None
    assert result.notes and "fine for the local stack" in result.notes[0]
    # The problem is on the line of the first of its keys the file sets.
    assert only_problem("MIN_RETRY_DELAY=1s", "MAX_RETRY_DELAY=5s").line == 5
    assert validate(text("MIN_RETRY_DELAY=0s"), local=True).config is not None


def test_instance_size_rules() -> None:
    assert instance_size_problem(1, 512, 20) is None
    assert "need at least 1 vCPU" in str(instance_size_problem(0, 512, 2))
    assert instance_size_problem(0, 256, 1) is None
    assert "does not go with 1 vCPU" in str(instance_size_problem(1, 256, 1))


def test_ack_deadlines() -> None:
    assert ack_deadline_for(480) == 480
    assert ack_deadline_for(90, 120) == 120
    assert ack_deadline_for(700) == deployrules.ACK_DEADLINE_MAX


# -- one definition per rule ---------------------------------------------------------------------


def test_the_rules_are_the_librarys() -> None:
    assert RULES["HOST_PROJECT"].parse is config.check_project_id
    assert RULES["SNAPSHOT_PROJECT"].parse is config.check_project_id
    assert RULES["LABEL_PREFIX"].parse is config.check_label_prefix
    assert RULES["ORPHAN_POLICY"].parse is options.orphan_policy
    assert RULES["MAX_DELIVERY_ATTEMPTS"].default == config.DEFAULT_MAX_DELIVERY_ATTEMPTS
    assert deployrules.READY_WAIT_MAX <= config.MAX_READY_WAIT_SECONDS
    assert deployconfig.TOPICS["WORK_TOPIC"] == config.DEFAULT_WORK_TOPIC


def test_the_functions_accept_the_environment_they_get() -> None:
    deploy = valid(
        "SNAPSHOT_PROJECT=vault-backups-1",
        "DEFAULT_STORAGE_LOCATION=eu",
        "ORPHAN_POLICY=keep-newest",
        "READY_WAIT_SECONDS=30",
    )
    env = {**deploy.function_env(), **deploy.snapshot_function_env()}
    function = Config.from_env(env)
    assert function.target_projects == {"prod-app-1"}
    assert function.snapshot_project == "vault-backups-1"
    assert function.orphan_policy == OrphanPolicy("keep-newest")
    assert function.ready_wait_seconds == 30
    assert "READY_WAIT_SECONDS" not in deploy.function_env()  # the snapshot function's own


# -- output -------------------------------------------------------------------------------------


def test_records_hold_the_normalised_settings_in_order() -> None:
    deploy = valid(
        "TARGET_PROJECTS=prod-db-2,prod-app-1",
        "SNAPSHOT_PROJECT=prod-db-2",
        "SCHEDULE=weekly|0 4 * * 0|UTC",
        "READY_WAIT_SECONDS=400",
        "NOTIFICATION_CHANNELS=projects/my-host-proj/notificationChannels/42",
        base=BASE[:2] + BASE[3:],
    )
    found = records(deploy)
    assert found["TARGET_PROJECT"] == ["prod-db-2", "prod-app-1"]
    assert found["ROLE_PROJECT"] == ["prod-db-2", "prod-app-1"]  # the vault is a target
    assert found["SCHEDULE_NAME"] == ["daily", "weekly"]
    assert found["SCHEDULE_CRON"] == ["0 3 * * *", "0 4 * * 0"]
    assert found["SCHEDULE_STALE_AFTER"] == ["26h", "8d"]
    assert found["READY_WAIT_SECONDS"] == ["400"]
    assert found["SNAPSHOT_TIMEOUT_SECONDS"] == ["460"]
    assert found["SNAPSHOT_ACK_DEADLINE_SECONDS"] == ["460"]
    assert found["ENUMERATOR_ACK_DEADLINE_SECONDS"] == ["540"]
    assert found["LOCAL_SNAPSHOT_ACK_DEADLINE_SECONDS"] == ["460"]
    assert found["MIN_RETRY_DELAY_SECONDS"] == ["10"]
    assert found["NOTIFICATION_CHANNELS_JSON"] == [
        '["projects/my-host-proj/notificationChannels/42"]'
    ]
    assert found["FUNCTION_ENV"][:2] == [
        "GOOGLE_CLOUD_PROJECT=my-host-proj",
        "TARGET_PROJECTS=prod-db-2,prod-app-1",
    ]
    assert found["SNAPSHOT_FUNCTION_ENV"] == [
        "READY_WAIT_SECONDS=400",
        "COMPUTE_WRITE_QUOTA_PER_MINUTE=375",
        "SNAPSHOT_MAX_INSTANCES=50",
        "QUOTA_GUARD_PERCENT=90",
    ]


def test_render_quoted_lines_and_nul_records() -> None:
    pairs = [("SCHEDULE_CRON", "0 3 * * *"), ("SCHEDULE_TICK", '{"a": "b c"}'), ("EMPTY", "")]
    lines = render(pairs, null=False).splitlines()
    assert [tuple(shlex.split(line)[0].split("=", 1)) for line in lines] == pairs
    assert (
        render(pairs, null=True) == 'SCHEDULE_CRON=0 3 * * *\0SCHEDULE_TICK={"a": "b c"}\0EMPTY=\0'
    )


# -- the command --------------------------------------------------------------------------------


def test_main_prints_records_or_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.env"
    good.write_bytes(b"\xef\xbb\xbf" + text().replace("\n", "\r\n").encode())  # BOM, CRLF
    assert main([str(good), "--null"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\0") and "HOST_PROJECT=my-host-proj\0" in out

    bad = tmp_path / "bad.env"
    bad.write_text(text("SCHEDULE=daily2|99 99 * * *|Asia/Tokyoo", "MAX_RETRY_DELAY=1h"))
    assert main([str(bad)]) == deployconfig.EXIT_INVALID
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"snapkeeper: error: {bad}:5: SCHEDULE: cron '99 99 * * *' is not a 5-field unix-cron "
        "expression; time zone 'Asia/Tokyoo' is not a known IANA time zone; expected "
        f"{SCHEDULE_FORM}",
        f"snapkeeper: error: {bad}:6: MAX_RETRY_DELAY: '1h' is not a duration in s/m; expected "
        "a duration from 0s to 600s such as 10s or 2m, default 600s",
    ]


def test_main_on_a_file_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.env")]) == deployconfig.EXIT_INVALID
    assert "cannot read the config file" in capsys.readouterr().err
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"HOST_PROJECT=\xff\n")
    assert main([str(binary)]) == deployconfig.EXIT_INVALID
    assert "it is not UTF-8 text" in capsys.readouterr().err


def test_main_checks_the_local_endpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "local.env"
    path.write_text(text(base=BASE[:3]))
    args = [str(path), "--local", "--endpoint", "PUBSUB_EMULATOR_HOST=127.0.0.1:8085"]
    assert main([*args, "--endpoint", "SNAPSHOT_URL=http://127.0.0.1:9/p"]) == 0
    out = capsys.readouterr().out
    assert "PUBSUB_EMULATOR_HOST=127.0.0.1:8085\n" in out
    assert "SNAPSHOT_URL=http://127.0.0.1:9/p\n" in out
    assert main([*args, "--endpoint", "ENUMERATOR_URL=ftp://x", "--endpoint", "NOPE=1"]) == 2
    err = capsys.readouterr().err
    assert "ENUMERATOR_URL: 'ftp://x' is not valid (expected an http(s) URL" in err
    assert "--endpoint 'NOPE': not one of" in err


def test_restore_drills_get_a_job_a_role_project_and_the_functions_settings() -> None:
    deploy = valid(
        "DRILL_SCHEDULE=0  4 * * 1 | Etc/UTC",
        "DRILL_SAMPLE=3",
        "SCRATCH_PROJECT=drill-scratch",
        "SCRATCH_ZONE=us-central1-b",
    )
    found = records(deploy)
    assert found["DRILL_CRON"] == ["0 4 * * 1"]
    assert found["DRILL_TIME_ZONE"] == ["Etc/UTC"]
    assert json.loads(found["DRILL_TICK"][0]) == {
        "kind": "drill",
        "cron": "0 4 * * 1",
        "time_zone": "Etc/UTC",
    }
    assert found["SCRATCH_PROJECT"] == ["drill-scratch"]
    env = deploy.function_env()
    assert (env["SCRATCH_PROJECT"], env["SCRATCH_ZONE"], env["DRILL_SAMPLE"]) == (
        "drill-scratch",
        "us-central1-b",
        "3",
    )
    # Without drills, nothing of theirs reaches deploy.sh or the functions.
    plain = valid()
    assert not {"DRILL_TICK", "SCRATCH_PROJECT"} & set(records(plain))
    assert "SCRATCH_PROJECT" not in plain.function_env()


@pytest.mark.parametrize(
    ("lines", "key", "message"),
    [
        (("DRILL_SCHEDULE=0 4 * * 1|Etc/UTC",), "DRILL_SCHEDULE", "need SCRATCH_PROJECT"),
        (("DRILL_SCHEDULE=0 4 * * 1",), "DRILL_SCHEDULE", "cron|time zone"),
        (("DRILL_SCHEDULE=0 4 * *|Etc/UTC",), "DRILL_SCHEDULE", "cron"),
        (("SCRATCH_ZONE=moon",), "SCRATCH_ZONE", "not a zone"),
        (("DRILL_SAMPLE=0",), "DRILL_SAMPLE", "out of range"),
        (("SCRATCH_PROJECT=drill-scratch",), "", "SCRATCH_PROJECT and SCRATCH_ZONE"),
    ],
)
def test_bad_drill_settings(lines: tuple[str, ...], key: str, message: str) -> None:
    problem = only_problem(*lines)
    assert problem.key == key and message in problem.message

"""Schedule options: one parser for the deploy config's text and the messages' objects;
unknown options and bad values are errors, every one named."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

import pytest

from snapkeeper import options
from snapkeeper.errors import ConfigError, InvalidMessage, OptionError
from snapkeeper.options import RULES, ScheduleOptions, from_mapping, parse_text

KMS = "projects/kms-proj-1/locations/europe/keyRings/backups/cryptoKeys/snapshots"


def test_every_option_parses_to_its_field() -> None:
    found = parse_text(
        f"type=archive, max-age=400d,min-keep=2,kms-key={KMS},chain-name=db-chain,"
        "storage-location=eu"
    )
    assert found == ScheduleOptions(
        snapshot_type="ARCHIVE",
        max_age=timedelta(days=400),
        min_keep=2,
        kms_key=KMS,
        chain_name="db-chain",
        storage_location="eu",
    )
    assert found.age_floor == 2


def test_the_text_and_the_mapping_round_trip_in_normal_form() -> None:
    found = parse_text("max-age=48h,type=STANDARD")
    assert found.to_mapping() == {"type": "STANDARD", "max-age": "2d"}
    assert found.to_text() == "type=STANDARD,max-age=2d"
    assert from_mapping(found.to_mapping(), "tick") == found
    assert parse_text("max-age=36h").to_mapping() == {"max-age": "36h"}


def test_no_options_is_the_default() -> None:
    assert ScheduleOptions().to_mapping() == {}
    assert ScheduleOptions().age_floor == options.DEFAULT_MIN_KEEP == 1
    assert from_mapping({}, "tick") == ScheduleOptions()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("typ=ARCHIVE", "unknown option 'typ': did you mean type?"),
        ("colour=blue", "unknown option 'colour': the options are type, max-age"),
        ("type=COLDLINE", "type 'COLDLINE' is not one of STANDARD, ARCHIVE"),
        ("max-age=400", "max-age '400' is not a number of hours or days"),
        ("max-age=0d", "must be from 1h to 36500d"),
        ("max-age=400d,min-keep=0", "min-keep '0' must be a whole number from 1 to 1000"),
        ("min-keep=2", "min-keep only limits max-age: add max-age or leave min-keep out"),
        ("kms-key=my-key", "is not projects/P/locations/L/keyRings/R/cryptoKeys/K"),
        ("chain-name=Chain_1", "chain-name 'Chain_1' must be 1-63 characters"),
        ("storage-location=EU", "storage-location 'EU' is not a storage location"),
        ("type=ARCHIVE,type=STANDARD", "option 'type' is given twice"),
        ("type=", "option 'type' has no value"),
        ("ARCHIVE", "'ARCHIVE' is not key=value"),
    ],
)
def test_bad_options_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(OptionError) as caught:
        parse_text(text)
    assert says in str(caught.value)


def test_every_problem_of_a_line_is_named_at_once() -> None:
    with pytest.raises(OptionError) as caught:
        parse_text("type=COLD,max-age=forever")
    assert "type 'COLD'" in str(caught.value) and "max-age 'forever'" in str(caught.value)


def test_a_message_carries_text_values_only() -> None:
    with pytest.raises(OptionError, match="must map option names to text values"):
        from_mapping({"min-keep": 2, "max-age": "30d"}, "tick")
    with pytest.raises(OptionError, match="must map option names"):
        from_mapping(["type=ARCHIVE"], "tick")


def test_an_option_error_is_an_invalid_message() -> None:
    # A tick carrying one is dead-lettered at once, never retried nor half applied.
    assert issubclass(OptionError, InvalidMessage)


def test_the_table_covers_every_field() -> None:
    assert {rule.field for rule in RULES.values()} == {f.name for f in fields(ScheduleOptions)}


@pytest.mark.parametrize(
    ("text", "mode", "age"),
    [
        ("keep", "keep", None),
        ("Keep-Newest", "keep-newest", None),
        ("max-age:90d", "max-age", timedelta(days=90)),
        (" max-age:36h ", "max-age", timedelta(hours=36)),
    ],
)
def test_orphan_policies(text: str, mode: str, age: timedelta | None) -> None:
    policy = options.orphan_policy(text)
    assert (policy.mode, policy.max_age, policy.acts) == (mode, age, mode != "keep")
    assert options.orphan_policy(str(policy)) == policy  # written back as read


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("prune", "is not keep, keep-newest or max-age:<age>"),
        ("max-age", "is not keep, keep-newest or max-age:<age>"),
        ("max-age:", "is not a number of hours or days"),
        ("max-age:90", "is not a number of hours or days"),
        ("max-age:0h", "must be from 1h"),
    ],
)
def test_bad_orphan_policies_say_what_is_expected(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        options.orphan_policy(text)

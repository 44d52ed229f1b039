from __future__ import annotations

import pytest

from snapkeeper.errors import LabelError
from snapkeeper.labels import (
    DiskPolicy,
    Skip,
    deployment_of,
    is_pinned,
    parse_keep,
    recorded_keep,
    resolve_policy,
    schedules_in,
    snapshot_labels,
    validate_schedule_name,
)

P = "snapshot-"


@pytest.mark.parametrize("value", ["1", "7", "1000"])
def test_valid_keep(value: str) -> None:
    assert parse_keep(value) == int(value)


@pytest.mark.parametrize("value", ["0", "1001", "seven", "", "-1", "3.5", "07x"])
def test_invalid_keep(value: str) -> None:
    with pytest.raises(LabelError):
        parse_keep(value)


@pytest.mark.parametrize(
    "name", ["exclude", "keep", "location", "guest", "Daily", "1d", "daily-2", "a" * 21, ""]
)
def test_invalid_schedule_names(name: str) -> None:
    with pytest.raises(LabelError):
        validate_schedule_name(name)


def test_disk_label_opts_in() -> None:
    policy = resolve_policy("daily", {"snapshot-daily": "7"}, {}, P)
    assert policy == DiskPolicy("daily", 7, "disk", None, False)


def test_unlabelled_disk_takes_no_part() -> None:
    assert resolve_policy("daily", {"env": "prod"}, {"vm": {"snapshot-hourly": "3"}}, P) is None


def test_instance_label_applies_and_disk_label_wins() -> None:
    instances = {"vm-1": {"snapshot-daily": "3", "snapshot-location": "eu"}}
    from_instance = resolve_policy("daily", {}, instances, P)
    assert from_instance == DiskPolicy("daily", 3, "instance:vm-1", "eu", False)
    from_disk = resolve_policy(
        "daily", {"snapshot-daily": "9", "snapshot-location": "us"}, instances, P
    )
    assert from_disk == DiskPolicy("daily", 9, "disk", "us", False)


def test_exclude_vetoes_the_instance() -> None:
    policy = resolve_policy(
        "daily", {"snapshot-exclude": "true"}, {"vm": {"snapshot-daily": "3"}}, P
    )
    assert isinstance(policy, Skip) and "excluded" in policy.reason


def test_bad_value_is_a_reported_skip() -> None:
    policy = resolve_policy("daily", {"snapshot-daily": "0"}, {}, P)
    assert isinstance(policy, Skip)
    assert "snapshot-daily" in policy.reason and "between 1 and 1000" in policy.reason


def test_guest_flush_and_default_location() -> None:
    policy = resolve_policy(
        "daily",
        {"snapshot-daily": "2", "snapshot-guest-flush": "true"},
        {},
        P,
        default_location="asia",
    )
    assert policy == DiskPolicy("daily", 2, "disk", "asia", True)


def test_custom_prefix() -> None:
    assert resolve_policy("daily", {"snapshot-daily": "2"}, {}, "backup-") is None
    assert isinstance(resolve_policy("daily", {"backup-daily": "2"}, {}, "backup-"), DiskPolicy)


def test_schedules_in_ignores_controls() -> None:
    labels = {
        "snapshot-daily": "7",
        "snapshot-hourly": "24",
        "snapshot-exclude": "false",
        "snapshot-guest-flush": "true",
        "snapshot-keep": "true",
        "env": "x",
    }
    assert schedules_in(labels, P) == ["daily", "hourly"]


def test_snapshot_labels_copy_own_labels_but_never_controls() -> None:
    disk = {"env": "prod", "snapshot-daily": "7", "snapshot-keep": "true", "managed-by": "tf"}
    labels = snapshot_labels(disk, "42", "daily", "20260102-0300", P)
    assert labels == {
        "managed-by": "snapkeeper",
        "snapkeeper-disk-id": "42",
        "snapkeeper-schedule": "daily",
        "snapkeeper-slot": "20260102-0300",
        "snapkeeper-deployment": "default",
        "env": "prod",
    }


def test_snapshot_labels_stop_at_64() -> None:
    disk = {f"k{i:03d}": "v" for i in range(100)}
    assert len(snapshot_labels(disk, "1", "daily", "20260102-0300", P)) == 64


def test_the_pin_is_honoured_under_the_literal_key_whatever_the_prefix() -> None:
    assert is_pinned({"snapshot-keep": "true"}, "snapshot-")
    assert is_pinned({"snapshot-keep": "true"}, "backup-")  # a changed prefix never unpins
    assert is_pinned({"backup-keep": "yes"}, "backup-")
    assert not is_pinned({"backup-keep": "true"}, "snapshot-")
    assert not is_pinned({"snapshot-keep": "false"}, "backup-")


def test_snapshot_labels_name_the_deployment_and_never_copy_a_pin() -> None:
    disk = {"snapshot-keep": "true", "snapshot-daily": "3", "backup-daily": "2", "env": "prod"}
    labels = snapshot_labels(disk, "42", "daily", "20260102-0300", "backup-", "dr")
    assert labels["snapkeeper-deployment"] == "dr"
    assert {"snapshot-keep", "snapshot-daily", "backup-daily"}.isdisjoint(labels)
    assert labels["env"] == "prod"


def test_a_snapshot_without_a_deployment_label_is_the_default_deployments() -> None:
    assert deployment_of({"managed-by": "snapkeeper"}) == "default"
    assert deployment_of({"snapkeeper-deployment": "dr"}) == "dr"


def test_a_snapshot_records_the_disks_n_and_a_copied_one_is_never_trusted() -> None:
    disk = {"snapkeeper-keep": "900", "env": "prod"}  # a disk label of ours is never copied
    labels = snapshot_labels(disk, "42", "daily", "20260102-0300", P, keep=7)
    assert labels["snapkeeper-keep"] == "7" and recorded_keep(labels) == 7
    assert "snapkeeper-keep" not in snapshot_labels({}, "42", "daily", "20260102-0300", P)
    for bad in ("0", "1001", "seven", ""):
        assert recorded_keep({"snapkeeper-keep": bad}) is None

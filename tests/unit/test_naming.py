from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from snapkeeper.naming import MAX_NAME, NAME, SnapshotKey, request_id, snapshot_name

disk_names = st.from_regex(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
schedules = st.from_regex(r"[a-z][a-z0-9]{0,19}", fullmatch=True)
slots = st.from_regex(
    r"20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])-([01][0-9]|2[0-3])[0-5][0-9]", fullmatch=True
)
keys = st.builds(
    SnapshotKey,
    project=st.from_regex(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", fullmatch=True),
    location=st.sampled_from(
        ["us-central1-a", "us-central1-b", "europe-west1", "asia-northeast1-c"]
    ),
    disk_id=st.integers(min_value=1, max_value=2**63).map(str),
    disk_name=disk_names,
    schedule=schedules,
    slot=slots,
)


@given(keys)
def test_names_are_always_valid_compute_names(key: SnapshotKey) -> None:
    name = snapshot_name(key)
    assert len(name) <= MAX_NAME
    assert NAME.match(name), name
    assert f"-{key.schedule}-{key.slot}-" in name


@given(keys)
def test_name_and_request_id_are_deterministic(key: SnapshotKey) -> None:
    same = SnapshotKey(**key.__dict__)
    assert snapshot_name(key) == snapshot_name(same)
    assert request_id(key) == request_id(same)
    assert uuid.UUID(request_id(key)).version == 5


@given(keys, st.sampled_from(["project", "location", "disk_id"]))
def test_same_disk_name_elsewhere_gets_another_name(key: SnapshotKey, field: str) -> None:
    other_value = {
        "project": key.project + "x",
        "location": key.location + "x",
        "disk_id": key.disk_id + "1",
    }[field]
    other = SnapshotKey(**{**key.__dict__, field: other_value})
    assert snapshot_name(other) != snapshot_name(key)
    assert request_id(other) != request_id(key)


def test_long_disk_name_is_truncated_without_trailing_dash() -> None:
    # A 20-character schedule leaves 19 characters of disk name: "a"*18 + "-".
    schedule = "quarterhourlyrotate1"
    key = SnapshotKey(
        "my-project-1", "us-central1-a", "123", "a" * 18 + "-" + "b" * 42, schedule, "20260102-0300"
    )
    name = snapshot_name(key)
    assert len(name) == 62
    assert name.startswith("a" * 18 + f"-{schedule}-20260102-0300-")  # the dash was dropped
    assert NAME.match(name)


def test_example_shape() -> None:
    key = SnapshotKey("prod-db", "us-central1-a", "42", "db-data", "daily", "20260102-0300")
    name = snapshot_name(key)
    stem, digest = name.rsplit("-", 1)
    assert stem == "db-data-daily-20260102-0300"
    # At least 40 bits: a vault holds many projects' snapshots in one name space.
    assert len(digest) == 8 and digest.isalnum() and 36 ** len(digest) >= 2**40


def test_a_retake_gets_a_fresh_request_id_that_duplicates_share() -> None:
    key = SnapshotKey("prod-db", "us-central1-a", "42", "db-data", "daily", "20260102-0300")
    first = request_id(key)
    retake = request_id(key, retake_of="1234")
    assert retake != first
    assert request_id(key, retake_of="1234") == retake  # two deliveries agree
    assert request_id(key, retake_of="5678") not in (first, retake)


deployments = st.from_regex(r"[a-z]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(keys, deployments)
def test_a_deployments_names_are_valid_and_its_own(key: SnapshotKey, deployment: str) -> None:
    theirs = SnapshotKey(**{**key.__dict__, "deployment": deployment})
    name = snapshot_name(theirs)
    assert len(name) <= MAX_NAME and NAME.match(name), name
    if deployment != "default":
        assert f"-{key.schedule}-{deployment}-{key.slot}-" in name
        # Two deployments on one disk never meet on a name, nor on a requestId.
        assert name != snapshot_name(key)
        assert request_id(theirs) != request_id(key)


def test_the_default_deployment_keeps_the_names_made_before_deployment_ids() -> None:
    key = SnapshotKey("prod-db", "us-central1-a", "42", "db-data", "daily", "20260102-0300")
    explicit = SnapshotKey(*key.__dict__.values())
    assert key.deployment == explicit.deployment == "default"
    assert snapshot_name(key) == "db-data-daily-20260102-0300-" + snapshot_name(key)[-8:]
    assert key.canonical == "prod-db/us-central1-a/42/daily/20260102-0300"


def test_the_longest_deployment_and_schedule_leave_room_for_the_disk_name() -> None:
    key = SnapshotKey(
        "p-123456", "us-central1-a", "1", "x" * 63, "a" * 20, "20260102-0300", "b" * 12
    )
    name = snapshot_name(key)
    assert len(name) <= MAX_NAME and name.startswith("xxxxxx-" + "a" * 20 + "-" + "b" * 12)

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapkeeper.retention import Rules, SnapshotInfo, plan_retention


def snap(slot: str, status: str = "READY", pinned: bool = False) -> SnapshotInfo:
    return SnapshotInfo(
        name=f"s-{slot}",
        status=status,
        slot=slot,
        created=datetime(2026, 1, 1, tzinfo=UTC),
        pinned=pinned,
    )


def names(items: tuple[SnapshotInfo, ...]) -> set[str]:
    return {s.name for s in items}


def history(spec: str) -> list[SnapshotInfo]:
    """Snapshots from words: `01` (READY), `03:FAILED`, `01:pinned`, `01:FAILED:pinned`."""
    infos = []
    for word in spec.split():
        slot, *rest = word.split(":")
        status = next((part for part in rest if part != "pinned"), "READY")
        infos.append(snap(slot, status, pinned="pinned" in rest))
    return infos


# (snapshots as history() words, keep N, the slots deleted)
CASES = [
    ("nothing yet", "", 3, ""),
    ("fewer than N", "01 02", 3, ""),
    ("exactly N", "01 02", 2, ""),
    ("oldest beyond N go", "01 02 03 04", 2, "01 02"),
    ("in flight never deleted nor counted", "01 02 03:CREATING 04:UPLOADING", 2, ""),
    ("failed are deleted", "01 02:FAILED", 2, "02"),
    ("failures keep the N good ones", "01 02 03:FAILED 04:FAILED", 2, "03 04"),
    ("pinned never deleted nor counted", "01:pinned 02 03 04", 2, "02"),
    ("pinned failed is kept too", "01:FAILED:pinned", 1, ""),
    ("deleting status left alone", "01:DELETING 02", 1, ""),
    ("input order does not matter", "04 01 03", 1, "01 03"),
]


@pytest.mark.parametrize(
    ("snapshots", "keep", "deleted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_retention(snapshots: str, keep: int, deleted: str) -> None:
    infos = history(snapshots)
    plan = plan_retention(infos, keep)
    assert names(plan.delete) == {f"s-{slot}" for slot in deleted.split()}
    assert names(plan.keep) | names(plan.delete) == names(tuple(infos))
    assert not names(plan.keep) & names(plan.delete)


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError):
        plan_retention([], 0)


def test_order_is_by_parsed_time_not_timestamp_text() -> None:
    # Across the fall-back the API's offsets change: -07:00, then -08:00. The text of
    # the older time sorts after the newer one; the parsed times do not.
    older = SnapshotInfo("older", "READY", "", datetime.fromisoformat("2026-11-01T01:30:00-07:00"))
    newer = SnapshotInfo("newer", "READY", "", datetime.fromisoformat("2026-11-01T01:10:00-08:00"))
    assert older.created.isoformat() > newer.created.isoformat()  # type: ignore[union-attr]
    plan = plan_retention([newer, older], keep=1)
    assert names(plan.delete) == {"older"}


def test_slots_order_before_creation_times() -> None:
    # A catch-up of an earlier slot is created later, yet it is the older generation.
    late_catch_up = SnapshotInfo(
        "catch-up", "READY", "20261101-0300", datetime(2026, 11, 3, tzinfo=UTC)
    )
    newest = SnapshotInfo("newest", "READY", "20261102-0300", datetime(2026, 11, 2, tzinfo=UTC))
    assert names(plan_retention([late_catch_up, newest], keep=1).delete) == {"catch-up"}


# -- the rules beyond N: max-age, ARCHIVE's 90 days, the brake ----------------------------------

NOW = datetime(2027, 6, 1, tzinfo=UTC)


def aged(days: int, status: str = "READY", kind: str = "STANDARD") -> SnapshotInfo:
    taken = NOW - timedelta(days=days)
    return SnapshotInfo(
        f"d{days}", status, taken.strftime("%Y%m%d-%H%M"), taken, snapshot_type=kind
    )


def test_max_age_prunes_within_n_but_never_below_the_floor() -> None:
    series = [aged(d) for d in (0, 10, 50, 100, 200)]
    rules = Rules(max_age=timedelta(days=30), now=NOW)
    assert names(plan_retention(series, 10, rules).delete) == {"d50", "d100", "d200"}
    floor_3 = Rules(max_age=timedelta(days=30), age_floor=3, now=NOW)
    assert names(plan_retention(series, 10, floor_3).delete) == {"d100", "d200"}
    # All older than max-age: the newest age_floor stay (a disk never loses its last one).
    old = [aged(d) for d in (40, 50, 60)]
    assert names(plan_retention(old, 10, rules).keep) == {"d40"}


def test_max_age_without_a_time_to_measure_to_deletes_nothing_more() -> None:
    series = [aged(d) for d in (0, 100)]
    assert names(plan_retention(series, 5, Rules(max_age=timedelta(days=1))).delete) == set()


def test_an_archive_younger_than_90_days_is_never_pruned() -> None:
    series = [
        aged(0, kind="ARCHIVE"),
        aged(31, kind="ARCHIVE"),
        aged(89, kind="ARCHIVE"),
        aged(91, kind="ARCHIVE"),
        aged(95),
    ]
    # N=1 would delete four of them, max-age of 30 days as well: only the old ones go.
    plan = plan_retention(series, 1, Rules(max_age=timedelta(days=30), now=NOW))
    assert names(plan.delete) == {"d91", "d95"}
    assert {"d31", "d89"} <= names(plan.keep)
    # An unknown age is young: deleting early costs the rest of the 90 days.
    unknown = SnapshotInfo("undated", "READY", "", None, snapshot_type="ARCHIVE")
    assert names(plan_retention([aged(0), unknown], 1, Rules(now=NOW)).delete) == set()


def test_the_brake_deletes_the_oldest_first_and_holds_back_the_rest() -> None:
    series = [aged(d) for d in range(10)]
    plan = plan_retention(series, 1, Rules(max_deletes=3, now=NOW))
    assert names(plan.delete) == {"d9", "d8", "d7"}
    assert names(plan.held_back) == {f"d{d}" for d in range(1, 7)}
    assert names(plan.held_back) <= names(plan.keep)


def test_failed_snapshots_do_not_count_against_the_brake() -> None:
    series = [aged(d) for d in range(6)] + [aged(d, "FAILED") for d in (50, 51, 52, 53)]
    plan = plan_retention(series, 1, Rules(max_deletes=2, now=NOW))
    assert names(plan.delete) == {"d50", "d51", "d52", "d53", "d5", "d4"}
    assert names(plan.held_back) == {"d3", "d2", "d1"}


def test_protected_snapshots_count_but_are_never_deleted() -> None:
    series = [aged(d) for d in (0, 1, 2)]
    plan = plan_retention(series, 1, Rules(protected=frozenset({"d2"}), now=NOW))
    assert names(plan.delete) == {"d1"}


def test_no_rules_is_the_plain_count() -> None:
    series = [aged(d) for d in range(5)]
    assert plan_retention(series, 2) == plan_retention(series, 2, Rules())
    assert names(plan_retention(series, 2).held_back) == set()


statuses = st.sampled_from(["READY", "READY", "READY", "FAILED", "CREATING"])


@st.composite
def histories(draw: st.DrawFn) -> list[SnapshotInfo]:
    days = draw(st.lists(st.integers(0, 400), unique=True, max_size=30))
    return [
        SnapshotInfo(
            f"d{d}",
            draw(statuses),
            (NOW - timedelta(days=d)).strftime("%Y%m%d-%H%M"),
            NOW - timedelta(days=d),
            pinned=draw(st.booleans()) and draw(st.booleans()),
            snapshot_type=draw(st.sampled_from(["STANDARD", "ARCHIVE"])),
        )
        for d in days
    ]


@given(
    histories(),
    st.integers(1, 10),
    st.none() | st.integers(1, 300).map(lambda d: timedelta(days=d)),
    st.integers(1, 5),
    st.integers(2, 5),
)
def test_what_pruning_never_does(
    series: list[SnapshotInfo], keep: int, max_age: timedelta | None, floor: int, brake: int
) -> None:
    rules = Rules(max_age=max_age, age_floor=floor, max_deletes=brake, now=NOW)
    plan = plan_retention(series, keep, rules)
    deleted_ready = [s for s in plan.delete if s.status == "READY"]
    assert len(deleted_ready) <= brake
    assert all(s.status in ("READY", "FAILED") and not s.pinned for s in plan.delete)
    young = {f"d{d}" for d in range(90)}
    assert not [s for s in deleted_ready if s.snapshot_type == "ARCHIVE" and s.name in young]
    ready = [s for s in series if s.status == "READY" and not s.pinned]
    left = [s for s in plan.keep if s.status == "READY" and not s.pinned]
    # N holds; max-age may go below N, never below the floor (the caller raises N to the
    # vault's floor: MIN_KEEP is never below either).
    assert len(left) >= min(len(ready), keep if max_age is None else min(keep, floor))
    # The newest READY one always survives.
    if ready:
        newest = max(ready, key=lambda s: s.created or NOW)
        assert newest in left

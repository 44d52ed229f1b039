from __future__ import annotations

from datetime import UTC, datetime

import pytest

from snapkeeper.retention import SnapshotInfo, plan_retention


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


# (snapshots as (slot, status, pinned), keep N, expected deletions by slot)
CASES = [
    ("nothing yet", [], 3, set()),
    ("fewer than N", [("01", "READY", False), ("02", "READY", False)], 3, set()),
    ("exactly N", [("01", "READY", False), ("02", "READY", False)], 2, set()),
    (
        "oldest beyond N go",
        [
            ("01", "READY", False),
            ("02", "READY", False),
            ("03", "READY", False),
            ("04", "READY", False),
        ],
        2,
        {"01", "02"},
    ),
    (
        "in flight never deleted nor counted",
        [
            ("01", "READY", False),
            ("02", "READY", False),
            ("03", "CREATING", False),
            ("04", "UPLOADING", False),
        ],
        2,
        set(),
    ),
    ("failed are deleted", [("01", "READY", False), ("02", "FAILED", False)], 2, {"02"}),
    (
        "failures keep the N good ones",
        [
            ("01", "READY", False),
            ("02", "READY", False),
            ("03", "FAILED", False),
            ("04", "FAILED", False),
        ],
        2,
        {"03", "04"},
    ),
    (
        "pinned never deleted nor counted",
        [
            ("01", "READY", True),
            ("02", "READY", False),
            ("03", "READY", False),
            ("04", "READY", False),
        ],
        2,
        {"02"},
    ),
    ("pinned failed is kept too", [("01", "FAILED", True)], 1, set()),
    ("deleting status left alone", [("01", "DELETING", False), ("02", "READY", False)], 1, set()),
    (
        "input order does not matter",
        [("04", "READY", False), ("01", "READY", False), ("03", "READY", False)],
        1,
        {"01", "03"},
    ),
]


@pytest.mark.parametrize(
    ("snapshots", "keep", "deleted"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_retention(
    snapshots: list[tuple[str, str, bool]], keep: int, deleted: set[str]
) -> None:
    infos = [snap(slot, status, pinned) for slot, status, pinned in snapshots]
    plan = plan_retention(infos, keep)
    assert names(plan.delete) == {f"s-{slot}" for slot in deleted}
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

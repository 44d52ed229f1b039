"""The chaos soak's own parts, in process: the invariant checker over snapshot states
it is handed, and the worker's ack line the soak reads back."""

from __future__ import annotations

import io
import sys

import pytest

from snapkeeper_local.chaos.checker import Checker, Expected, Round, Shot
from snapkeeper_local.chaos.worker import ACKED, say_acked

DISK, OTHER = "101", "202"


def shot(disk: str, slot: str, status: str = "READY", **labels: str) -> Shot:
    return Shot(
        "p1",
        f"d{disk}-daily-{slot}",
        status,
        {
            "managed-by": "snapkeeper",
            "snapkeeper-disk-id": disk,
            "snapkeeper-schedule": "daily",
            "snapkeeper-slot": slot,
            **labels,
        },
    )


def by_ref(*shots: Shot) -> dict[str, Shot]:
    return {s.ref: s for s in shots}


def round_for(slot: str, keep: int) -> Round:
    expected = [Expected(DISK, "p1/z/d", "p1", "daily", slot, keep)]
    round_ = Round(expected, set(), set(), set(), set())
    round_.keep_now = {(DISK, "daily"): keep}
    return round_


def rules(found: list) -> list[str]:
    return [v.rule for v in found]


def checker_with(*shots: Shot) -> Checker:
    checker = Checker()
    checker.baseline(by_ref(*shots))
    return checker


SLOTS = [f"2027020{d}-0300" for d in range(1, 6)]


def test_a_tick_that_adds_its_slot_and_prunes_to_n_keeps_every_rule() -> None:
    checker = checker_with(*(shot(DISK, s) for s in SLOTS[:3]), shot(OTHER, SLOTS[0]))
    after = by_ref(*(shot(DISK, s) for s in SLOTS[1:4]), shot(OTHER, SLOTS[0]))

    assert checker.check(after, round_for(SLOTS[3], keep=3)) == []


def test_one_more_ready_than_n_once_settled_is_a_violation() -> None:
    checker = checker_with(*(shot(DISK, s) for s in SLOTS[:3]))
    after = by_ref(*(shot(DISK, s) for s in SLOTS[:4]))

    assert rules(checker.check(after, round_for(SLOTS[3], keep=3))) == [
        "exactly N READY once settled"
    ]


def test_deleting_one_of_the_newest_n_or_another_disks_is_a_violation() -> None:
    checker = checker_with(*(shot(DISK, s) for s in SLOTS[:3]), shot(OTHER, SLOTS[0]))
    after = by_ref(shot(DISK, SLOTS[0]), shot(DISK, SLOTS[1]), shot(DISK, SLOTS[3]))

    assert sorted(rules(checker.check(after, round_for(SLOTS[3], keep=3)))) == [
        "exactly N READY once settled",
        "never delete another disk's or schedule's",
        "never delete one of the newest N READY",
    ]


def test_pinned_and_in_flight_snapshots_do_not_count_and_may_not_go() -> None:
    pinned = shot(DISK, "20260101-0300", **{"snapshot-keep": "true"})
    creating = shot(DISK, SLOTS[0], status="CREATING")
    checker = checker_with(pinned, creating, shot(DISK, SLOTS[1]))
    after = by_ref(shot(DISK, SLOTS[1]), shot(DISK, SLOTS[2]))

    assert sorted(rules(checker.check(after, round_for(SLOTS[2], keep=2)))) == [
        "never delete a CREATING snapshot",
        "never delete a pinned snapshot",
    ]


def test_a_lowered_n_may_take_several_ticks_under_the_delete_brake() -> None:
    checker = checker_with(*(shot(DISK, s) for s in SLOTS[:4]), shot(DISK, "20270131-0300"))
    # N lowered to 1: five are due, the brake lets one run delete three of them.
    after = by_ref(shot(DISK, SLOTS[2]), shot(DISK, SLOTS[3]), shot(DISK, SLOTS[4]))

    assert checker.check(after, round_for(SLOTS[4], keep=1)) == []


def test_a_delete_the_write_quota_deferred_may_stay_until_the_series_next_run() -> None:
    before = [shot(DISK, s) for s in SLOTS[:3]]
    after = by_ref(*(shot(DISK, s) for s in SLOTS[:4]))  # the oldest's delete was refused
    deferred = round_for(SLOTS[3], keep=3)
    deferred.deferred = {(DISK, "daily"): 1}

    assert checker_with(*before).check(after, deferred) == []
    assert rules(checker_with(*before).check(after, round_for(SLOTS[3], keep=3))) == [
        "exactly N READY once settled"
    ]


def test_a_due_snapshot_whose_delete_completes_after_the_round_may_go_later() -> None:
    # The delete timed out at the client, its retry was deferred: the round settles
    # with one extra, then Compute finishes the first delete before a round without
    # the series (a drill). Only a snapshot the run was entitled to delete may go so.
    before = [shot(DISK, s) for s in SLOTS[:3]]
    checker = checker_with(*before)
    deferred = round_for(SLOTS[3], keep=3)
    deferred.deferred = {(DISK, "daily"): 1}
    assert checker.check(by_ref(*(shot(DISK, s) for s in SLOTS[:4])), deferred) == []
    drill = Round([], set(), set(), set(), set())

    assert checker.check(by_ref(*(shot(DISK, s) for s in SLOTS[1:4])), drill) == []
    assert rules(checker.check(by_ref(*(shot(DISK, s) for s in SLOTS[2:4])), drill)) == [
        "never delete another disk's or schedule's"
    ]


def orphan_checker(*shots: Shot) -> Checker:
    checker = Checker(orphans={GONE}, orphan_policy="keep-newest")
    checker.baseline(by_ref(*shots))
    return checker


GONE = "303"


def orphan_round(ticked: str | None) -> Round:
    """A round in which no live disk was due; `ticked`: the schedule a tick enumerated."""
    return Round([], set(), set(), set(), set(), orphan_schedule=ticked)


def test_a_deleted_disks_snapshots_are_pruned_to_the_n_its_newest_recorded() -> None:
    held = [shot(GONE, s, **{"snapkeeper-keep": "2"}) for s in SLOTS[:4]]
    after = by_ref(*held[2:])

    assert orphan_checker(*held).check(after, orphan_round("daily")) == []


def test_a_deleted_disk_left_above_n_after_its_schedules_tick_is_a_violation() -> None:
    held = [shot(GONE, s, **{"snapkeeper-keep": "2"}) for s in SLOTS[:4]]

    assert rules(orphan_checker(*held).check(by_ref(*held), orphan_round("daily"))) == [
        "a deleted disk's snapshots pruned to N"
    ]
    # A replay enumerates nothing, and another schedule's tick prunes other orphans.
    assert orphan_checker(*held).check(by_ref(*held), orphan_round(None)) == []
    assert orphan_checker(*held).check(by_ref(*held), orphan_round("hourly")) == []


def test_a_deleted_disk_never_loses_one_of_its_newest_n() -> None:
    held = [shot(GONE, s, **{"snapkeeper-keep": "2"}) for s in SLOTS[:4]]
    after = by_ref(held[0], held[1], held[2])  # the newest went

    assert rules(orphan_checker(*held).check(after, orphan_round(None))) == [
        "a deleted disk keeps its newest N"
    ]
    keep_all = checker_with(*held)
    keep_all.orphans = {GONE}
    assert rules(keep_all.check(after, orphan_round(None))) == ["keep a deleted disk's snapshots"]


def test_a_series_whose_projects_tick_was_dead_lettered_keeps_what_it_held() -> None:
    before = [shot(DISK, s) for s in SLOTS[:4]]  # one more than N: a deferred delete
    not_run = round_for(SLOTS[4], keep=3)
    not_run.project_letters = {("p1", "daily", SLOTS[4])}

    assert checker_with(*before).check(by_ref(*before), not_run) == []
    assert "exactly N READY once settled" in rules(
        checker_with(*before).check(by_ref(*before), round_for(SLOTS[4], keep=3))
    )


class Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


def test_the_ack_line_is_one_write_so_other_threads_lines_cannot_split_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = Writes()
    monkeypatch.setattr(sys, "stdout", out)

    say_acked("1019")

    assert out.calls == [f"{ACKED}1019\n"]

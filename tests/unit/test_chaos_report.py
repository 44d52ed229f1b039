"""The soak's report: a table a log file can read, and an exit code and replay command
that tell a violation apart."""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console

from snapkeeper_local.chaos.__main__ import report
from snapkeeper_local.chaos.checker import Violation
from snapkeeper_local.chaos.soak import DayStats, Outcome, Settings


def _outcome(violations: list[Violation]) -> Outcome:
    day = DayStats(
        ticks=25, created=1038, pruned=145, redeliveries=255, dead_letters=14,
        faults=Counter({"disk deleted": 9, "duplicate work": 49}),
    )  # fmt: skip
    return Outcome(days={0: day}, violations=violations, disk_ticks=1040, context="GET ...")


def _printed(outcome: Outcome, seed: int = 1) -> tuple[int, str]:
    printed = io.StringIO()
    code = report(Console(width=80, file=printed), Settings(seed=seed), outcome)  # a log's width
    return code, printed.getvalue()


def test_a_clean_run_exits_0_with_every_figure_whole_in_80_columns() -> None:
    code, text = _printed(_outcome([]))

    assert code == 0
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    assert "…" not in text  # no header or figure cut short
    row = next(line for line in text.splitlines() if line.split("│")[0].strip() == "1")
    assert [cell.strip() for cell in row.split("│")] == [
        "1", "25", "1038", "145", "58", "255", "14", "0"
    ]  # fmt: skip
    assert "disk deleted 9, duplicate work 49" in text  # the summary names the faults by kind
    assert text.rstrip().endswith("0 violations")


def test_a_violation_exits_1_with_the_seed_to_replay_it_and_the_requests() -> None:
    code, text = _printed(_outcome([Violation("deleted", "p/z/disk-1 snap-a")]), seed=42)

    assert code == 1
    assert "make chaos SEED=42" in text
    assert "deleted: p/z/disk-1 snap-a" in text
    assert "GET ..." in text

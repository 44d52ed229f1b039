"""Long reasons go beneath a table on a narrow terminal, and stay in it on a wide one."""

from __future__ import annotations

import io

from rich.console import Console

from snapkeeper.cli.common import WIDE_TABLE, Notes, table

REASON = "label snapshot-daily: 'seven' is not a whole number from 1 to 1000"


def render(width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width)
    notes = Notes(console)
    grid = table(None, "project", "location", "disk", "reason")
    grid.add_row("prod-app-1", "us-central1-a", "pg-data", notes.cell(REASON))
    grid.add_row("prod-app-1", "us-central1-a", "web-data", notes.cell(""))
    console.print(grid)
    notes.print(console)
    return out.getvalue()


def test_at_80_columns_every_column_keeps_its_words_and_the_reason_comes_beneath() -> None:
    text = render(80)
    assert all(len(line) <= 80 for line in text.splitlines())
    row = next(line for line in text.splitlines() if "pg-data" in line)
    assert "prod-app-1" in row and "us-central1-a" in row and "(1)" in row
    assert f"(1) {REASON}" in text


def test_a_wide_terminal_keeps_the_reason_in_its_cell() -> None:
    text = render(WIDE_TABLE + 40)
    row = next(line for line in text.splitlines() if "pg-data" in line)
    assert REASON in row and "(1)" not in text

"""The README's reference tables say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

from snapkeeper.cli.common import ExitCode
from snapkeeper.snapshotter import Action

README = (Path(__file__).parents[2] / "README.md").read_text()


def table_after(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table after a line `heading`."""
    lines = README[README.index(heading) :].splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:  # past the header and its separator
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_exit_code_table_lists_every_exit_code() -> None:
    codes = {int(row[0]) for row in table_after("Exit codes:")}
    assert codes == {int(code) for code in ExitCode}


def test_the_logs_section_names_every_action() -> None:
    logs = README[README.index("## Logs") :]
    named = set(re.findall(r"`(\w+)`", logs.split("\n\n")[1]))
    assert {action.value for action in Action} <= named

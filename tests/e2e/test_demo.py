"""`make demo` runs the pipeline end to end and tells a newcomer what happened."""

from __future__ import annotations

import io

from rich.console import Console

from snapkeeper_local import demo
from snapkeeper_local.pubsub_emulator import PubSubEmulator


def test_demo_runs_and_reports(pubsub_emulator: PubSubEmulator) -> None:
    out = io.StringIO()
    assert demo.run(Console(file=out, width=160), emulator=pubsub_emulator) == 0
    text = out.getvalue()
    assert "day 12  daily  slot 20270312-0300: 3 queued, 3 created, 3 pruned, 2 skipped" in text
    assert "excluded by snapshot-exclude" in text
    assert "'seven' is not a whole number" in text
    assert "403 forbidden" in text and "acme-legacy-prod" in text
    assert "Each ended in a snapshot" in text
    # The organization's coverage: the legacy project's disk, which the per-project view
    # cannot read, is stale; the sandbox's and the scratch disk are unprotected.
    org = text.split("Coverage of the whole organization", 1)[1]
    assert any(line.split()[1:4] == ["stale", "│", "acme-legacy-prod"] for line in org.splitlines())
    assert "acme-sandbox-dev" in org and "notebook" in org and "scratch" in org
    assert "web-vm-cache" not in org  # excluded on purpose is not unprotected
    assert "3 unprotected disks" in org and "eventually consistent" in org
    # web-vm-boot keeps 2: 12 created, 10 pruned, exactly 2 held.
    assert any(
        line.split()
        == [
            "│",
            "acme-web-prod",
            "│",
            "web-vm-boot",
            "│",
            "daily",
            "│",
            "2",
            "/",
            "2",
            "│",
            "12",
            "│",
            "10",
            "│",
        ]
        for line in text.splitlines()
    )
    # Two restore drills: round robin (web-vm-boot, never drilled, comes second), one
    # restore dead-lettered with its reason, no scratch disk left behind.
    assert "Drill 20270313-0400: 2 of 3 disks" in text
    assert "Drill 20270314-0400: 2 of 3 disks" in text
    assert text.count("OK, scratch disk deleted") == 3
    assert "SSD_TOTAL_GB" in text
    assert "Scratch disks left in acme-drills: 0." in text
    assert "pg-data 20270314, web-data 20270313" in text

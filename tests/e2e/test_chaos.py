"""A short chaos soak (100 disks, 5 ticks, a fixed seed, the default fault rates), part of
`make test` (alone: `make chaos-short`); `make chaos` runs the simulated month with the
one-off faults."""

from __future__ import annotations

import shutil

import pytest

from snapkeeper_local.chaos.soak import Settings, Soak
from snapkeeper_local.pubsub_emulator import PubSubEmulator


@pytest.mark.soak
@pytest.mark.timeout(600)
def test_a_short_soak_keeps_every_invariant(pubsub_emulator: PubSubEmulator) -> None:
    settings = Settings(seed=7, disks=100, projects=10, max_ticks=5, hourly=0.3)
    said: list[str] = []
    soak = Soak(settings, said.append, emulator=pubsub_emulator)
    outcome = soak.run()
    print(*said, sep="\n")

    assert [str(v) for v in outcome.violations] == [], outcome.context
    assert not soak.logs.exists()  # a run without violations keeps no worker logs
    days = list(outcome.days.values())
    assert sum(d.ticks for d in days) == 5
    assert outcome.disk_ticks > 150  # hourly on a third of the disks, daily on most
    assert sum(d.created for d in days) > 150 and sum(d.pruned for d in days) > 0
    assert sum(d.redeliveries for d in days) > 0  # the fake's faults were met, and retried
    day_lines = [line for line in said if line.startswith("day ")]
    assert len(day_lines) == 1 and day_lines[0].startswith("day 1 (")  # the last day, too
    assert "5 ticks" in day_lines[0] and "0 violations; faults: " in day_lines[0]


@pytest.mark.soak
@pytest.mark.timeout(300)
def test_a_soak_stopped_early_says_where_its_logs_are(pubsub_emulator: PubSubEmulator) -> None:
    said: list[str] = []

    def interrupt_at_the_first_tick(line: str) -> None:
        said.append(line)
        if len(said) == 1:
            raise KeyboardInterrupt  # Ctrl-C while the first tick runs

    settings = Settings(seed=7, disks=20, projects=2, max_ticks=3)
    soak = Soak(
        settings,
        interrupt_at_the_first_tick,
        emulator=pubsub_emulator,
        host_project="snapkeeper-chaos-stopped",  # apart from the other soak's topics
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            soak.run()
        assert said[-1] == f"stopped early; the workers' logs are kept in {soak.logs}"
        assert list(soak.logs.glob("worker-*.log"))
    finally:
        shutil.rmtree(soak.logs, ignore_errors=True)

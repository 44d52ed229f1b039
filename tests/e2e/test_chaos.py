"""A short chaos soak (about 100 disks, a dozen ticks, a fixed seed) in every test run;
`make chaos` runs the simulated month."""

from __future__ import annotations

from snapkeeper_local.chaos.soak import Settings, Soak
from snapkeeper_local.pubsub_emulator import PubSubEmulator


def test_a_short_soak_keeps_every_invariant(pubsub_emulator: PubSubEmulator) -> None:
    settings = Settings(seed=7, disks=100, projects=10, max_ticks=12, hourly=0.3)
    outcome = Soak(settings, print, emulator=pubsub_emulator).run()

    assert [str(v) for v in outcome.violations] == [], outcome.context
    days = outcome.days.values()
    faults = sum((d.faults for d in days), start=type(next(iter(days)).faults)())
    # The run met what it is there to meet: the one-off faults and the replay.
    for kind in ("zone unreachable", "worker killed mid-prune", "permission lost",
                 "permission restored", "tick lost", "tick caught up"):  # fmt: skip
        assert faults[kind] == 1, kind
    assert sum(d.created for d in days) > 100 and sum(d.pruned for d in days) > 0
    assert outcome.disk_ticks > 300

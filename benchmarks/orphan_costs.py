"""Compute calls per disk in a steady-state tick with orphan handling on, against the
same tick with ORPHAN_POLICY=keep (no orphan handling). Prints figures; asserts nothing.

One project with D labelled disks (keep 2) and K deleted disks whose snapshots have
settled under the policy (keep-newest: each holds its recorded N), on the local stack
(the Pub/Sub emulator, both functions, the fake Compute Engine's request log).

    python benchmarks/orphan_costs.py [--disks D] [--deleted K]
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime, timedelta

from snapkeeper import clients
from snapkeeper.messages import Tick
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.stack import LocalStack

PROJECT = "bench-project"
ZONE = "us-central1-a"
START = datetime(2027, 5, 1, 3, tzinfo=UTC)
POLICIES = ("keep", "keep-newest")


def tick(day: int) -> Tick:
    return Tick("daily", "0 3 * * *", "Etc/UTC", START + timedelta(days=day))


def run(stack: LocalStack, day: int) -> Counter[str]:
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.set_clock(START + timedelta(days=day))
    admin.clear_requests()
    stack.run_tick(tick(day), timeout=600)
    return Counter(r["api_method"] for r in admin.requests())


def measure(emulator: PubSubEmulator, policy: str, disks: int, deleted: int) -> Counter[str]:
    with LocalStack(
        [PROJECT],
        host_project=f"snapkeeper-orphan-bench-{POLICIES.index(policy)}",
        emulator=emulator,
        extra_env={"ORPHAN_POLICY": policy},
    ) as stack:
        admin = stack.compute.admin  # type: ignore[union-attr]
        admin.seed_project(PROJECT)
        admin.configure(rate_limit_seconds=0, creating_seconds=0.2, uploading_seconds=0.2)
        admin.seed_disks(
            {"project": PROJECT, "name": f"disk-{i:04d}", "zone": ZONE,
             "labels": {"snapshot-daily": "2"}}
            for i in range(disks + deleted)
        )  # fmt: skip
        for day in range(3):  # every disk holds its 2, and prunes one a tick
            run(stack, day)
        compute = clients.compute(stack.compute.host).disks  # type: ignore[union-attr]
        for i in range(disks, disks + deleted):
            compute.delete(project=PROJECT, zone=ZONE, disk=f"disk-{i:04d}").result(timeout=30)
        run(stack, 3)  # the deleted disks' snapshots are orphans now, settled at their N
        return run(stack, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disks", type=int, default=50)
    parser.add_argument("--deleted", type=int, default=10)
    args = parser.parse_args()
    with PubSubEmulator() as emulator:
        found = {p: measure(emulator, p, args.disks, args.deleted) for p in POLICIES}
    print(f"steady-state tick: {args.disks} disks (keep 2), {args.deleted} deleted disks")
    methods = sorted(set().union(*found.values()))
    print(f"  {'method':<36}" + "".join(f"{p:>14}" for p in POLICIES))
    for method in methods:
        print(f"  {method:<36}" + "".join(f"{found[p][method]:>14}" for p in POLICIES))
    totals = {p: sum(calls.values()) / args.disks for p, calls in found.items()}
    for policy, per_disk in totals.items():
        print(f"  ORPHAN_POLICY={policy:<12} Compute calls per disk, all included: {per_disk:.2f}")
    print(f"  ratio keep-newest / keep: {totals['keep-newest'] / totals['keep']:.3f}")


if __name__ == "__main__":
    main()

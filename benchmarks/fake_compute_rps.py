"""Requests per second the fake Compute Engine serves to the real google-cloud-compute
client on loopback, from 1 and from 4 threads. Prints figures; asserts nothing.

    python benchmarks/fake_compute_rps.py [--calls N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from snapkeeper_local.compute import ComputeServer

PROJECT = "bench"
ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b")
DISKS = 300
SNAPSHOTS = 100
TIMEOUT = 10.0
THREADS = (1, 4)


def _seed(server: ComputeServer) -> None:
    server.admin.seed_disks(
        {
            "project": PROJECT,
            "name": f"disk-{i:04d}",
            "zone": ZONES[i % len(ZONES)],
            "labels": {"snapshot-daily": "7"} if i % 2 else {},
        }
        for i in range(DISKS)
    )
    for i in range(SNAPSHOTS):
        server.admin.seed_snapshot(PROJECT, f"snap-{i:04d}", labels={"managed-by": "snapkeeper"})


def _rate(call: Callable[[int], object], calls: int, threads: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(call, range(calls)):
            pass
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400, help="calls per measurement")
    args = parser.parse_args()
    calls = max(1, min(args.calls, 10_000))  # bounded: this is a benchmark, not a soak

    with ComputeServer() as server:
        _seed(server)
        options = {"api_endpoint": f"http://{server.host}"}
        credentials = AnonymousCredentials()
        snapshots = compute_v1.SnapshotsClient(credentials=credentials, client_options=options)
        disks = compute_v1.DisksClient(credentials=credentials, client_options=options)

        def get_snapshot(i: int) -> object:
            return snapshots.get(
                project=PROJECT, snapshot=f"snap-{i % SNAPSHOTS:04d}", retry=None, timeout=TIMEOUT
            )

        def aggregated_disks(_: int) -> object:
            pager = disks.aggregated_list(
                request={"project": PROJECT, "filter": "labels.snapshot-daily:*"},
                retry=None,
                timeout=TIMEOUT,
            )
            return sum(len(scoped.disks) for _, scoped in pager)

        print(f"fake Compute Engine on {server.host}: {DISKS} disks, {SNAPSHOTS} snapshots")
        print("  (client and server share this process and its GIL: a lower bound)")
        for label, call, count in (
            ("snapshots.get", get_snapshot, calls),
            (f"disks.aggregatedList ({DISKS // 2} of {DISKS} match)", aggregated_disks, calls // 4),
        ):
            get_snapshot(0)  # warm the connection pool
            for threads in THREADS:
                rate = _rate(call, count, threads)
                print(f"  {label:<42} {threads} thread(s): {rate:8.0f} req/s  ({count} calls)")


if __name__ == "__main__":
    main()

"""Requests of `status --org` (Cloud Asset Inventory) against the per-project `status`
(Compute Engine) over the same fleet on the local fakes. Prints figures; asserts nothing.

The fleet: DISKS disks in PROJECTS projects under two levels of folders of one
organization; 95% carry a daily schedule label and have one READY snapshot from this
morning and OLD older ones, 5% carry none (unprotected).

    python benchmarks/org_status_requests.py [--disks 10000] [--projects 200] [--old 2]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from snapkeeper import coverage, inventory
from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper_local.asset import AssetServer
from snapkeeper_local.compute import Backend, ComputeServer
from snapkeeper_local.resourcemanager import ResourceManagerBackend

ZONE = "us-central1-a"
NOW = datetime(2027, 5, 1, 12, tzinfo=UTC)
TODAY_03 = datetime(2027, 5, 1, 3, tzinfo=UTC)
UNPROTECTED_EVERY = 20  # 5%


def seed_disks(
    backend: Backend,
    project: str,
    count: int,
    taken: Sequence[datetime],
    *,
    keep: str,
    unprotected: Callable[[int], bool] = lambda index: False,
) -> None:
    """A new `project` with `count` disks d0.., each labelled for a daily schedule of
    `keep` with one READY managed snapshot a time in `taken`; the indices `unprotected`
    picks carry no label and have no snapshot."""
    backend.seed_project(project)
    for index in range(count):
        labels = {} if unprotected(index) else {"snapshot-daily": keep}
        disk = backend.seed_disk(
            {"project": project, "name": f"d{index}", "zone": ZONE, "labels": labels}
        )
        if not labels:
            continue
        for at in taken:
            slot = at.strftime("%Y%m%d-%H%M")
            backend.seed_snapshot(
                {
                    "project": project,
                    "name": f"d{index}-daily-{slot}",
                    "sourceDisk": disk["selfLink"],
                    "creationTimestamp": (at + timedelta(minutes=2)).isoformat(),
                    "labels": {
                        "managed-by": "snapkeeper",
                        "snapkeeper-disk-id": disk["id"],
                        "snapkeeper-schedule": "daily",
                        "snapkeeper-slot": slot,
                    },
                }
            )


def seed(
    compute: ComputeServer, hierarchy: ResourceManagerBackend, args: argparse.Namespace
) -> None:
    org = hierarchy.seed_organization({"number": "1000"})["name"]
    per_project = args.disks // args.projects
    taken = [TODAY_03 - timedelta(days=age) for age in range(args.old + 1)]
    for number in range(args.projects):
        division = hierarchy.seed_folder({"parent": org, "displayName": f"div-{number % 5}"})
        team = hierarchy.seed_folder({"parent": division["name"], "displayName": f"team-{number}"})
        project = f"bench-proj-{number:04d}"
        hierarchy.seed_project({"projectId": project, "parent": team["name"]})
        first = number * per_project
        seed_disks(
            compute.backend,
            project,
            per_project,
            taken,
            keep="7",
            unprotected=lambda index, first=first: (first + index) % UNPROTECTED_EVERY == 0,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--disks", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--old", type=int, default=2, help="older READY snapshots per disk")
    args = parser.parse_args()
    hierarchy = ResourceManagerBackend()
    with ComputeServer() as compute, AssetServer(compute.backend, hierarchy) as assets:
        started = time.monotonic()
        seed(compute, hierarchy, args)
        seconds = time.monotonic() - started
        print(f"seeded {args.disks} disks in {args.projects} projects in {seconds:.0f}s")
        # One index for the run (as the real service's, minutes old): the figure is requests.
        assets.admin.set_staleness(3600)
        assets.admin.sync()
        config = Config.from_env(
            {
                "GOOGLE_CLOUD_PROJECT": "bench-host",
                "COMPUTE_EMULATOR_HOST": compute.host,
                "CLOUD_ASSET_EMULATOR_HOST": assets.host,
            }
        )
        timings = {"daily": coverage.Timing("0 3 * * *", "Etc/UTC")}
        since = inventory.oldest_due(timings, NOW, timedelta(hours=1))

        started = time.monotonic()
        found = inventory.Inventory(assets.host).survey("organizations/1000", config, since=since)
        org_seconds = time.monotonic() - started
        rows = coverage.coverage(
            found.survey, timings, now=NOW, grace=timedelta(hours=1), prefix="snapshot-"
        )
        stale = sum(1 for row in rows if row.problem)

        projects = [f"bench-proj-{n:04d}" for n in range(args.projects)]
        compute.admin.clear_requests()
        started = time.monotonic()
        coverage.survey(projects, config, ComputeGateway(compute.host))
        project_seconds = time.monotonic() - started
        per_project = sum(compute.admin.counts().values())

    disks = len(found.survey.disks) + len(found.unprotected)
    print(
        f"status --org: {found.requests} Asset Inventory requests for {disks} disks "
        f"({found.requests * 10_000 / disks:.0f} per 10,000 disks), {org_seconds:.1f}s; "
        f"{stale} stale, {len(found.unprotected)} unprotected"
    )
    print(f"per-project status: {per_project} Compute Engine requests, {project_seconds:.1f}s")
    print(f"ratio: {per_project / found.requests:.1f}x fewer requests through Asset Inventory")


if __name__ == "__main__":
    os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    main()

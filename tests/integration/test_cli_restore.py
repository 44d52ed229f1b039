"""`snapkeeper restore` against the fake Compute Engine: the right snapshot, a new disk,
never an existing one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snapkeeper import clients
from snapkeeper.cli.common import ExitCode
from snapkeeper_local.stack import LocalStack
from tests.integration import cli_support
from tests.integration.cli_support import ZONE, Cli, output_json, seed_managed, seed_projects

run_cli = cli_support.run_cli  # the fixture
DAY = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
PROJECT = "prod-db-2"


def disk_inserts(stack: LocalStack) -> int:
    return cli_support.admin(stack).counts().get("compute.disks.insert", 0)


def test_restore_creates_a_new_disk_from_the_snapshot_at_a_time(
    stack: LocalStack, run_cli: Cli
) -> None:
    world = seed_projects(stack)
    world.configure(disk_creating_seconds=0)
    disk = world.seed_disk(PROJECT, "pg-data", zone=ZONE, labels={"snapshot-daily": "7"})
    names = [seed_managed(world, PROJECT, disk, "daily", DAY + timedelta(days=d))
             for d in range(3)]  # fmt: skip
    seed_managed(world, PROJECT, disk, "hourly", DAY + timedelta(days=1, hours=5), status="FAILED")

    result = run_cli(
        "restore", "--project", PROJECT, "--disk", "pg-data", "--new-disk", "pg-restored",
        "--at", (DAY + timedelta(days=1, hours=6)).isoformat(), "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    restored = output_json(result)
    assert (restored["snapshot"], restored["zone"]) == (names[1], ZONE)
    compute = clients.compute(stack.env["COMPUTE_EMULATOR_HOST"])
    created = compute.disks.get(project=PROJECT, zone=ZONE, disk="pg-restored")
    assert created.source_snapshot.endswith(f"/projects/{PROJECT}/global/snapshots/{names[1]}")
    assert created.status == "READY"
    assert created.labels["snapkeeper-restored-from"] == names[1]

    # By name, into another zone.
    by_name = run_cli(
        "restore", "-p", PROJECT, "-d", "pg-data", "--snapshot", names[0],
        "--new-disk", "pg-oldest", "--zone", "us-central1-b",
    )  # fmt: skip
    assert by_name.exit_code == 0, by_name.output
    oldest = compute.disks.get(project=PROJECT, zone="us-central1-b", disk="pg-oldest")
    assert oldest.source_snapshot.endswith(f"/snapshots/{names[0]}")


def test_restore_never_overwrites_and_explains_mistakes(stack: LocalStack, run_cli: Cli) -> None:
    world = seed_projects(stack)
    disk = world.seed_disk(PROJECT, "pg-data", zone=ZONE, labels={"snapshot-daily": "7"})
    world.seed_disk(PROJECT, "taken", zone=ZONE)
    seed_managed(world, PROJECT, disk, "daily", DAY)
    base = ("restore", "-p", PROJECT, "-d", "pg-data")

    later = (DAY + timedelta(hours=1)).isoformat()
    for existing in ("taken", "pg-data"):
        refused = run_cli(*base, "--at", later, "--new-disk", existing)
        assert refused.exit_code == ExitCode.USAGE
        assert refused.stderr == (
            f"snapkeeper: error: disk {existing} already exists in {PROJECT}/{ZONE}: not touched\n"
        )
    too_early = run_cli(*base, "--at", (DAY - timedelta(days=1)).isoformat(), "--new-disk", "x1")
    assert too_early.exit_code == ExitCode.USAGE and "no READY managed snapshot" in too_early.stderr
    unknown = run_cli(*base, "--snapshot", "someone-elses", "--new-disk", "x2")
    assert unknown.exit_code == ExitCode.USAGE and "not a managed snapshot" in unknown.stderr
    both = run_cli(*base, "--snapshot", "a", "--at", DAY.isoformat(), "--new-disk", "x3")
    assert both.exit_code == ExitCode.USAGE
    other = run_cli("restore", "-p", PROJECT, "-d", "nope", "--at", DAY.isoformat(),
                    "--new-disk", "x4")  # fmt: skip
    assert other.exit_code == ExitCode.USAGE and "no managed snapshot of disk nope" in other.stderr
    assert disk_inserts(stack) == 0

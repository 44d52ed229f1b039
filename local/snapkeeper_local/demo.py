"""`make demo`: the whole pipeline on this machine, over simulated days.

It brings the local stack up, seeds a small fleet that shows every feature, lists it
through the real Compute client, runs daily and weekly ticks across twelve simulated
days, then two restore drills, prints what happened, and stops everything it started.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from snapkeeper.cli import cli
from snapkeeper.compute import ComputeGateway
from snapkeeper.messages import DrillTick, Tick
from snapkeeper_local.pubsub_emulator import PubSubEmulator
from snapkeeper_local.stack import DrillReport, LocalStack, TickReport, _environment, disk_key

WEB, DB, LEGACY = "acme-web-prod", "acme-db-prod", "acme-legacy-prod"
SANDBOX = "acme-sandbox-dev"  # in the organization, not a target: nobody labelled it
ORGANIZATION = "1234"
ZONE, REGION = "us-central1-a", "us-central1"
SCHEDULES = {
    "daily": ("0 3 * * *", "Etc/UTC"),
    # Same minute as the daily one: pg-data meets Compute's per-disk snapshot rate limit
    # and the weekly snapshot is retried until the limit has passed.
    "weekly": ("0 3 * * 0", "Etc/UTC"),
}
START = datetime(2027, 3, 1, tzinfo=UTC)  # a Monday
DAYS = 12
# Restore drills: scratch disks go to a project of their own; a restore takes this long
# on the fake's clock.
SCRATCH, SCRATCH_ZONE = "acme-drills", "us-central1-b"
RESTORE_SECONDS = 2
DRILL_SAMPLE = 2


@dataclass
class Tally:
    """What one schedule did to one disk over the run."""

    keep: int = 0
    created: int = 0
    pruned: int = 0


def seed(stack: LocalStack) -> None:
    admin = stack.compute.admin  # type: ignore[union-attr]
    for project in (WEB, DB):
        admin.seed_project(project)
    admin.seed_project(LEGACY, accessible=False)  # snapkeeper was never granted access
    admin.seed_disk(WEB, "web-data", zone=ZONE, labels={"snapshot-daily": "3", "app": "shop"})
    admin.seed_disk(WEB, "scratch", zone=ZONE, labels={"app": "shop"})  # not opted in
    admin.seed_disk(WEB, "typo", zone=ZONE, labels={"snapshot-daily": "seven"})
    # An instance opts all its disks in; its cache disk opts itself out.
    admin.seed_disk(WEB, "web-vm-cache", zone=ZONE, labels={"snapshot-exclude": "true"})
    admin.seed_instance(
        WEB, "web-vm", zone=ZONE, labels={"snapshot-daily": "2"},
        disks=["web-vm-boot", "web-vm-cache"],
    )  # fmt: skip
    # Grandfather-father-son on a regional disk: 3 dailies and 2 weeklies.
    admin.seed_disk(
        DB, "pg-data", region=REGION, replica_zones=[ZONE, "us-central1-b"],
        labels={"snapshot-daily": "3", "snapshot-weekly": "2", "snapshot-guest-flush": "true"},
    )  # fmt: skip
    admin.seed_disk(LEGACY, "old-app", zone=ZONE, labels={"snapshot-daily": "7"})


def fleet_table(stack: LocalStack) -> Table:
    """The seeded fleet, read back through google-cloud-compute like the functions do."""
    gateway = ComputeGateway(stack.compute.host)  # type: ignore[union-attr]
    table = Table(title="The fleet, as google-cloud-compute lists it", title_justify="left")
    for column in ("project", "location", "disk", "labels"):
        table.add_column(column)
    for project in (WEB, DB, LEGACY):
        try:
            disks = sorted(gateway.disks(project), key=lambda d: d.name)
        except Exception as exc:  # shown, not fatal: that is the point of this project
            table.add_row(project, "", "[red]no access[/red]", str(exc).split(": ", 2)[-1][:60])
            continue
        for disk in disks:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(disk.labels.items())) or "-"
            kind = "region " if disk.regional else ""
            table.add_row(project, kind + disk.location, disk.name, labels)
    return table


def tick_line(day: int, report: TickReport) -> str:
    created = len(report.by_action("created"))
    pruned = sum(len(e.get("deleted", [])) for e in report.outcomes.values())
    failed = len(report.summary["failed_projects"])
    line = (
        f"day {day + 1:>2}  {report.schedule:<6} slot {report.slot}: "
        f"{report.summary['published']} queued, {created} created, {pruned} pruned, "
        f"{len(report.summary['skipped'])} skipped"
    )
    if failed:
        line += f", [yellow]{failed} project failed[/yellow]"
    return line


def run(console: Console, emulator: PubSubEmulator | None = None) -> int:
    """The demo; with `emulator`, it uses that running emulator instead of its own."""
    console.rule("[bold]snapkeeper demo")
    console.print("Starting the local stack: Pub/Sub emulator, fake Compute Engine, fake")
    console.print("Cloud Scheduler, and both functions under functions-framework...")
    drills = {"SCRATCH_PROJECT": SCRATCH, "SCRATCH_ZONE": SCRATCH_ZONE}
    with LocalStack(
        [WEB, DB, LEGACY], host_project="snapkeeper-demo", emulator=emulator, extra_env=drills
    ) as stack:
        admin = stack.compute.admin  # type: ignore[union-attr]
        admin.configure(rate_limit_seconds=5)  # the real 10-minute limit, shortened
        seed(stack)
        console.print(fleet_table(stack))
        # Compute Engine hiccups once: the work message is retried and succeeds.
        admin.add_fault(api_method="compute.snapshots.insert", status=503, count=1)

        tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
        skipped: dict[tuple[str, str], str] = {}
        console.rule(f"[bold]{DAYS} simulated days of ticks")
        for day in range(DAYS):
            for schedule, (cron, zone) in SCHEDULES.items():
                tick_time = START + timedelta(days=day, hours=3)
                if schedule == "weekly" and tick_time.weekday() != 6:
                    continue
                admin.set_clock(tick_time)
                report = stack.run_tick(Tick(schedule, cron, zone, tick_time))
                console.print(tick_line(day, report))
                for key, entry in report.outcomes.items():
                    tally = tallies[(key, schedule)]
                    tally.keep = entry["keep"]
                    tally.created += entry.get("action") == "created"
                    tally.pruned += len(entry.get("deleted", []))
                for skip in report.summary["skipped"]:
                    skipped[(skip["project"], skip["disk"])] = skip["reason"]
        admin.advance_clock(3600)  # let the last snapshots finish
        console.print(summary_table(stack, tallies))
        console.print(skipped_table(skipped))
        console.print(dead_letter_table(stack.dead_letters()))
        log = stack.snapshotter.log_entries()  # type: ignore[union-attr]
        retries = [e["message"] for e in log if e["message"].startswith("will retry")]
        rate_limited = sum("RESOURCE_OPERATION_RATE_EXCEEDED" in m for m in retries)
        console.print(
            f"Transient errors redelivered by Pub/Sub: {len(retries)} ({rate_limited} for "
            "the per-disk snapshot rate limit when pg-data's daily and weekly snapshots met, "
            f"{len(retries) - rate_limited} for a 503 injected once). Each ended in a snapshot."
        )
        restore_drills(console, stack)
        org_coverage(stack, console)
    console.rule("[bold green]demo finished: everything it started is stopped")
    return 0


def summary_table(stack: LocalStack, tallies: dict[tuple[str, str], Tally]) -> Table:
    ready: dict[tuple[str, str], int] = defaultdict(int)
    for snapshot in stack.compute.admin.snapshots():  # type: ignore[union-attr]
        labels = snapshot.get("labels", {})
        if snapshot["status"] == "READY" and labels.get("managed-by") == "snapkeeper":
            ready[(labels["snapkeeper-disk-id"], labels["snapkeeper-schedule"])] += 1
    ids = {e["disk_id"]: key for key, e in _last_outcomes(stack).items()}
    table = Table(title="Snapshots per disk and schedule", title_justify="left")
    for column in ("project", "disk", "schedule", "held / wanted", "created", "pruned"):
        numeric = column in ("held / wanted", "created", "pruned")
        table.add_column(column, justify="right" if numeric else "left")
    for (key, schedule), tally in sorted(tallies.items()):
        disk_id = next(i for i, k in ids.items() if k == key)
        project, _, disk = key.split("/")
        table.add_row(
            project, disk, schedule, f"{ready[(disk_id, schedule)]} / {tally.keep}",
            str(tally.created), str(tally.pruned),
        )  # fmt: skip
    table.caption = (
        "held: READY snapshots now. Each tick prunes once its new snapshot is READY, "
        "counting it, so every disk holds exactly the N it wants."
    )
    return table


def _last_outcomes(stack: LocalStack) -> dict[str, dict[str, Any]]:
    entries = stack.snapshotter.log_entries()  # type: ignore[union-attr]
    return {disk_key(e): e for e in entries if e.get("action")}


def skipped_table(skipped: dict[tuple[str, str], str]) -> Table:
    table = Table(title="Disks skipped, with the reason", title_justify="left")
    table.add_column("project")
    table.add_column("disk")
    table.add_column("reason")
    for (project, disk), reason in sorted(skipped.items()):
        table.add_row(project, disk, reason)
    return table


def dead_letter_table(letters: list[dict[str, Any]]) -> Table:
    table = Table(title="Dead letters, by cause (`snapkeeper dlq list`)", title_justify="left")
    for column in ("count", "function", "project", "error class", "error"):
        table.add_column(column)
    causes: Counter[tuple[str, str, str, str]] = Counter()
    for letter in letters:
        attributes = letter["attributes"]
        causes[
            (
                attributes.get("function", "?"),
                attributes.get("project", "?"),
                attributes.get("error_class", "(forwarded by Pub/Sub)"),
                attributes.get("error", ""),
            )
        ] += 1
    for (function, project, error_class, error), count in causes.most_common():
        table.add_row(str(count), function, project, error_class, error)
    return table


def restore_drills(console: Console, stack: LocalStack) -> None:
    """Two drill ticks a day apart: the second takes the disks the first did not (round
    robin), and one of its restores fails on an injected quota error."""
    admin = stack.compute.admin  # type: ignore[union-attr]
    admin.seed_project(SCRATCH)
    admin.configure(disk_creating_seconds=RESTORE_SECONDS)
    console.rule(f"[bold]Restore drills: {DRILL_SAMPLE} disks each, scratch disks in {SCRATCH}")
    for day, fail in ((DAYS, False), (DAYS + 1, True)):
        when = START + timedelta(days=day, hours=4)
        admin.set_clock(when)
        if fail:  # the scratch project is out of disk quota for one restore
            admin.add_fault(
                api_method="compute.disks.insert", body_regex="web-vm-boot", status=403,
                reason="quotaExceeded", count=1,
                message="Quota 'SSD_TOTAL_GB' exceeded. Limit: 0.0 in region us-central1.",
            )  # fmt: skip
        report = stack.run_drill(DrillTick(time=when, sample=DRILL_SAMPLE))
        console.print(drill_table(report))
    gateway = ComputeGateway(stack.compute.host)  # type: ignore[union-attr]
    left = gateway.zone_disks(SCRATCH, SCRATCH_ZONE)
    drilled = sorted(
        {(s["sourceDisk"].rsplit("/", 1)[-1], s["labels"]["snapkeeper-drilled"])
         for s in admin.snapshots() if "snapkeeper-drilled" in s.get("labels", {})}
    )  # fmt: skip
    console.print(
        f"Scratch disks left in {SCRATCH}: {len(left)}. Snapshots labelled snapkeeper-drilled "
        f"(what `snapkeeper status` shows per disk): "
        + ", ".join(f"{disk} {date}" for disk, date in drilled)
    )


def drill_table(report: DrillReport) -> Table:
    candidates = report.summary["candidates"]
    table = Table(
        title=f"Drill {report.slot}: {report.summary['published']} of {candidates} disks "
        "(never drilled first, then the longest ago)",
        title_justify="left",
    )
    for column in ("project", "disk", "snapshot restored", "time to READY", "size", "result"):
        table.add_column(column)
    for key, entry in sorted(report.outcomes.items()):
        project, _, disk = key.split("/")
        if entry.get("dead_letter_id"):
            # "dead-lettered: create disk NAME: 403 reason: message": from the status on
            result = f"[red]dead-lettered:[/red] {entry['message'].split(': ', 2)[-1]}"
            table.add_row(project, disk, entry.get("snapshot", ""), "-", "-", result)
            continue
        seconds = entry.get("time_to_restore_seconds")
        status = entry["drill_status"]
        result = "[green]OK[/green], scratch disk deleted" if status == "OK" else status
        table.add_row(
            project, disk, entry.get("snapshot", ""),
            f"{seconds:.1f} s" if seconds is not None else "-",
            f"{entry.get('size_gb', 0)} GB", result,
        )  # fmt: skip
    return table


def org_coverage(stack: LocalStack, console: Console) -> None:
    """`snapkeeper status --org`: the whole organization from Asset Inventory, where
    the per-project view stops at the projects snapkeeper may read."""
    console.rule("[bold]Coverage of the whole organization (Cloud Asset Inventory)")
    hierarchy = stack.resource_manager.admin  # type: ignore[union-attr]
    organization = hierarchy.organization(ORGANIZATION, "acme.example")
    prod = hierarchy.folder(organization, "prod")
    sandbox = hierarchy.folder(organization, "sandbox")
    for project in (WEB, DB, LEGACY):
        hierarchy.project(project, prod, labels={"env": "prod"})
    hierarchy.project(SANDBOX, sandbox, labels={"env": "dev"})
    compute = stack.compute.admin  # type: ignore[union-attr]
    compute.seed_project(SANDBOX)
    compute.seed_disk(SANDBOX, "notebook", zone=ZONE, labels={"owner": "data-team"})
    console.print(
        "acme-legacy-prod was never granted to snapkeeper, and acme-sandbox-dev is no "
        "target: Asset Inventory still sees their disks. (web-vm-boot is opted in by its "
        "instance's label, which this view does not read: `snapkeeper status` counts it.)"
    )
    args = ["status", "--org", ORGANIZATION, "--schedule", "daily", "--cron", "0 3 * * *"]
    args += ["--now", compute.now().isoformat()]
    console.print(f"$ snapkeeper {' '.join(args)}")
    output = io.StringIO()
    width = {"COLUMNS": str(console.width)}  # the CLI's tables as wide as the demo's
    with _environment(stack.env | width), contextlib.redirect_stdout(output):
        cli.main(args, prog_name="snapkeeper", standalone_mode=False)
    console.print(output.getvalue(), markup=False, highlight=False, end="")

"""`restore`: a new disk from a disk's managed snapshot."""

from __future__ import annotations

from datetime import datetime

import click

from snapkeeper import restore as restoring
from snapkeeper.cli.common import TIME, App, json_option, pass_app, print_json, timeout_option, when


@click.command()
@click.option("--project", "-p", required=True, help="Project of the disk.")
@click.option("--disk", "-d", required=True, help="Name of the disk whose snapshot to use.")
@click.option("--at", type=TIME, help="Use the newest READY snapshot taken at or before this.")
@click.option("--snapshot", help="Use this managed snapshot of the disk.")
@click.option("--new-disk", required=True, help="Name of the disk to create (never replaced).")
@click.option("--zone", help="Zone of the new disk (default: the source disk's zone).")
@timeout_option(300.0, "the new disk")
@json_option
@pass_app
def restore(
    app: App,
    project: str,
    disk: str,
    at: datetime | None,
    snapshot: str | None,
    new_disk: str,
    zone: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Create a new disk from DISK's managed snapshot: the newest READY one at or
    before --at, or the one named by --snapshot. An existing disk is never touched.

    \b
    Examples:
      snapkeeper restore -p prod-db-2 -d pg-data --at 2026-03-01T12:00:00Z \\
          --new-disk pg-restored
      snapkeeper restore -p prod-db-2 -d pg-data --snapshot NAME \\
          --new-disk pg-old --zone us-central1-b
    """
    if (at is None) == (snapshot is None):
        raise click.UsageError("give exactly one of --at and --snapshot")
    request = restoring.Request(project, disk, new_disk, at, snapshot, zone)
    done = restoring.restore(app.config, app.gateway, request, timeout)
    if as_json:
        print_json(done)
    else:
        app.out.print(
            f"created disk {done.disk} in {done.project}/{done.zone} from {done.snapshot} "
            f"(taken {when(done.taken)})"
        )

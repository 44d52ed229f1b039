"""`snapkeeper`: the operator's command line, on the same library as the functions.

Against Google Cloud with Application Default Credentials, or against the local stack
when the `*_EMULATOR_HOST` variables are set. Exit codes: 0 ok, 1 unexpected error,
2 usage or configuration error, 3 stale disks found (status), 4 API error.
"""

from __future__ import annotations

from importlib.metadata import version

import click

from snapkeeper.cli.common import ENV_PREFIX, App, Root
from snapkeeper.cli.dlq import dlq
from snapkeeper.cli.drill import drill
from snapkeeper.cli.plan import plan, tick
from snapkeeper.cli.restore import restore
from snapkeeper.cli.schedule import schedule
from snapkeeper.cli.status import status


@click.group(
    cls=Root,
    context_settings={"auto_envvar_prefix": ENV_PREFIX, "help_option_names": ["-h", "--help"]},
)
@click.option(
    "--host-project",
    envvar="GOOGLE_CLOUD_PROJECT",
    help="Host project that owns the topics and jobs [env: GOOGLE_CLOUD_PROJECT].",
)
@click.option(
    "--scheduler-location",
    envvar="SCHEDULER_LOCATION",
    help="Cloud Scheduler location of the jobs [env: SCHEDULER_LOCATION].",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(version("snapkeeper"), prog_name="snapkeeper")
@click.pass_context
def cli(
    ctx: click.Context, host_project: str | None, scheduler_location: str | None, debug: bool
) -> None:
    """Scheduled, label-driven snapshots of Compute Engine disks: the operator's tool.

    Settings come from the same environment variables as the functions
    (GOOGLE_CLOUD_PROJECT, TARGET_PROJECTS, SNAPSHOT_PROJECT, ...; the *_EMULATOR_HOST
    variables point it at the local stack). Every option can also be set as
    SNAPKEEPER_<COMMAND>_<OPTION>, e.g. SNAPKEEPER_STATUS_GRACE=2h.

    Exit codes: 0 ok, 1 unexpected error, 2 usage or configuration error, 3 stale disks
    found (status), 4 API error.

    \b
    Examples:
      snapkeeper status
      snapkeeper plan --schedule daily
      snapkeeper schedule set daily --cron "0 3 * * *" --time-zone Asia/Tokyo
      snapkeeper dlq list
      snapkeeper drill --sample 2
    """
    overrides = {}
    if host_project:
        overrides["GOOGLE_CLOUD_PROJECT"] = host_project
    if scheduler_location:
        overrides["SCHEDULER_LOCATION"] = scheduler_location
    ctx.obj = App(overrides)


for command in (plan, status, tick, schedule, dlq, restore, drill):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="snapkeeper")

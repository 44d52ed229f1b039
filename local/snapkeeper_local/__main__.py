"""snapkeeper-local: the local stack for demos, tests and trying things by hand.

snapkeeper-local demo     run the pipeline over simulated days and print what happened
snapkeeper-local up       run the whole stack in the foreground until Ctrl-C
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click
from rich.console import Console

from snapkeeper_local import demo as demo_module
from snapkeeper_local.pubsub_emulator import EmulatorUnavailable
from snapkeeper_local.stack import LocalStack


@click.group(help=__doc__)
def main() -> None:
    pass


@main.command()
def demo() -> None:
    """Run the pipeline over twelve simulated days on the local stack, then stop it all."""
    try:
        console = Console()
        if not console.is_terminal:  # logs and CI: wide enough for the tables
            console = Console(width=120)
        sys.exit(demo_module.run(console))
    except EmulatorUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option(
    "--target-project", "targets", multiple=True,
    help="Allowed project (repeat for several; default my-project-1, or the demo's).",
)  # fmt: skip
@click.option("--seed-demo-fleet", is_flag=True, help="Seed the demo's sample fleet.")
def up(targets: tuple[str, ...], seed_demo_fleet: bool) -> None:
    """Run the emulator, both fakes and both functions until Ctrl-C.

    Prints the environment a shell needs to point `snapkeeper` and gcloud at it."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if seed_demo_fleet:
        targets = (*targets, demo_module.WEB, demo_module.DB, demo_module.LEGACY)
    targets = targets or ("my-project-1",)
    try:
        schedules = demo_module.SCHEDULES if seed_demo_fleet else {}
        with LocalStack(targets, run_cron=True, schedules=schedules) as stack:
            if seed_demo_fleet:
                demo_module.seed(stack)
            for key, value in stack.env.items():
                click.echo(f"export {key}={value}")
            click.echo(
                f"export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://{stack.emulator.host}/"
            )
            click.echo("# Ready. Ctrl-C stops everything.", err=True)
            stop.wait()
    except EmulatorUnavailable as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()

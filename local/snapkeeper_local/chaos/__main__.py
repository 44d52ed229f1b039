"""make chaos: a simulated month of ticks through the local pipeline under faults.

    python -m snapkeeper_local.chaos [--seed N] [--disks 1000] [--projects 10] [--days 30]
                                     [--max-ticks N] [--vault] [--workers 2] [--concurrency 16]
                                     [--orphan-policy keep|keep-newest] [--no-drills]

Prints a line per simulated day as it ends (its faults by kind), then a table of the days
and a summary. Exit code 1 on any violation, with the seed and the first violation, and
the fake Compute Engine's request log before it.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import time
from collections import Counter

from rich.console import Console
from rich.table import Table

from snapkeeper_local.chaos.soak import Outcome, Rates, Settings, Soak


def parse(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    defaults = Settings()
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="draws every fault; the same seed replays the same run")  # fmt: skip
    parser.add_argument("--disks", type=int, default=defaults.disks, help="disks in the fleet")
    parser.add_argument("--projects", type=int, default=defaults.projects,
                        help="projects the disks are spread over")  # fmt: skip
    parser.add_argument("--days", type=float, default=defaults.days, help="simulated days")
    parser.add_argument("--max-ticks", type=int, default=None, help="stop after N ticks")
    parser.add_argument("--hourly", type=float, default=defaults.hourly,
                        help="fraction of disks with an hourly schedule")  # fmt: skip
    parser.add_argument("--vault", action="store_true", help="every snapshot in a vault project")
    parser.add_argument(
        "--orphan-policy", default=defaults.orphan_policy, choices=("keep", "keep-newest"),
        help="ORPHAN_POLICY: what becomes of a deleted disk's snapshots",
    )  # fmt: skip
    parser.add_argument("--no-drills", action="store_true", help="no restore drill each day")
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="processes running the snapshot handler")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency,
                        help="messages each worker handles at once")  # fmt: skip
    for rate in dataclasses.fields(Rates):
        parser.add_argument(
            f"--{rate.name.replace('_', '-')}-rate", type=float, default=rate.default,
            help=f"share of {rate.metadata['help']} (0: none)",
        )  # fmt: skip
    args = parser.parse_args(argv)
    rates = Rates(**{r.name: getattr(args, f"{r.name}_rate") for r in dataclasses.fields(Rates)})
    return Settings(
        seed=args.seed, disks=args.disks, projects=args.projects, days=args.days,
        max_ticks=args.max_ticks, hourly=args.hourly, vault=args.vault,
        workers=args.workers, concurrency=args.concurrency, rates=rates,
        orphan_policy=args.orphan_policy, drills=not args.no_drills,
    )  # fmt: skip


def report(console: Console, settings: Settings, outcome: Outcome) -> int:
    # Faults by kind would wrap a word per line in a log's 80 columns: the table counts them,
    # and each day's line and the summary name them.
    table = Table(
        title="Per simulated day", title_justify="left", show_edge=False,
        caption="faults by kind: in each day's line above and the summary below",
        caption_justify="left",
    )  # fmt: skip
    for column in ("day", "ticks", "created", "pruned", "faults", "redeliveries", "dead\nletters",
                   "violations"):  # fmt: skip
        table.add_column(column, justify="right")
    total = Counter[str]()
    for day, stats in sorted(outcome.days.items()):
        total.update(stats.faults)
        table.add_row(
            str(day + 1), str(stats.ticks), str(stats.created), str(stats.pruned),
            str(stats.faults.total()),
            str(stats.redeliveries), str(stats.dead_letters), str(stats.violations),
        )  # fmt: skip
    console.print(table)
    days = outcome.days.values()
    console.print(
        f"seed {settings.seed}: {outcome.disk_ticks} disk-ticks over {sum(d.ticks for d in days)}"
        f" ticks, {sum(d.created for d in days)} snapshots created, "
        f"{sum(d.pruned for d in days)} pruned, {sum(d.redeliveries for d in days)} "
        f"redeliveries, {sum(d.dead_letters for d in days)} dead letters, "
        f"{len(outcome.violations)} violations"
    )
    console.print("faults injected by the soak: " + ", ".join(
        f"{kind} {n}" for kind, n in sorted(total.items())) + " (plus the fake's: 5xx/429 "
        "on any call, timeouts, failed inserts, at the rates given)")  # fmt: skip
    if not outcome.violations:
        console.print("[bold green]0 violations[/]")
        return 0
    first = outcome.violations[0]
    console.print(
        f"[bold red]first violation[/] (replay: make chaos SEED={settings.seed}): {first}"
    )
    console.print(
        "the fake Compute Engine's requests for those disks:", outcome.context, highlight=False
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so the stack stops everything it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    console = Console()
    settings = parse(argv)
    console.rule(f"[bold]snapkeeper chaos soak, seed {settings.seed}")
    started = time.monotonic()

    def say(text: str) -> None:
        console.print(text, highlight=False)
        console.file.flush()  # a log file follows the run as it goes

    outcome = Soak(settings, say).run()
    say(f"wall time {time.monotonic() - started:.0f} s")
    return report(console, settings, outcome)


if __name__ == "__main__":
    sys.exit(main())

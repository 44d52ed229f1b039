"""python -m snapkeeper_local.compute --host 127.0.0.1 --port 8086 [--state FILE]

Prints the host:port it serves on, then serves until SIGTERM or Ctrl-C; with --state it
loads the file at start (when it exists) and saves it on the way out."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .server import ComputeServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapkeeper_local.compute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8086, help="0 picks a free port")
    parser.add_argument("--state", help="JSON file to load at start and save at exit")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = ComputeServer(args.host, args.port, state_path=args.state)
    print(server.host, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

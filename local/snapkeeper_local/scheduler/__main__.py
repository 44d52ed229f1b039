"""Run the fake Cloud Scheduler in the foreground.

    python -m snapkeeper_local.scheduler --port 8087 --pubsub-emulator-host 127.0.0.1:8085

Then point clients at it with CLOUD_SCHEDULER_EMULATOR_HOST=127.0.0.1:8087, or gcloud
with CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDSCHEDULER=http://127.0.0.1:8087/.
SIGINT or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from .server import SchedulerServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m snapkeeper_local.scheduler",
        description="A local fake of the Cloud Scheduler v1 REST API (Pub/Sub targets).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8087, help="port (0: pick a free one)")
    parser.add_argument(
        "--pubsub-emulator-host",
        default=os.environ.get("PUBSUB_EMULATOR_HOST"),
        help="host:port of the Pub/Sub emulator jobs publish to (default: $PUBSUB_EMULATOR_HOST)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    if not args.pubsub_emulator_host:
        logging.warning("no Pub/Sub emulator given: every job attempt will fail")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = SchedulerServer(args.pubsub_emulator_host, host=args.host, port=args.port)
    server.start()
    try:
        # One parseable line for scripts that start it with --port 0.
        print(f"CLOUD_SCHEDULER_EMULATOR_HOST={server.host}", flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

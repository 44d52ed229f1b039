"""A small client for the fake's admin API (`/_fake/*`), in moto's spirit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from .backend import Attempt, format_timestamp

DEFAULT_TIMEOUT_SECONDS = 10.0


class SchedulerAdmin:
    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}{path}", json=body, timeout=self.timeout
        )
        response.raise_for_status()
        return response.json()

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "/_fake/health").get("ok"))
        except requests.RequestException:
            return False

    def reset(self) -> None:
        """Delete every job and forget every attempt and logged request."""
        self._call("POST", "/_fake/reset")

    def attempts(self) -> list[Attempt]:
        """Every fire since the last reset, oldest first."""
        return [
            Attempt.from_json(item) for item in self._call("GET", "/_fake/attempts")["attempts"]
        ]

    def requests(self) -> list[dict[str, str]]:
        """The latest API requests (method, path, query), oldest first."""
        return list(self._call("GET", "/_fake/requests")["requests"])

    def fire_due(self, now: datetime | None = None) -> list[Attempt]:
        """Fire the jobs due at `now` (default: the server's clock), as the cron loop would."""
        body = {"now": format_timestamp(now)} if now else {}
        return [
            Attempt.from_json(item) for item in self._call("POST", "/_fake/fire", body)["attempts"]
        ]

    def close(self) -> None:
        self._session.close()

"""A small client for the fake's admin API: attempts, and firing the due jobs."""

from __future__ import annotations

from datetime import datetime

from ..jsonapi import AdminClient
from .backend import Attempt, format_timestamp


class SchedulerAdmin(AdminClient):
    def attempts(self) -> list[Attempt]:
        """Every fire since the last reset, oldest first."""
        return [Attempt.from_json(item) for item in self.call("GET", "attempts")["attempts"]]

    def fire_due(self, now: datetime | None = None) -> list[Attempt]:
        """Fire the jobs due at `now` (default: the server's clock), as the cron loop would."""
        body = {"now": format_timestamp(now)} if now else {}
        return [Attempt.from_json(item) for item in self.call("POST", "fire", body)["attempts"]]

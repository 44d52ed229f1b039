"""A small client for the fake's admin API: staleness and a forced re-index."""

from __future__ import annotations

from ..jsonapi import AdminClient


class AssetAdmin(AdminClient):
    def set_staleness(self, seconds: float) -> None:
        """Serve an index until it is this many seconds old (fake Compute clock)."""
        self.call("POST", "staleness", {"seconds": seconds})

    def sync(self) -> None:
        """Index the fleet again now, whatever the staleness."""
        self.call("POST", "sync")

"""The log of API calls the admin API serves: what a client really asked, and how often."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

LOG_LIMIT = 20_000


@dataclass(frozen=True)
class LogEntry:
    time: str
    method: str
    path: str
    query: dict[str, str]
    api_method: str | None
    status: int


class RequestLog:
    """The latest calls and a count per API method (not thread-safe: the backend locks)."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.entries: deque[LogEntry] = deque(maxlen=limit)
        self.counts: Counter[str] = Counter()

    def add(
        self,
        time: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        api_method: str | None,
        status: int,
    ) -> None:
        self.entries.append(LogEntry(time, method, path, dict(query), api_method, status))
        if api_method:
            self.counts[api_method] += 1

    def to_json(self) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.entries]

    def clear(self) -> None:
        self.entries.clear()
        self.counts.clear()

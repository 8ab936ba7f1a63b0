"""A record of every request the simulator answered, for tests that check client behaviour."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestLogEntry:
    monotonic: float
    wall_time: float
    method: str
    path: str
    query: str
    host: str  # 'platform' or 'media'
    group: str | None  # throttling group the request was counted in
    status: int  # 0 when the connection was dropped without an answer
    authorization: bool  # whether an Authorization header was sent
    fault: str | None = None  # injected fault applied to this request, if any


class RequestLog:
    """Thread-safe, append-only list of RequestLogEntry (iterating gives a snapshot)."""

    def __init__(self) -> None:
        self._entries: list[RequestLogEntry] = []
        self._lock = threading.Lock()

    def append(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[RequestLogEntry]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[RequestLogEntry]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __getitem__(self, index: int) -> RequestLogEntry:
        with self._lock:
            return self._entries[index]

"""The simulator's clock: real time plus an offset that tests (and the control route) move forward.

Everything the simulated account knows as "now" (which calls happened, which messages exist, what
the deletion rules removed, sync tokens' times, export timestamps) reads this clock, so a test can
live through months of an account in seconds. Access tokens and rate-limit windows stay on real
monotonic time: they protect the server, not the data, and a client's sleeps are real.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    """Simulated time = real UTC time + an offset that only grows. Thread-safe."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        if offset < timedelta(0):
            raise ValueError("the simulated clock cannot start in the past of real time")
        self._offset = offset
        self._lock = threading.Lock()

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        """The simulated current instant (UTC aware)."""
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    def now_ms(self) -> int:
        """The simulated current instant in epoch milliseconds."""
        return int(self.now().timestamp() * 1000)

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        """Move simulated time forward and return the new now. Time never goes back (ValueError)."""
        step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if step < timedelta(0):
            raise ValueError(f"the simulated clock only moves forward (asked to move {step})")
        with self._lock:
            self._offset += step
            offset = self._offset
        return datetime.now(UTC) + offset

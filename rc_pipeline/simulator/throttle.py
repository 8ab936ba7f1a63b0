"""RingCentral's rate limiter: a sliding window per (user, app, group) with a restartable penalty.

Under `rate_limit_scale` a window like 60 s * 0.02 = 1.2 s cannot be announced exactly, because
X-Rate-Limit-Window is whole seconds. The limiter therefore rounds every window (and penalty) up
to whole seconds and enforces exactly what it announces: a client that trusts the headers is
never penalised, and one that assumes a shorter window is.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from rc_pipeline.simulator.config import SimulatorConfig


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    group: str
    limit: int
    remaining: int
    window: int
    retry_after: int = 0

    def headers(self) -> dict[str, str]:
        """The X-Rate-Limit-* headers every answer carries."""
        return {
            "X-Rate-Limit-Group": self.group,
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Window": str(self.window),
        }


class RateLimiter:
    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        # Injectable so tests can pin the window edge exactly instead of racing loopback latency.
        self._clock = clock
        self._hits: dict[tuple[str, str, str], deque[float]] = {}
        self._penalty_until: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def whole_seconds(seconds: float) -> int:
        """A duration as announced and enforced: rounded up to whole seconds, at least 1."""
        return max(1, math.ceil(seconds - 1e-9))

    def limits(self, group: str) -> tuple[int, int, int]:
        """(limit, window seconds, penalty seconds) for a group."""
        limit, window = self.config.rate_limit(group)
        return limit, self.whole_seconds(window), self.whole_seconds(self.config.penalty())

    def check(self, user: str, app: str, group: str) -> Verdict:
        """Count one request; decide whether it may proceed."""
        limit, window, penalty = self.limits(group)
        if not self.config.throttling:
            return Verdict(True, group, limit, limit, window)
        key = (user, app, group)
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            # A hit is stamped on arrival and leaves the window exactly `window` seconds later, as at
            # RingCentral: no allowance for latency jitter, so a client that spaces its sends by exactly
            # the window (with no margin of its own) gets penalised here as it would there.
            while hits and hits[0] <= now - window:
                hits.popleft()
            until = self._penalty_until.get(key, 0.0)
            if now < until or len(hits) >= limit:
                # Any request during the penalty restarts it: clients must wait it out in full.
                self._penalty_until[key] = now + penalty
                return Verdict(False, group, limit, 0, window, penalty)
            hits.append(now)
            return Verdict(True, group, limit, limit - len(hits), window)

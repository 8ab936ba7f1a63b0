"""Client-side rate limiting per RingCentral throttling group.

RingCentral limits each (user, app, group) with a sliding window and punishes an overrun with a
penalty that restarts whenever a request arrives during it. The cheapest strategy is never to overrun:
each group keeps the send times of its recent requests and blocks a sender until the window has room.
Limits start from RingCentral's documented defaults and follow the `X-Rate-Limit-*` headers the
server sends, because plans differ; with a shared budget, what any process learnt from them is stored
with the window and applies from a new process's first request. All state is guarded by one condition
per group, so any number of threads share one budget.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .shared_budget import SharedWindow, Turn, window_margin

if TYPE_CHECKING:
    from .pg_budget import PostgresWindow

# RingCentral's documented defaults (requests per window seconds); the server's headers override them.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "Light": (50, 60.0),
    "Medium": (40, 60.0),
    "Heavy": (10, 60.0),
    "Auth": (5, 60.0),
}
DEFAULT_PENALTY_SECONDS = 60.0
# A process re-stores an unchanged announcement this often, so a budget in use never lets it age out
# (shared_budget.ANNOUNCEMENT_MAX_AGE); a changed one is stored at once.
ANNOUNCEMENT_REFRESH_SECONDS = 60.0


def canonical_group(name: str) -> str:
    """Group names compare case-insensitively ("heavy" == "Heavy")."""
    for known in DEFAULT_LIMITS:
        if known.lower() == name.strip().lower():
            return known
    return name.strip().capitalize()


@dataclass(frozen=True)
class RateLimit:
    """A group's budget as the throttle applies it now."""

    limit: int
    window: float
    # False while the limit is a configured default: plans differ, so only an announced one is the
    # account's own.
    announced: bool = False


@dataclass
class GroupStats:
    requests: int = 0
    throttled_429: int = 0
    waited_seconds: float = 0.0
    penalty_seconds: float = 0.0


class WaitClock:
    """Wall-clock seconds during which at least one request waited for its budget.

    Download threads wait side by side: the sum of their waits (`GroupStats.waited_seconds`) counts
    one second of waiting once per thread, so it can exceed the time that passed. This counts the
    union of the waits of every thread and group instead, so it never exceeds the elapsed time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0  # requests waiting now
        self._since = 0.0  # when the current stretch with someone waiting began
        self._total = 0.0  # seconds of finished stretches

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count the time of the enclosed wait (overlaps with other waits are counted once)."""
        with self._lock:
            if self._waiting == 0:
                self._since = time.monotonic()
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1
                if self._waiting == 0:
                    self._total += time.monotonic() - self._since

    def seconds(self) -> float:
        """Seconds so far, the stretch still going on included."""
        with self._lock:
            ongoing = time.monotonic() - self._since if self._waiting else 0.0
            return self._total + ongoing


class GroupLimiter:
    """Sliding-window budget for one throttling group."""

    def __init__(
        self,
        name: str,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedWindow | PostgresWindow | None = None,
    ) -> None:
        self.name = name
        self.limit = limit
        self.window = window
        self._clock = clock
        # When set, the window is the one every process of this user+app shares (see shared_budget,
        # and pg_budget for processes on several machines).
        self._shared = shared
        self._sent: deque[float] = deque()
        self._penalty_until = 0.0
        self._cond = threading.Condition()
        self.stats = GroupStats()
        self.announced = False
        # Where waits are counted in wall-clock time; a Throttler gives all its groups its own.
        self.wait_clock = WaitClock()
        # The announcement the shared budget holds as far as this limiter knows, and when (monotonic)
        # it was stored: what it observes is stored when it differs, or when that one is getting old.
        self._stored: tuple[int, float] | None = None
        self._stored_at = 0.0

    def _margin(self) -> float:
        return window_margin(self.window)

    def _expire(self, now: float) -> None:
        horizon = now - self.window - self._margin()
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def _wait_needed(self, now: float) -> float:
        if now < self._penalty_until:
            return self._penalty_until - now
        self._expire(now)
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.window + self._margin() - now

    def acquire(self) -> float:
        """Block until a request may be sent, then count it. Returns the seconds waited."""
        if self._shared is not None:
            return self._acquire_shared(self._shared)
        waited = 0.0
        with self._cond:
            while True:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.stats.requests += 1
                    self.stats.waited_seconds += waited
                    return waited
                with self.wait_clock.counting():
                    self._cond.wait(timeout=wait)
                waited += self._clock() - now

    def _acquire_shared(self, shared: SharedWindow | PostgresWindow) -> float:
        waited = 0.0
        while True:
            with self._cond:
                limit, window = self.limit, self.window
            turn = shared.turn(limit, window, window_margin)
            with self._cond:
                self._adopt(turn)
                if turn.wait <= 0:
                    self.stats.requests += 1
                    self.stats.waited_seconds += waited
                    return waited
                # Other processes may free (or take) slots meanwhile, and an answer may announce other
                # limits (observe wakes us): look again after the wait.
                started = time.monotonic()
                with self.wait_clock.counting():
                    self._cond.wait(timeout=turn.wait)
                waited += time.monotonic() - started

    def _adopt(self, turn: Turn) -> None:
        """Apply the announcement the shared budget decided with (any process may have stored it)."""
        if turn.announced is None:
            return  # none in force: keep this limiter's own (configured or observed) limits
        self.limit, self.window, self.announced = turn.limit, turn.window, True
        if self._stored != (turn.limit, turn.window):
            self._stored = (turn.limit, turn.window)
            self._stored_at = time.monotonic() - turn.age

    def observe(self, limit: int | None, window: float | None, remaining: int | None) -> None:
        """Adopt what the server announced for this group.

        `remaining` lower than our own count means someone else (another process, another run) shares
        this budget: reserve the difference as if we had just spent it.
        """
        store: tuple[int, float] | None = None
        with self._cond:
            before = (self.limit, self.window)
            if limit and limit > 0:
                self.limit = limit
                self.announced = True
            if window and window > 0:
                self.window = float(window)
                self.announced = True
            if self._shared is None:
                if remaining is not None and limit:
                    now = self._clock()
                    self._expire(now)
                    server_used = limit - remaining
                    for _ in range(max(0, server_used - len(self._sent))):
                        self._sent.append(now)
                self._cond.notify_all()
            elif self.announced:
                current = (self.limit, self.window)
                if current != before:
                    self._cond.notify_all()  # waits computed with the old numbers are wrong now
                stale = time.monotonic() - self._stored_at > ANNOUNCEMENT_REFRESH_SECONDS
                if current != self._stored or stale:
                    # Claimed before storing, so the threads observing the same answer store it once.
                    store, self._stored, self._stored_at = current, current, time.monotonic()
        if store is not None and self._shared is not None:
            # This process's own fresh header: the newest announcement, so it wins for every process.
            self._shared.announce(*store)

    def current_limit(self) -> RateLimit:
        with self._cond:
            return RateLimit(self.limit, self.window, self.announced)

    def penalize(self, seconds: float) -> None:
        """Stop every sender in this group for `seconds` (a 429's Retry-After)."""
        with self._cond:
            until = self._clock() + seconds
            if until > self._penalty_until:
                self._penalty_until = until
            self.stats.throttled_429 += 1
            self.stats.penalty_seconds += seconds
            self._cond.notify_all()
        if self._shared is not None:
            self._shared.penalize(seconds)

    def can_send_now(self) -> bool:
        """True when a request would go out without waiting (no penalty, room in the window)."""
        if self._shared is not None:
            turn = self._shared.turn(self.limit, self.window, window_margin, commit=False)
            with self._cond:
                self._adopt(turn)
            return turn.wait <= 0
        with self._cond:
            return self._wait_needed(self._clock()) <= 0

    def in_penalty(self) -> bool:
        with self._cond:
            return self._clock() < self._penalty_until


@dataclass
class Throttler:
    """The limiters of one client, one per group, created on first use."""

    limits: Mapping[str, tuple[int, float]] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    clock: Callable[[], float] = time.monotonic
    # With both set, each group's window is shared through a file with every process of this user+app.
    shared_dir: Path | None = None
    shared_key: str | None = None
    # With shared_key, a PostgreSQL URL: the windows live in that database, shared with every process
    # of this user+app on any machine (it takes precedence over shared_dir).
    # Not in repr: the instance's URL may carry its password.
    shared_url: str | None = field(default=None, repr=False)
    _groups: dict[str, GroupLimiter] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    # Wall-clock time any of this throttler's requests spent waiting (see WaitClock).
    wait_clock: WaitClock = field(default_factory=WaitClock, init=False)

    def group(self, name: str) -> GroupLimiter:
        name = canonical_group(name)
        with self._lock:
            limiter = self._groups.get(name)
            if limiter is None:
                limit, window = self.limits.get(name, DEFAULT_LIMITS["Heavy"])
                shared: SharedWindow | PostgresWindow | None = None
                if self.shared_url and self.shared_key:
                    from .pg_budget import shared_budget

                    shared = shared_budget(self.shared_url).window(self.shared_key, name)
                elif self.shared_dir is not None and self.shared_key:
                    shared = SharedWindow(self.shared_dir / f"{self.shared_key}-{name.lower()}.json")
                limiter = GroupLimiter(name, limit, window, clock=self.clock, shared=shared)
                limiter.wait_clock = self.wait_clock
                self._groups[name] = limiter
            return limiter

    def observe_headers(self, default_group: str, headers: Mapping[str, str]) -> None:
        """Feed `X-Rate-Limit-*` headers to the group they name (or the request's own group)."""

        def num(key: str) -> float | None:
            raw = headers.get(key)
            try:
                return float(raw) if raw is not None else None
            except ValueError:
                return None

        limit, window, remaining = (
            num("X-Rate-Limit-Limit"),
            num("X-Rate-Limit-Window"),
            num("X-Rate-Limit-Remaining"),
        )
        if limit is None and window is None and remaining is None:
            return
        group = headers.get("X-Rate-Limit-Group") or default_group
        self.group(group).observe(
            int(limit) if limit is not None else None,
            window,
            int(remaining) if remaining is not None else None,
        )

    def current_limits(self) -> dict[str, RateLimit]:
        """Every group's limit: what the server announced, else what this throttler was configured with."""
        limits = {
            canonical_group(name): RateLimit(limit, float(window))
            for name, (limit, window) in self.limits.items()
        }
        with self._lock:
            groups = list(self._groups.items())
        limits.update((name, limiter.current_limit()) for name, limiter in groups)
        return dict(sorted(limits.items()))

    def penalize_all(self, seconds: float) -> None:
        """Pause every group: a 429 without X-Rate-Limit-* headers comes from an account-wide or per-IP
        limiter, which any further request (whatever its group) would keep penalising."""
        for name in DEFAULT_LIMITS:
            self.group(name).penalize(seconds)

    def snapshot(self) -> dict[str, GroupStats]:
        with self._lock:
            return {name: GroupStats(**vars(g.stats)) for name, g in sorted(self._groups.items())}


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    """Seconds from a Retry-After header (delta-seconds form); `default` when absent or unparsable."""
    raw = headers.get("Retry-After")
    if raw is None:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default


def floor_seconds(requests: int, limit: int, window: float) -> float:
    """The least time `requests` take under `limit` per `window` (for planning and benchmarks)."""
    if requests <= limit:
        return 0.0
    return math.ceil(requests / limit - 1) * window

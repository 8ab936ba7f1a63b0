"""Injected faults: the ways a real network and a real RingCentral misbehave, on demand.

Everything is off by default. Tests flip the random rates or schedule one-shot faults while the
simulator runs, so a client's retry and integrity logic can be exercised deterministically.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

# Kinds a test can schedule. Status kinds answer with that HTTP status; "429" is a burst from another
# limiter (no X-Rate-Limit-* headers); "truncate" cuts a binary body short; "drop" closes the
# connection without any answer; "slow" delays the answer; "html" answers a JSON request with a
# `200 text/html` maintenance page (what a proxy or a load balancer in maintenance sends), so it only
# applies to requests whose answer is JSON. "429_limited" is the group limiter's own 429: CMN-301 with
# Retry-After and the group's X-Rate-Limit-* headers (Remaining 0). "expired" ends the caller's access
# token now and answers what RingCentral answers an expired token (401 TokenInvalid, OAU-128): the
# token stays dead, the client must refresh; it only applies to requests that carry a token.
FAULT_KINDS = (
    "500", "502", "503", "504", "429", "429_limited", "truncate", "drop", "slow", "html", "expired"
)  # fmt: skip
# What `FaultConfig.injected()` counts besides FAULT_KINDS: export tasks given AttemptFailed phases
# (one count per failed attempt) and export tasks that end Failed.
EXPORT_FAULT_KINDS = ("export_attempt_failed", "export_failed")
# How a message-store export task can go wrong. "Failed" is final. "AttemptFailed" is not: as at
# RingCentral, one attempt of the task failed and the task carries on (InProgress again) to its final
# status, Completed unless told otherwise; a client that stops at AttemptFailed wastes a task.
EXPORT_FAILURE_STATUSES = ("AttemptFailed", "Failed")
EXPORT_FINAL_STATUSES = ("Completed", "Failed")


@dataclass(frozen=True)
class ExportOutcome:
    """What one export task goes through: `failed_attempts` AttemptFailed phases, then `final`."""

    failed_attempts: int = 0
    final: str = "Completed"

    @classmethod
    def of(cls, status: str, then: str = "Completed", attempts: int = 1) -> ExportOutcome:
        """The outcome a status names: "Failed" fails the task; "AttemptFailed" fails `attempts`
        attempts and then ends `then`; "Completed" is a task without trouble."""
        if status == "Completed":
            return cls()
        if status == "Failed":
            return cls(0, "Failed")
        if status != "AttemptFailed":
            raise ValueError(f"status must be one of {EXPORT_FAILURE_STATUSES} or Completed, got {status!r}")
        if then not in EXPORT_FINAL_STATUSES:
            raise ValueError(f"then must be one of {EXPORT_FINAL_STATUSES}, got {then!r}")
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        return cls(attempts, then)


@dataclass
class Fault:
    """One fault chosen for one request."""

    kind: str
    retry_after: float | None = None
    seconds: float = 0.0


@dataclass
class _Scheduled:
    kind: str
    remaining: int
    path_contains: str | None
    host: str | None
    retry_after: float | None
    seconds: float


@dataclass
class FaultConfig:
    """Fault rates and one-shot faults; safe to change from a test thread while the servers run."""

    seed: int = 0
    error_5xx_rate: float = 0.0
    burst_429_rate: float = 0.0
    # Retry-After announced by random 429 bursts; None sends none (clients must then wait >= 30 s).
    burst_retry_after: float | None = 1.0
    truncate_rate: float = 0.0
    slow_seconds: float = 0.0
    # Share of requests delayed by slow_seconds (1.0: all of them, when slow_seconds > 0).
    slow_rate: float = 1.0
    drop_rate: float = 0.0
    # Share of JSON requests answered by a `200 text/html` maintenance page.
    html_rate: float = 0.0
    # Share of requests answered by the group limiter's 429 (X-Rate-Limit-* headers, Retry-After
    # `burst_retry_after`, or 1 s when that is None: the limiter always announces its penalty).
    limited_429_rate: float = 0.0
    # Share of token-carrying requests whose access token expires at that moment (401 OAU-128). Only
    # a token at least `expired_min_age` seconds old expires this way: a token RingCentral has just
    # issued does not expire under the request that follows the refresh (its lifetime is an hour).
    expired_rate: float = 0.0
    expired_min_age: float = 0.5
    # Shares of new export tasks that fail `export_failed_attempts` attempts first (AttemptFailed each
    # time, then a new attempt) / that end Failed (drawn apart: a task can do both).
    export_attempt_failed_rate: float = 0.0
    export_failed_attempts: int = 1
    export_failed_rate: float = 0.0
    _scheduled: list[_Scheduled] = field(default_factory=list, repr=False, compare=False)
    _export_failures: list[ExportOutcome] = field(default_factory=list, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _rng: random.Random | None = field(default=None, repr=False, compare=False)
    _export_rng: random.Random | None = field(default=None, repr=False, compare=False)
    _injected: Counter[str] = field(default_factory=Counter, repr=False, compare=False)

    def schedule(
        self,
        kind: str,
        count: int = 1,
        path_contains: str | None = None,
        retry_after: float | None = None,
        seconds: float = 0.0,
        host: str | None = None,
    ) -> None:
        """Make the next `count` matching requests fail with `kind` (see FAULT_KINDS).

        `path_contains` limits it to paths containing that text, `host` to 'platform' or 'media';
        `retry_after` adds a Retry-After header to status faults; `seconds` is the delay of "slow".
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        if host not in (None, "platform", "media"):
            raise ValueError("host must be None, 'platform' or 'media'")
        with self._lock:
            self._scheduled.append(_Scheduled(kind, count, path_contains, host, retry_after, seconds))

    def fail_next_exports(
        self, n: int, status: str = "Failed", *, then: str = "Completed", attempts: int = 1
    ) -> None:
        """Make the next `n` message-store export tasks fail: "Failed" ends them Failed;
        "AttemptFailed" shows AttemptFailed for `attempts` failed attempts, each followed by a new
        attempt (InProgress), and then ends the task `then` (Completed or Failed)."""
        if status not in EXPORT_FAILURE_STATUSES:
            raise ValueError(f"status must be one of {EXPORT_FAILURE_STATUSES}")
        outcome = ExportOutcome.of(status, then, attempts)
        with self._lock:
            self._export_failures.extend([outcome] * n)

    def clear(self) -> None:
        """Switch every fault off: rates to zero and pending one-shots dropped."""
        with self._lock:
            self._scheduled.clear()
            self._export_failures.clear()
            self.error_5xx_rate = self.burst_429_rate = self.truncate_rate = self.drop_rate = 0.0
            self.html_rate = self.limited_429_rate = self.expired_rate = 0.0
            self.export_attempt_failed_rate = self.export_failed_rate = 0.0
            self.slow_seconds = 0.0

    def injected(self) -> dict[str, int]:
        """Faults injected so far by kind (FAULT_KINDS and EXPORT_FAULT_KINDS), kinds never injected
        included as 0: what a fault-storm test reports and checks its minimums against."""
        with self._lock:
            return {kind: self._injected[kind] for kind in (*FAULT_KINDS, *EXPORT_FAULT_KINDS)}

    def pending(self) -> int:
        """How many scheduled one-shot faults have not fired yet."""
        with self._lock:
            return sum(s.remaining for s in self._scheduled)

    def take_export_failure(self) -> ExportOutcome | None:
        """The outcome for a newly created export task, if a failure was requested (one-shots first,
        then the random export rates); counted in `injected()`."""
        with self._lock:
            outcome = self._export_failures.pop(0) if self._export_failures else None
            if outcome is None and (self.export_failed_rate or self.export_attempt_failed_rate):
                if self._export_rng is None:
                    # Its own stream: export tasks are few, and drawing them from the request stream
                    # would move every later request's fault.
                    self._export_rng = random.Random(f"export-faults:{self.seed}")
                # Independent draws: a task can fail attempts and then end Failed all the same.
                failed = self._export_rng.random() < self.export_failed_rate
                attempts = self._export_rng.random() < self.export_attempt_failed_rate
                outcome = ExportOutcome(
                    max(1, self.export_failed_attempts) if attempts else 0,
                    "Failed" if failed else "Completed",
                )
            if outcome is not None:
                self._injected["export_attempt_failed"] += outcome.failed_attempts
                self._injected["export_failed"] += outcome.final == "Failed"
            return outcome

    def pick(
        self, path: str, host: str, binary: bool, token_age: float | None = float("inf")
    ) -> Fault | None:
        """The fault, if any, for one request. Scheduled faults win over random ones.

        Truncation only applies to binary bodies, so a scheduled truncate waits for a binary request;
        a maintenance page only replaces a JSON answer, so a scheduled "html" waits for one; an
        expired token needs a token, so "expired" waits for a request carrying one (`token_age`, the
        seconds since that token was issued, None without a token; random expiries also need it to be
        `expired_min_age` old).
        """
        with self._lock:
            fault = self._pick_scheduled(path, host, binary, token_age is not None)
            if fault is None:
                old_token = token_age is not None and token_age >= self.expired_min_age
                fault = self._pick_random(binary, old_token)
            if fault is not None:
                self._injected[fault.kind] += 1
            return fault

    def _pick_scheduled(self, path: str, host: str, binary: bool, authenticated: bool) -> Fault | None:
        for item in self._scheduled:
            if item.path_contains is not None and item.path_contains not in path:
                continue
            if item.host is not None and item.host != host:
                continue
            if item.kind == "truncate" and not binary:
                continue
            if item.kind == "html" and binary:
                continue
            if item.kind == "expired" and not authenticated:
                continue
            item.remaining -= 1
            if item.remaining <= 0:
                self._scheduled.remove(item)
            return Fault(item.kind, item.retry_after, item.seconds)
        return None

    def _pick_random(self, binary: bool, authenticated: bool) -> Fault | None:
        if not (
            self.error_5xx_rate
            or self.burst_429_rate
            or self.truncate_rate
            or self.drop_rate
            or self.html_rate
            or self.limited_429_rate
            or self.expired_rate
        ):
            if self.slow_seconds > 0:
                return self._maybe_slow()
            return None
        if self._rng is None:
            # Seeded lazily so that changing `seed` before the first request still takes effect.
            self._rng = random.Random(f"faults:{self.seed}")
        draw = self._rng.random()
        for kind, rate in (
            ("drop", self.drop_rate),
            ("5xx", self.error_5xx_rate),
            ("429", self.burst_429_rate),
            ("truncate", self.truncate_rate if binary else 0.0),
            # Last, so that enabling it leaves the draws of every other kind where they were.
            ("html", 0.0 if binary else self.html_rate),
            # Appended for the same reason.
            ("429_limited", self.limited_429_rate),
            ("expired", self.expired_rate if authenticated else 0.0),
        ):
            if draw < rate:
                if kind == "5xx":
                    return Fault(self._rng.choice(("500", "502", "503", "504")))
                if kind in ("429", "429_limited"):
                    return Fault(kind, self.burst_retry_after)
                return Fault(kind)
            draw -= rate
        return self._maybe_slow()

    def _maybe_slow(self) -> Fault | None:
        if self.slow_seconds <= 0:
            return None
        if self.slow_rate >= 1.0:
            return Fault("slow", seconds=self.slow_seconds)
        if self._rng is None:
            self._rng = random.Random(f"faults:{self.seed}")
        if self._rng.random() < self.slow_rate:
            return Fault("slow", seconds=self.slow_seconds)
        return None

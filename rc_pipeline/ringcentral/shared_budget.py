"""One throttling budget shared by every process on this machine that uses the same app and user.

RingCentral counts requests per user, app and group, whoever sends them. Concurrent runs (a backfill
in the CLI beside a scheduled Dagster run, several runs of a multi-process deployment) each hold their
own client; without a shared view they overrun the budget together and every one of them is penalised.
Each group's recent send times and penalty live in a small JSON file under a lock (flock), so all
senders on this machine take turns from one window. Wall-clock time, because processes share it.

The limits and windows RingCentral announces (X-Rate-Limit-Limit/-Window) are stored beside the window
they govern, so a new process applies them from its first request instead of starting from the 60 s
defaults while the window still holds the previous run's requests (see `Announcement`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# How long a stored announcement stays in force when no process has repeated it. It matters to a new
# process only while the budget holds requests that still count, within a window of the last activity;
# processes in use re-store it every minute (throttle.ANNOUNCEMENT_REFRESH_SECONDS), so it is in force
# whenever those are (for windows up to 14 minutes). After a quiet spell the defaults apply until the
# first answer, which costs one round trip at the default limit, and an announcement no server repeats
# (a plan changed meanwhile, another server started at the same address) cannot mislead for long.
ANNOUNCEMENT_MAX_AGE = 15 * 60.0


def window_margin(window: float) -> float:
    """Seconds added to a window before a send leaves it.

    The server stamps a request when it arrives, a little after we stamp it; without a margin a request
    we think has left the window can still count against us on the server.
    """
    return 0.05 + 0.02 * window


@dataclass(frozen=True)
class Announcement:
    """A group's limit and window as RingCentral last announced them to any process of this budget."""

    limit: int
    window: float
    at: float  # epoch seconds, by the store's clock, when it was stored

    def in_force(self, now: float) -> bool:
        # A limit or window that is not positive cannot come from RingCentral: a damaged store.
        return self.limit > 0 and self.window > 0 and now - self.at <= ANNOUNCEMENT_MAX_AGE


@dataclass(frozen=True)
class Turn:
    """One decision on a shared window."""

    wait: float  # seconds to wait before a request may go; 0: it may go now
    limit: int  # the limit and window the decision applied
    window: float
    # The stored announcement those came from (None: the caller's own, no announcement in force).
    announced: Announcement | None
    age: float = 0.0  # seconds since that announcement was stored


Margin = float | Callable[[float], float]


def decide(
    sent: list[float],
    penalty_until: float,
    announced: Announcement | None,
    now: float,
    limit: int,
    window: float,
    margin: Margin,
    commit: bool,
) -> tuple[Turn, list[float]]:
    """The rule both stores apply under their lock: (the decision, the send times to keep).

    `limit` and `window` are the caller's own (a configured default, or what it observed); a stored
    announcement in force replaces them, so every process decides on one window with the same numbers.
    A process stores what it observes as soon as it differs, so its own fresh header is always the
    newest stored one; the newest announcement wins, whoever received it.
    """
    age = 0.0
    if announced is not None and announced.in_force(now):
        limit, window, age = announced.limit, announced.window, max(0.0, now - announced.at)
    else:
        announced = None
    pad = margin(window) if callable(margin) else margin

    def turn(wait: float) -> Turn:
        return Turn(wait, limit, window, announced, age)

    if now < penalty_until:
        return turn(penalty_until - now), sent
    recent = sorted(t for t in sent if t > now - window - pad)
    if len(recent) >= limit:
        return turn(recent[-limit] + window + pad - now), recent
    if commit:
        recent.append(now)
    return turn(0.0), recent


def default_state_dir() -> Path:
    """The folder every process on this machine finds without being told, so they share by default.

    The caller chooses (rc_pipeline.settings reads RC_THROTTLE_DIR); the client reads no environment.
    """
    return Path(tempfile.gettempdir()) / "rc-pipeline-throttle"


# For signatures: `throttle_dir=DEFAULT_STATE_DIR` shares the machine-wide window, None throttles alone.
DEFAULT_STATE_DIR = default_state_dir()


def budget_key(server_url: str, client_id: str, user: str) -> str:
    """Names the budget without naming the credentials (a digest, never the JWT or password itself)."""
    return hashlib.sha256(f"{server_url}|{client_id}|{user}".encode()).hexdigest()[:24]


class SharedWindow:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        with open(self.path, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fh.seek(0)
            raw = fh.read()
            try:
                state = json.loads(raw) if raw else {}
            except ValueError:
                state = {}  # a torn file from a killed writer: start a fresh window
            state.setdefault("sent", [])
            state.setdefault("penalty_until", 0.0)
            state.setdefault("announced", None)  # absent from files written before announcements
            yield state
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(state))
            fh.flush()

    @staticmethod
    def _announcement(state: dict[str, Any]) -> Announcement | None:
        stored = state["announced"]
        try:
            return Announcement(int(stored["limit"]), float(stored["window"]), float(stored["at"]))
        except (TypeError, KeyError, ValueError):
            return None  # none stored, or unreadable: the caller's own limits apply

    def turn(self, limit: int, window: float, margin: Margin = window_margin, *, commit: bool = True) -> Turn:
        """Decide whether a request may go now (see `decide`); with commit, one that may is counted."""
        now = time.time()
        with self._state() as state:
            decision, state["sent"] = decide(
                state["sent"],
                state["penalty_until"],
                self._announcement(state),
                now,
                limit,
                window,
                margin,
                commit,
            )
            return decision

    def take(self, limit: int, window: float, margin: Margin, *, commit: bool = True) -> float:
        """Seconds to wait before a request may go; 0 means it may go now (and, with commit, is counted)."""
        return self.turn(limit, window, margin, commit=commit).wait

    def announce(self, limit: int, window: float) -> None:
        """Store what RingCentral announced for this group; it is newer than anything stored."""
        with self._state() as state:
            state["announced"] = {"limit": int(limit), "window": float(window), "at": time.time()}

    def announcement(self) -> Announcement | None:
        """The stored announcement, in force or not."""
        with self._state() as state:
            return self._announcement(state)

    def penalize(self, seconds: float) -> None:
        with self._state() as state:
            state["penalty_until"] = max(state["penalty_until"], time.time() + seconds)

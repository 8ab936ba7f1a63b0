"""One throttling budget shared by every process on this machine that uses the same app and user.

RingCentral counts requests per user, app and group, whoever sends them. Concurrent runs (a backfill
in the CLI beside a scheduled Dagster run, several runs of a multi-process deployment) each hold their
own client; without a shared view they overrun the budget together and every one of them is penalised.
Each group's recent send times and penalty live in a small JSON file under a lock (flock), so all
senders on this machine take turns from one window. Wall-clock time, because processes share it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
            yield state
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(state))
            fh.flush()

    def take(self, limit: int, window: float, margin: float, *, commit: bool = True) -> float:
        """Seconds to wait before a request may go; 0 means it may go now (and, with commit, is counted)."""
        now = time.time()
        with self._state() as state:
            if now < state["penalty_until"]:
                return state["penalty_until"] - now
            sent = sorted(t for t in state["sent"] if t > now - window - margin)
            state["sent"] = sent
            if len(sent) >= limit:
                return sent[-limit] + window + margin - now
            if commit:
                sent.append(now)
            return 0.0

    def penalize(self, seconds: float) -> None:
        with self._state() as state:
            state["penalty_until"] = max(state["penalty_until"], time.time() + seconds)

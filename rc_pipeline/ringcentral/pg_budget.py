"""The throttling budget shared through PostgreSQL, by processes on any number of machines.

The file window (shared_budget) serves the processes of one machine; runs on several machines (a
Kubernetes run launcher, replicas of a code location) would each think they own RingCentral's whole
budget. Here each (budget, group) is one row of one small table: its recent send times and its penalty.
A sender locks the row (SELECT ... FOR UPDATE) in a short transaction, decides exactly as the file
window does, and commits; every process then takes turns from one window whatever machine it runs on.
Time is the database server's clock, the one clock all machines see (theirs may drift apart).

The row also holds the limit and window RingCentral last announced for the group (X-Rate-Limit-Limit
/-Window) and when, so every process applies them from its first request (shared_budget.decide says
which numbers win). Tables created before those columns existed gain them on first connection.

psycopg2 (the [postgres] extra) is imported only when a URL is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import SettingsError
from .shared_budget import Announcement, Margin, Turn, decide, window_margin

TABLE = "rc_throttle_window"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    budget_key text NOT NULL,
    throttle_group text NOT NULL,
    -- Epoch seconds (database clock) of the requests sent in the last window (+ margin).
    sent double precision[] NOT NULL DEFAULT '{{}}',
    penalty_until double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (budget_key, throttle_group)
)
"""

# Added later: tables created without them gain them on connection (NULL: nothing announced yet).
_ANNOUNCEMENT_COLUMNS = {
    "announced_limit": "integer",
    "announced_window": "double precision",
    "announced_at": "double precision",  # epoch seconds, database clock
}


@dataclass(frozen=True)
class WindowRow:
    """A (budget, group) row as a transaction sees it."""

    sent: list[float]
    penalty_until: float
    announced: Announcement | None


SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")


def check_database_url(name: str, value: str) -> str:
    """`value` as libpq takes it (`postgresql://`); SettingsError naming `name` (never the value, which
    may hold a password) unless it is a PostgreSQL URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise SettingsError(
            f"{name} (value hidden) must be a PostgreSQL URL such as postgresql://user@host:5432/db "
            "(the password may come from PGPASSWORD)"
        )
    return urlunsplit(("postgresql", *parts[1:]))


def redacted(url: str) -> str:
    """The URL without its password (in the user part or a `password=` parameter), for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        "password=***" if pair.split("=", 1)[0].lower() == "password" else pair
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _psycopg2() -> Any:
    try:
        import psycopg2
    except ImportError:
        raise SettingsError(
            "RC_THROTTLE_URL (a rate-limit budget in PostgreSQL) needs psycopg2: "
            "pip install 'rc-pipeline[postgres]'"
        ) from None
    return psycopg2


class PostgresBudget:
    """One connection to the budget's database, shared by every group window of this process.

    Transactions on one connection must not interleave, so the windows take turns through a lock;
    a request holds it for a few milliseconds (three statements on a short transaction).
    """

    def __init__(self, url: str) -> None:
        # The URL comes from RC_THROTTLE_URL or, unset, from the Dagster instance's storage.
        self.url = check_database_url("RC_THROTTLE_URL (or the Dagster instance's PostgreSQL storage)", url)
        self._psycopg2 = _psycopg2()
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connect(self) -> Any:
        try:
            conn = self._psycopg2.connect(
                self.url, connect_timeout=10, application_name="rc-pipeline throttle"
            )
        except self._psycopg2.OperationalError as exc:
            # libpq's message names host and database, never the password.
            raise ConnectionError(f"rate-limit budget database {redacted(self.url)}: {exc}".strip()) from None
        with conn, conn.cursor() as cur:
            # Several processes may create the table at once; the advisory lock makes them take turns.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
            cur.execute(_SCHEMA)
            # ALTER TABLE takes the table's exclusive lock even when it changes nothing, which would
            # stall every sender for a moment at each connection: add only what is missing.
            cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s",
                (TABLE,),
            )
            present = {name for (name,) in cur.fetchall()}
            missing = [
                f"ADD COLUMN IF NOT EXISTS {n} {t}"
                for n, t in _ANNOUNCEMENT_COLUMNS.items()
                if n not in present
            ]
            if missing:
                cur.execute(f"ALTER TABLE {TABLE} " + ", ".join(missing))
        return conn

    def transaction(
        self, key: str, group: str, change: Callable[[WindowRow, float], tuple[Any, WindowRow]]
    ) -> Any:
        """Run `change(row, now)` on the locked row; it returns (result, new row) and the new row is
        written back before the lock is released."""
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                try:
                    return self._locked(key, group, change)
                except (self._psycopg2.OperationalError, self._psycopg2.InterfaceError):
                    # A dropped connection (server restart, idle timeout): one fresh try, then fail.
                    self._close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _locked(self, key: str, group: str, change: Callable) -> Any:
        conn = self._conn
        with conn, conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO {TABLE} (budget_key, throttle_group) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, group),
            )
            cur.execute(
                f"SELECT sent, penalty_until, announced_limit, announced_window, announced_at FROM {TABLE} "
                "WHERE budget_key = %s AND throttle_group = %s FOR UPDATE",
                (key, group),
            )
            sent, penalty_until, limit, window, at = cur.fetchone()
            announced = None
            if limit is not None and window is not None and at is not None:
                announced = Announcement(int(limit), float(window), float(at))
            row = WindowRow(list(sent), float(penalty_until), announced)
            # The clock is read after the lock is granted: a wait for the lock must not age `now`.
            cur.execute("SELECT extract(epoch FROM clock_timestamp())::double precision")
            (now,) = cur.fetchone()
            result, new = change(row, float(now))
            if new != row:
                a = new.announced
                announced_values = (None, None, None) if a is None else (a.limit, a.window, a.at)
                cur.execute(
                    f"UPDATE {TABLE} SET sent = %s, penalty_until = %s, announced_limit = %s, "
                    "announced_window = %s, announced_at = %s WHERE budget_key = %s AND throttle_group = %s",
                    (new.sent, new.penalty_until, *announced_values, key, group),
                )
            return result

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken; a new connection follows
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close()

    def window(self, key: str, group: str) -> PostgresWindow:
        return PostgresWindow(self, key, group)


class PostgresWindow:
    """A group's window in PostgreSQL, with the file window's interface and decisions (shared_budget)."""

    def __init__(self, budget: PostgresBudget, key: str, group: str) -> None:
        self.budget, self.key, self.group = budget, key, group

    def turn(self, limit: int, window: float, margin: Margin = window_margin, *, commit: bool = True) -> Turn:
        """Decide whether a request may go now (see `decide`); with commit, one that may is counted."""

        def change(row: WindowRow, now: float) -> tuple[Turn, WindowRow]:
            decision, sent = decide(
                row.sent, row.penalty_until, row.announced, now, limit, window, margin, commit
            )
            return decision, replace(row, sent=sent)

        return self.budget.transaction(self.key, self.group, change)

    def take(self, limit: int, window: float, margin: Margin, *, commit: bool = True) -> float:
        """Seconds to wait before a request may go; 0 means it may go now (and, with commit, is counted)."""
        return self.turn(limit, window, margin, commit=commit).wait

    def announce(self, limit: int, window: float) -> None:
        """Store what RingCentral announced for this group; it is newer than anything stored."""

        def change(row: WindowRow, now: float) -> tuple[None, WindowRow]:
            return None, replace(row, announced=Announcement(int(limit), float(window), now))

        self.budget.transaction(self.key, self.group, change)

    def announcement(self) -> Announcement | None:
        """The stored announcement, in force or not."""
        return self.budget.transaction(self.key, self.group, lambda row, now: (row.announced, row))

    def penalize(self, seconds: float) -> None:
        def change(row: WindowRow, now: float) -> tuple[None, WindowRow]:
            return None, replace(row, penalty_until=max(row.penalty_until, now + seconds))

        self.budget.transaction(self.key, self.group, change)


_BUDGETS: dict[str, PostgresBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(url: str) -> PostgresBudget:
    """One connection per database per process, whatever number of clients use it."""
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(url)
        if budget is None:
            budget = _BUDGETS[url] = PostgresBudget(url)
        return budget

"""The limits RingCentral announces are kept in the shared budget (file and PostgreSQL), so a new
process applies them from its first request instead of RingCentral's 60 s defaults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from rc_pipeline.ringcentral import Throttler, pg_budget, shared_budget, throttle
from rc_pipeline.ringcentral.pg_budget import TABLE, PostgresBudget
from rc_pipeline.ringcentral.shared_budget import SharedWindow, budget_key
from rc_pipeline.ringcentral.throttle import DEFAULT_LIMITS, RateLimit
from rc_pipeline_tests.clienthelpers import client_for
from rc_pipeline_tests.pghelpers import pg_database, pg_server  # noqa: F401

BACKENDS = ["file", "postgres"]


@pytest.fixture(params=BACKENDS)
def new_process(request, tmp_path, monkeypatch) -> Iterator[Callable[[], Throttler]]:
    """Makes the throttler of a new process sharing one budget (a folder, or a PostgreSQL database
    reached over a connection of its own, as from another process)."""
    key = budget_key("https://platform.example", "app", "user")
    if request.param == "file":
        yield lambda: Throttler(shared_dir=tmp_path, shared_key=key)
        return
    server = request.getfixturevalue("pg_server")
    url = server.url(request.getfixturevalue("pg_database"))
    monkeypatch.setattr(pg_budget, "_BUDGETS", {})
    opened: list[PostgresBudget] = []

    def make() -> Throttler:
        opened.extend(pg_budget._BUDGETS.values())
        pg_budget._BUDGETS.clear()  # the next throttler connects anew, as a new process would
        return Throttler(shared_url=url, shared_key=key)

    yield make
    for budget in [*opened, *pg_budget._BUDGETS.values()]:
        budget.close()


def call_log_page(client) -> None:
    """One Heavy request (a day of the call log fits one page in these accounts)."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert len(list(client.iter_call_log_pages(end - timedelta(days=1), end))) == 1


def heavy_arrivals(sim) -> list[float]:
    entries = [e for e in sim.request_log if e.group == "Heavy"]
    assert all(e.status != 429 for e in entries), "RingCentral penalised a Heavy request"
    return sorted(e.monotonic for e in entries)


def assert_within(arrivals: list[float], limit: int, window: float) -> None:
    """No `window` seconds ever saw more than `limit` arrivals (by the server's clock)."""
    for i in range(len(arrivals) - limit):
        assert arrivals[i + limit] - arrivals[i] >= window, f"more than {limit} requests in {window} s"


def send_in_threads(client, threads: int, each: int) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(each):
                call_log_page(client)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert not errors, errors


def test_a_new_process_applies_the_announced_window_from_its_first_request(make_simulator, new_process):
    """The issue's case: windows scaled to 1 s (as `make ui` scales them), a previous process's requests
    still in the budget. A new process that starts from the 60 s default would wait a minute for them."""
    sim = make_simulator(rate_limit_scale=0.01)  # Heavy: 10 per 60 s x 0.01, announced as 1 s
    limit, window = DEFAULT_LIMITS["Heavy"][0], 1.0
    with client_for(sim, throttler=new_process()) as a:
        for _ in range(limit):
            call_log_page(a)
    time.sleep(window + 0.2)  # A's requests left the announced window, not the default one

    b = new_process()
    heavy = b.group("Heavy")
    # Before any answer of its own, B knows what RingCentral told A.
    assert heavy.can_send_now(), "B applies the 60 s default window to A's requests"
    assert heavy.current_limit() == RateLimit(limit, window, announced=True)
    with client_for(sim, throttler=b) as client:
        client.login()
        started = time.monotonic()
        call_log_page(client)
        assert time.monotonic() - started < 1.0, "B's first request waited"
        send_in_threads(client, threads=3, each=5)  # 1.5 windows' worth beyond the first
        assert client.stats().throttled_429 == 0
    arrivals = heavy_arrivals(sim)
    assert len(arrivals) == limit + 16
    assert_within(arrivals, limit, window)


def test_a_new_process_never_exceeds_the_announced_limit_with_a_previous_process_sends(
    make_simulator, new_process
):
    """An account announcing fewer requests than the default (5 per 1 s, against 10 per 60 s): the
    previous process used them all, so the new process's very first request must wait for the window.
    From the default it would go at once, overrun the limit and earn a penalty."""
    limit, window = 5, 1.0
    sim = make_simulator(rate_limits={"Heavy": (limit, window)}, penalty_seconds=1.0)
    with client_for(sim, throttler=new_process()) as a:
        for _ in range(limit):
            call_log_page(a)
    b = new_process()
    with client_for(sim, throttler=b) as client:
        client.login()
        send_in_threads(client, threads=3, each=2)
        assert client.stats().throttled_429 == 0
    assert b.snapshot()["Heavy"].waited_seconds > 0, "B did not wait for A's requests to leave the window"
    arrivals = heavy_arrivals(sim)
    assert len(arrivals) == limit + 6
    assert_within(arrivals, limit, window)


def test_newest_announcement_wins_and_an_old_one_gives_way_to_the_defaults(new_process, monkeypatch):
    a, b = new_process().group("Heavy"), new_process().group("Heavy")
    assert b.current_limit() == RateLimit(10, 60.0, announced=False)
    a.observe(4, 2.0, None)  # A's answer announces 4 per 2 s
    assert b.can_send_now() and b.current_limit() == RateLimit(4, 2.0, announced=True)
    b.observe(6, 3.0, None)  # a newer announcement, received by B (a plan changed)
    assert a.can_send_now() and a.current_limit() == RateLimit(6, 3.0, announced=True)
    a.observe(6, 3.0, None)  # the same again changes nothing
    assert b.can_send_now() and b.current_limit() == RateLimit(6, 3.0, announced=True)

    # An announcement nobody confirmed for ANNOUNCEMENT_MAX_AGE is no longer applied to a new process:
    # it starts from the defaults again (its own answers announce again at once).
    monkeypatch.setattr(shared_budget, "ANNOUNCEMENT_MAX_AGE", 0.3)
    time.sleep(0.4)
    c = new_process().group("Heavy")
    assert c.can_send_now() and c.current_limit() == RateLimit(10, 60.0, announced=False)
    c.observe(6, 3.0, None)  # its first answer stores the announcement afresh
    d = new_process().group("Heavy")
    assert d.can_send_now() and d.current_limit() == RateLimit(6, 3.0, announced=True)


def test_a_budget_in_use_keeps_its_announcement_in_force(new_process, monkeypatch):
    """Answers that repeat the stored announcement re-store it now and then, so it never ages out
    while processes use the budget."""
    monkeypatch.setattr(shared_budget, "ANNOUNCEMENT_MAX_AGE", 0.5)
    monkeypatch.setattr(throttle, "ANNOUNCEMENT_REFRESH_SECONDS", 0.2)
    busy = new_process().group("Heavy")
    for _ in range(6):  # 0.9 s of answers announcing 4 per 2 s
        busy.observe(4, 2.0, None)
        time.sleep(0.15)
    newcomer = new_process().group("Heavy")
    assert newcomer.can_send_now() and newcomer.current_limit() == RateLimit(4, 2.0, announced=True)


def test_a_budget_file_from_before_announcements_is_read(tmp_path):
    path = tmp_path / "k-heavy.json"
    now = time.time()
    path.write_text(json.dumps({"sent": [now - 0.1, now - 0.05], "penalty_until": 0.0}))
    window = SharedWindow(path)
    turn = window.turn(2, 1.0, 0.0, commit=False)
    assert turn.announced is None and 0 < turn.wait <= 1.0  # the old sends still count
    window.announce(3, 1.0)
    assert window.turn(2, 1.0, 0.0).wait == 0  # the announced 3 per 1 s leaves room for one more
    assert window.announcement().limit == 3 and len(json.loads(path.read_text())["sent"]) == 3


def test_an_existing_budget_table_gains_the_announcement_columns(pg_server, pg_database):  # noqa: F811
    """A table created before announcements were stored: its rows and sends are kept, the columns are
    added on first connection (by the first of several processes to connect, the others finding them)."""
    import psycopg2

    url = pg_server.url(pg_database)
    conn = psycopg2.connect(url)
    now = time.time()
    with conn, conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {TABLE} (budget_key text NOT NULL, throttle_group text NOT NULL, "
            "sent double precision[] NOT NULL DEFAULT '{}', penalty_until double precision NOT NULL "
            "DEFAULT 0, PRIMARY KEY (budget_key, throttle_group))"
        )
        cur.execute(f"INSERT INTO {TABLE} VALUES ('k', 'Heavy', %s, 0)", ([now - 0.1, now - 0.05],))
    budgets = [PostgresBudget(url), PostgresBudget(url)]
    try:
        first, second = (b.window("k", "Heavy") for b in budgets)
        assert first.take(2, 5.0, 0.0, commit=False) > 0  # the row's sends still count
        second.announce(3, 5.0)
        turn = first.turn(2, 60.0, 0.0)
        assert turn.wait == 0 and (turn.limit, turn.window) == (3, 5.0)
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT cardinality(sent), announced_limit, announced_window FROM {TABLE}")
            assert cur.fetchall() == [(3, 3, 5.0)]
    finally:
        conn.close()
        for budget in budgets:
            budget.close()

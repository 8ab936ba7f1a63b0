"""A Dagster instance on a real PostgreSQL, and RingCentral's rate-limit budget shared through it.

The server comes from this machine's PostgreSQL binaries (rc_pipeline_tests/pghelpers.py); the tests
skip, saying so, only where there are none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from bench import api
from bench.common import bench_env
from rc_pipeline.defs.names import API_POOL, ARCHIVE_JOB, DUCKDB_POOL
from rc_pipeline.defs.resources import instance_database_url
from rc_pipeline.ringcentral.errors import SettingsError
from rc_pipeline.ringcentral.pg_budget import TABLE, PostgresBudget, check_database_url
from rc_pipeline.ringcentral.throttle import floor_seconds
from rc_pipeline.settings import read
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests import pghelpers
from rc_pipeline_tests.pipelinehelpers import pipeline_for, yesterday

pg_server, pg_database = pghelpers.pg_server, pghelpers.pg_database  # the fixtures
REPO = Path(__file__).resolve().parents[1]
PASSWORD_VAR = "RC_TEST_DAGSTER_PG_PASSWORD"


def instance_yaml(server: pghelpers.LocalPostgres, database: str) -> dict:
    """The shipped dagster.yaml (pools, run limits) with the storage the README documents."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["storage"] = {
        "postgres": {
            "postgres_db": {
                "username": server.user,
                "password": {"env": PASSWORD_VAR},
                "hostname": "127.0.0.1",
                "port": server.port,
                "db_name": database,
                # psycopg2, the driver dagster-postgres is written for (see the README).
                "scheme": "postgresql+psycopg2",
            }
        }
    }
    return config


# -- the budget in PostgreSQL ------------------------------------------------------------------------


def test_database_url_is_checked_without_showing_it():
    assert (
        check_database_url("RC_THROTTLE_URL", "postgresql+psycopg2://u:p@db:5432/x")
        == "postgresql://u:p@db:5432/x"
    )
    with pytest.raises(SettingsError) as err:
        read("RC_THROTTLE_URL", {"RC_THROTTLE_URL": "mysql://u:s3cret@db/x"})
    assert "RC_THROTTLE_URL" in str(err.value) and "s3cret" not in str(err.value)
    assert read("RC_THROTTLE_URL", {}) is None


def test_budget_without_psycopg2_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    with pytest.raises(SettingsError, match=r"rc-pipeline\[postgres\]"):
        PostgresBudget("postgresql://u@127.0.0.1:1/x")


def test_unreachable_database_is_named_without_its_password(pg_server):
    budget = PostgresBudget(f"postgresql://rc:wrong-{pg_server.password}@127.0.0.1:{pg_server.port}/postgres")
    with pytest.raises(ConnectionError) as err:
        budget.window("k", "Heavy").take(1, 1.0, 0.0)
    assert "127.0.0.1" in str(err.value) and pg_server.password not in str(err.value)


def test_two_connections_take_turns_from_one_window(pg_server, pg_database):
    """Two budgets (as on two machines) see each other's sends and penalties, and decide as the file
    window does: `limit` sends per window, then the wait until the oldest leaves it."""
    url = pg_server.url(pg_database)
    a, b = PostgresBudget(url).window("key", "Heavy"), PostgresBudget(url).window("key", "Heavy")
    assert a.take(3, 1.0, 0.0) == 0 and b.take(3, 1.0, 0.0) == 0 and a.take(3, 1.0, 0.0) == 0
    wait = b.take(3, 1.0, 0.0)
    assert 0.5 < wait <= 1.0
    assert a.take(3, 1.0, 0.0, commit=False) > 0  # full for everyone
    other = PostgresBudget(url).window("key", "Light")  # another group has its own window
    assert other.take(3, 1.0, 0.0) == 0
    time.sleep(wait + 0.05)
    assert b.take(3, 1.0, 0.0) == 0
    a.penalize(5.0)
    assert 4.5 < b.take(3, 1.0, 0.0) <= 5.0  # a penalty one sender earned stops all of them


def test_concurrent_senders_never_exceed_the_limit(pg_server, pg_database):
    """Six threads over three connections, each sending as the throttle does (take, wait, retry):
    no window of 0.5 s ever holds more than 4 sends, by the database's clock (the one they share):
    every send is stamped with the time the locked decision counted it at."""
    url = pg_server.url(pg_database)
    budgets = [PostgresBudget(url) for _ in range(3)]
    sends: list[float] = []  # the database time of every counted send
    lock = threading.Lock()

    def stamping(budget: PostgresBudget) -> None:
        transaction = budget.transaction

        def stamped(key, group, change):
            def change_and_stamp(row, now):
                result, new_row = change(row, now)
                if getattr(result, "wait", None) == 0.0:
                    with lock:
                        sends.append(now)
                return result, new_row

            return transaction(key, group, change_and_stamp)

        budget.transaction = stamped

    for budget in budgets:
        stamping(budget)

    def sender(n: int) -> None:
        window = budgets[n % 3].window("key", "Medium")
        for _ in range(4):
            while (wait := window.take(4, 0.5, 0.0)) > 0:
                time.sleep(wait)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(sends) == 24
    sends.sort()
    # Any 5 consecutive sends span at least one whole window: never 5 in 0.5 s.
    assert all(sends[i + 4] - sends[i] >= 0.5 for i in range(len(sends) - 4))
    assert sends[-1] - sends[0] >= 2.5  # 24 sends at 4 per 0.5 s cannot take less than 5 windows


# -- the Dagster instance on PostgreSQL --------------------------------------------------------------


def test_two_archive_runs_at_once_on_a_postgres_instance(
    tmp_path, monkeypatch, make_simulator, pg_server, pg_database
):
    """Two processes run the daily archive job for two days at the same time through one instance on
    PostgreSQL: both runs succeed and land, the `ringcentral_api` pool lets one API step run at a
    time across them, the rate-limit budget lives in the instance's database, nothing in SQLite."""
    sim = make_simulator(extensions=4, calls_per_day=12)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml(pg_server, pg_database)))
    monkeypatch.setenv(PASSWORD_VAR, pg_server.password)
    instance = dg.DagsterInstance.from_config(str(home))
    # What the README asks once per new database (`dagster instance concurrency set POOL N`):
    # dagster-postgres creates a pool's row on first use, and two runs doing so at once make one
    # fail (UniqueViolation, dagster issue 33552).
    for pool in (API_POOL, DUCKDB_POOL):
        instance.event_log_storage.set_concurrency_slots(pool, instance.global_op_concurrency_default_limit)
    root = tmp_path / "archive"
    days = [(yesterday() - timedelta(days=n)).isoformat() for n in (1, 0)]
    specs = [
        {"mode": "queue", "days": [day], "root": str(root), "claims_dir": str(tmp_path / f"claims-{n}"),
         "instance": "home", "deadline_seconds": 120}
        for n, day in enumerate(days)
    ]  # fmt: skip
    for spec in specs:
        Path(spec["claims_dir"]).mkdir()
    sizes = api.ApiSizes(days=2, calls_per_day=40, recording_share=0.3, window=2.0, count_scale=1)
    env = {"DAGSTER_HOME": str(home), PASSWORD_VAR: pg_server.password}
    try:
        procs = api.start_workers(sim, specs, tmp_path, sizes, env=env)
        _, reports, finished = api.go_and_wait(procs, cap=90)
        assert finished and all(not r.get("failures") and "error" not in r for r in reports), reports

        from dagster_postgres import PostgresRunStorage

        assert isinstance(instance.run_storage, PostgresRunStorage)
        runs = instance.get_runs()
        assert sorted(r.tags["dagster/partition"] for r in runs) == days
        assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}

        # The pool: the API steps of both runs never ran at the same time, and one run waited for it.
        job = pipeline_for(sim, str(root)).resolve_job_def(ARCHIVE_JOB)
        pooled = {node.name for node in job.nodes if getattr(node.definition, "pool", None) == API_POOL}
        assert pooled
        spans, blocked = [], 0
        for run in runs:
            started: dict[str, float] = {}
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None or event.step_key not in pooled:
                    continue
                if event.event_type == dg.DagsterEventType.STEP_START:
                    started[event.step_key] = entry.timestamp
                elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                    spans.append((started.pop(event.step_key), entry.timestamp, run.run_id))
                elif "blocked by limit for pool ringcentral_api" in (entry.user_message or ""):
                    blocked += 1
        spans.sort()
        assert {run_id for *_, run_id in spans} == {r.run_id for r in runs}
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans
        assert blocked >= 1
        info = instance.event_log_storage.get_concurrency_info(API_POOL)
        assert info.slot_count == 1 and not info.claimed_slots

        # The rate-limit budget followed the instance into its database (no RC_THROTTLE_URL was set).
        url = instance_database_url(instance)
        assert url and url.startswith("postgresql+psycopg2://")
        import psycopg2

        conn = psycopg2.connect(pg_server.url(pg_database))
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT throttle_group, cardinality(sent) FROM {TABLE}")
            groups = dict(cur.fetchall())
        conn.close()
        assert groups.get("Heavy", 0) > 0
    finally:
        instance.dispose()

    storage = ArchiveStorage(str(root))
    assert set(days) <= {str(p) for p in storage.list_partitions(Dataset.RECORDINGS)}
    assert not [p for p in home.rglob("*") if p.suffix in (".db", ".sqlite", ".sqlite3")]


# -- one budget across machines ----------------------------------------------------------------------

# A process of "another machine": its own throttle folder, the budget database if given, N Heavy
# requests; the first 429 ends it.
_SENDER = """
import json, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from rc_pipeline.ringcentral import RetryPolicy, RingCentralClient, RingCentralSettings

spec = json.loads(sys.argv[1])
client = RingCentralClient(
    RingCentralSettings(**spec["settings"]),
    throttle_dir=Path(spec["dir"]),
    throttle_url=spec["url"],
    retry=RetryPolicy(max_429_retries=0),  # the first 429 ends the process (exit 1)
)
with client:
    client.login()
    print("READY", flush=True)
    sys.stdin.readline()
    end = datetime.now(UTC)
    for _ in range(spec["requests"]):
        next(iter(client.iter_call_log_pages(end - timedelta(days=1), end)))
    print(json.dumps({"429": client.stats().throttled_429}), flush=True)
"""


def _two_machines(sim, tmp_path: Path, url: str | None, requests: int) -> tuple[int, float, list[int]]:
    """Two sender processes with separate throttle folders (as on two machines), released together.
    Returns the 429s the simulator answered, the wall time and the processes' exit codes."""
    settings = {
        "server_url": sim.base_url,
        "media_url": sim.media_url,
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "jwt": sim.jwt,
    }
    procs = []
    for n in range(2):
        spec = {"settings": settings, "dir": str(tmp_path / f"machine-{n}"), "url": url, "requests": requests}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _SENDER, json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=bench_env(),
                cwd=REPO,
            )
        )
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "READY"
        before = len(sim.request_log.snapshot())
        started = time.monotonic()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("GO\n")
            p.stdin.flush()
        for p in procs:
            p.wait(timeout=60)
        wall = time.monotonic() - started
    finally:
        for p in procs:
            p.kill()
    entries = sim.request_log.snapshot()[before:]
    return sum(e.status == 429 for e in entries), wall, [p.returncode for p in procs]


def test_two_machines_share_one_budget_through_postgres(tmp_path, make_simulator, pg_server, pg_database):
    """Two processes with separate throttle folders each send 20 Heavy requests at once. Through one
    PostgreSQL budget: no 429, and no faster than the limit allows. Without it, each believes it owns
    the whole budget: together they overrun it and RingCentral answers 429 (and a penalty)."""
    limit, window = 10, 1.0
    sim = make_simulator(rate_limits={"Heavy": (limit, window)}, penalty_seconds=1.0)
    status_429, wall, codes = _two_machines(sim, tmp_path / "shared", pg_server.url(pg_database), 20)
    assert codes == [0, 0] and status_429 == 0
    assert wall >= floor_seconds(40, limit, window)

    # Alone, each believes it owns the budget: what two machines earn today.
    status_429, _, codes = _two_machines(sim, tmp_path / "alone", None, 20)
    assert status_429 > 0 and 1 in codes


def test_two_machines_benchmark_runs_at_small_size(tmp_path):
    """The benchmark's scenario 2b at a tiny size, so its code keeps working (`make bench` runs it at
    full size, where its wall / floor target is measured; here the machine's load would decide it)."""
    if pghelpers.find_bindir() is None:
        pytest.skip(pghelpers.NO_SERVER)
    sizes = api.ApiSizes(
        days=2, calls_per_day=20, recording_share=0.3, window=2.0, count_scale=1, runs=2, extensions=4
    )
    rows = {r.metric: r for r in api.two_machines(tmp_path, sizes, log=lambda _: None)}
    assert rows["days archived completely"].met is True
    assert rows["days failed"].met is True
    assert rows["wall / floor"].value > 0 and rows["429s received (each starts a penalty)"].met is not None
    assert not list(tmp_path.glob("archive-2b*"))  # scratch archive removed

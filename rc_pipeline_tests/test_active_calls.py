"""Active-call snapshots (opt-in): raw answers kept as received, a typed table per day, the sensor, the plan."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import dagster as dg
import duckdb

from rc_pipeline.calls.active import build_active_call_table, snapshot_active_calls
from rc_pipeline.defs.build import build_definitions
from rc_pipeline.defs.names import ACTIVE_CALL_SNAPSHOTS, ACTIVE_CALLS_SENSOR, CALL_CHANGES_SENSOR
from rc_pipeline.defs.resources import (
    close_shared_clients,
    simulator_resources,
)
from rc_pipeline.plan import GroupLimit, Volume, format_plan, make_plan
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import ArchiveStorage, Dataset, page_line
from rc_pipeline.transform.schemas import ACTIVE_CALL_SNAPSHOTS_SCHEMA
from rc_pipeline.warehouse import build_warehouse
from rc_pipeline_tests.clienthelpers import client_for

STANDARD = {
    "Heavy": GroupLimit(10, 60.0, True),
    "Medium": GroupLimit(40, 60.0, True),
    "Light": GroupLimit(50, 60.0, True),
    "Auth": GroupLimit(5, 60.0, True),
}


class ReceivedPages:
    """The client, noting the bytes of every active-calls answer it received."""

    def __init__(self, client):
        self.client, self.raw = client, []

    def iter_active_call_pages(self):
        for page in self.client.iter_active_call_pages():
            self.raw.append(page.raw)
            yield page


def _resources(sim, root: str) -> dict[str, object]:
    """The simulator's resources, throttled alone: other processes on the machine share no budget here."""
    return simulator_resources(sim, root, throttle_dir="none")


def test_snapshot_keeps_the_answer_as_received_and_types_every_call(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=4000)
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim, throttle_dir=None) as client:
        spy = ReceivedPages(client)
        first = snapshot_active_calls(spy, storage, timezone="UTC", now=datetime(2026, 3, 1, 9, tzinfo=UTC))
        second = snapshot_active_calls(
            spy, storage, timezone="UTC", now=datetime(2026, 3, 1, 9, 1, tzinfo=UTC)
        )
    assert first.calls > 0 and first.pages == 1 and first.day == date(2026, 3, 1)
    # One request per snapshot, stored as received (one page a line).
    assert len(spy.raw) == 2 and sum(1 for e in sim.request_log.snapshot() if "active-calls" in e.path) == 2
    with open(first.path, "rb") as handle:
        assert gzip.decompress(handle.read()) == page_line(spy.raw[0]) + b"\n"
    table = storage.read_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, date(2026, 3, 1))
    assert table.schema == ACTIVE_CALL_SNAPSHOTS_SCHEMA
    assert table.num_rows == first.calls + second.calls == second.rows_of_day
    assert set(table.column("result").to_pylist()) == {"In Progress"}
    times = table.column("snapshot_time").to_pylist()
    assert {t.minute for t in times} == {0, 1}
    assert all(table.column("id").to_pylist()) and all(table.column("start_time").to_pylist())
    # Rebuilding from raw gives the same table.
    assert build_active_call_table(storage, date(2026, 3, 1)) == table.num_rows
    assert storage.read_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, date(2026, 3, 1)).equals(table)


def test_warehouse_has_an_active_call_snapshots_view(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    build_warehouse(storage)
    with duckdb.connect(storage.warehouse_path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM active_call_snapshots").fetchone() == (0,)
    day = date(2026, 3, 1)
    record = {
        "id": "a1",
        "startTime": "2026-03-01T08:59:00Z",
        "direction": "Inbound",
        "result": "In Progress",
    }
    page = json.dumps({"uri": "https://x/active-calls", "records": [record]}).encode()
    storage.write_active_calls_snapshot(day, datetime(2026, 3, 1, 9, tzinfo=UTC), [page])
    assert build_active_call_table(storage, day) == 1
    build_warehouse(storage)
    with duckdb.connect(storage.warehouse_path, read_only=True) as con:
        rows = con.execute("SELECT id, direction, partition_date FROM active_call_snapshots").fetchall()
    assert rows == [("a1", "Inbound", day)]


def _defs(sim, root, **settings):
    close_shared_clients()
    config = PipelineSettings(
        timezone="UTC", start_date="2026-01-01", schedule_hour=2, lookback_days=1, **settings
    )
    return build_definitions(config, resources=_resources(sim, root))


def test_the_active_calls_sensor_exists_only_when_switched_on(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=4000)
    off = _defs(sim, str(tmp_path)).get_repository_def()
    assert ACTIVE_CALLS_SENSOR not in {s.name for s in off.sensor_defs}
    assert CALL_CHANGES_SENSOR in {s.name for s in off.sensor_defs}
    defs = _defs(sim, str(tmp_path), active_calls_seconds=30.0)
    sensor = defs.get_repository_def().get_sensor_def(ACTIVE_CALLS_SENSOR)
    assert sensor.minimum_interval_seconds == 30
    with dg.build_sensor_context(resources=_resources(sim, str(tmp_path))) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    (event,) = result.asset_events
    assert event.asset_key == ACTIVE_CALL_SNAPSHOTS and event.metadata["active_calls"].value > 0
    day = date.fromisoformat(event.metadata["day"].value)
    storage = ArchiveStorage(str(tmp_path))
    rows = storage.read_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, day).num_rows
    assert rows > 0
    # The next tick keeps its snapshot as received but leaves the table for later (at most every 15
    # minutes: a rebuild reads the whole day); a cursor of another day rebuilds that day's table too.
    with dg.build_sensor_context(resources=_resources(sim, str(tmp_path)), cursor=result.cursor) as context:
        quick = sensor(context)
    assert not quick.asset_events and len(storage.active_calls_snapshot_paths(day)) == 2
    assert storage.read_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, day).num_rows == rows
    stale = json.dumps({"day": day.isoformat(), "table_built_at": "2000-01-01T00:00:00+00:00"})
    with dg.build_sensor_context(resources=_resources(sim, str(tmp_path)), cursor=stale) as context:
        (event,) = sensor(context).asset_events
    assert (
        storage.read_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, day).num_rows
        == event.metadata["dagster/row_count"].value
        > rows
    )
    close_shared_clients()


def test_plan_shows_what_capture_and_active_calls_cost():
    volume = Volume(days=10, calls_per_day=500, recordings_per_day=100, extensions=20)
    daily = make_plan(volume, STANDARD, date(2026, 1, 1), date(2026, 1, 10), lookback_days=1)
    # One extract-sync pass a day: 600 records fit one answer.
    assert daily.daily_breakdown["change_sync"] == 1 and daily.daily_breakdown["active_calls"] == 0
    text = format_plan(daily)
    assert "call-log-extract-sync daily: 1 Heavy requests/day (0.01% of the Heavy budget)" in text
    assert "Active-call snapshots: off" in text
    capture = make_plan(
        volume,
        STANDARD,
        date(2026, 1, 1),
        date(2026, 1, 10),
        lookback_days=1,
        capture_minutes=5,
        active_calls_seconds=30.0,
    )
    # 288 passes a day, each one answer; 2,880 snapshots a day.
    assert capture.daily_breakdown["change_sync"] == 288 and capture.daily_breakdown["active_calls"] == 2880
    heavy = next(g for g in capture.daily if g.group == "Heavy")
    # 2 days listed x 1 page, 100 recordings, one message export (4 requests: the message capture
    # vouches for the lookback day), the passes and the snapshots.
    assert heavy.requests == 2 * 1 + 100 + 4 + 288 + 2880
    text = format_plan(capture)
    assert (
        "call-log-extract-sync every 5 min (RC_CAPTURE_MINUTES): 288 Heavy requests/day (2.00% of the Heavy budget)"
        in text
    )
    assert (
        "every 30 s (RC_ACTIVE_CALLS_SECONDS): 2,880 Heavy requests/day (20.00% of the Heavy budget)" in text
    )
    # A busy account needs more than one answer per pass.
    busy = make_plan(
        Volume(days=1, calls_per_day=200_000, recordings_per_day=88_000, extensions=20),
        STANDARD,
        date(2026, 1, 1),
        date(2026, 1, 1),
        capture_minutes=60,
    )
    assert busy.daily_breakdown["change_sync"] == 24 * 12

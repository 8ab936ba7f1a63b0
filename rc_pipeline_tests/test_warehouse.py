"""Warehouse: views and marts over the Parquet archive, and the atomic rebuild."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest

from rc_pipeline.calls.tables import write_calls_and_legs
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform import (
    CALL_LEGS_SCHEMA,
    CALLS_SCHEMA,
    EXTENSIONS_SCHEMA,
    RECORDINGS_MANIFEST_SCHEMA,
    extensions_table,
    recordings_manifest_table,
)
from rc_pipeline.transform.sample_records import call_log_page, sample_extension_record
from rc_pipeline.warehouse import build as build_module
from rc_pipeline.warehouse import build_warehouse, query

DAY1 = date(2024, 5, 1)
DAY2 = date(2024, 5, 2)
EXT1 = 62000000001
EXT2 = 62000000002


def call(call_id, day, direction, result, seconds, ext, recording=None, leg_recording=None, deleted=None):
    record = {
        "id": call_id,
        "uri": f"https://platform.ringcentral.com/restapi/v1.0/account/1/call-log/{call_id}",
        "sessionId": f"s{call_id}",
        "type": "Voice",
        "direction": direction,
        "action": "Phone Call",
        "result": result,
        "startTime": f"{day.isoformat()}T10:00:00.000Z",
        "duration": seconds,
        "extension": {"id": ext, "uri": "u"},
        "lastModifiedTime": f"{day.isoformat()}T11:00:00.000Z",
        "legs": [
            {
                "legType": "PstnToSip",
                "master": True,
                "type": "Voice",
                "direction": direction,
                "action": "Phone Call",
                "startTime": f"{day.isoformat()}T10:00:00.000Z",
                "extension": {"id": ext, "uri": "u"},
            }
        ],
    }
    if recording:
        record["recording"] = {
            "id": recording,
            "uri": "u",
            "type": "Automatic",
            "contentUri": f"https://m/{recording}",
        }
    if leg_recording:
        record["legs"][0]["recording"] = {
            "id": leg_recording,
            "uri": "u",
            "type": "OnDemand",
            "contentUri": f"https://m/{leg_recording}",
        }
    if deleted is not None:
        record["deleted"] = deleted
    return record


DAY1_CALLS = [
    call("C1", DAY1, "Inbound", "Accepted", 100, EXT1, recording="R1"),
    call("C2", DAY1, "Inbound", "Missed", 20, EXT1),
    call("C3", DAY1, "Inbound", "Voicemail", 30, EXT2),
    call("C4", DAY1, "Outbound", "Call connected", 60, EXT1, leg_recording="R2"),
    call("C5", DAY1, "Inbound", "Accepted", 40, EXT2, recording="R3"),
]
DAY2_CALLS = [
    call("D1", DAY2, "Inbound", "Accepted", 50, EXT1),
    call("D2", DAY2, "Inbound", "Missed", 10, EXT1, deleted=True),
]


def load_day(storage: ArchiveStorage, day: date, records: list[dict]) -> None:
    write_calls_and_legs([call_log_page(records, 1, 1000, len(records))], day, storage)


@pytest.fixture
def archive(tmp_path) -> ArchiveStorage:
    storage = ArchiveStorage(str(tmp_path / "archive"))
    load_day(storage, DAY1, DAY1_CALLS)
    load_day(storage, DAY2, DAY2_CALLS)
    manifest = recordings_manifest_table(
        [
            {"recording_id": "R1", "call_id": "C1", "status": "verified", "bytes": 1000},
            {"recording_id": "R2", "call_id": "C4", "leg_index": 0, "status": "failed", "error": "HTTP 404"},
            {"recording_id": "R3", "call_id": "C5", "status": "downloaded", "bytes": 500},
        ],
        DAY1,
    )
    storage.write_parquet(Dataset.RECORDINGS, DAY1, manifest)
    old = sample_extension_record(1)
    old["name"] = "Old Name"
    storage.write_parquet(Dataset.EXTENSIONS, DAY1, extensions_table([old], DAY1))
    storage.write_parquet(
        Dataset.EXTENSIONS,
        DAY2,
        extensions_table([sample_extension_record(1), sample_extension_record(2)], DAY2),
    )
    return storage


def rows(path, sql):
    columns, values = query(path, sql)
    return [dict(zip(columns, row, strict=True)) for row in values]


def test_views_over_parquet(archive):
    stats = build_warehouse(archive, archive.warehouse_path)
    assert stats.row_counts == {
        "calls": 7,
        "call_legs": 7,
        "recordings": 3,
        "extensions_history": 3,
        "extensions": 2,
    }
    assert stats.empty_datasets == ()
    assert stats.metadata()["row_counts"]["calls"] == 7
    path = stats.path
    assert query(path, "SELECT * FROM calls LIMIT 0")[0] == CALLS_SCHEMA.names
    assert query(path, "SELECT * FROM call_legs LIMIT 0")[0] == CALL_LEGS_SCHEMA.names
    latest = rows(path, "SELECT id, name, snapshot_date FROM extensions ORDER BY id")
    assert latest == [
        {"id": EXT1, "name": "Agent 1", "snapshot_date": DAY2},
        {"id": EXT2, "name": "Agent 2", "snapshot_date": DAY2},
    ]
    assert rows(path, "SELECT count(*) AS n FROM extensions_history WHERE name = 'Old Name'") == [{"n": 1}]


def test_marts_have_correct_numbers(archive):
    path = build_warehouse(archive, archive.warehouse_path).path
    volume = rows(
        path,
        "SELECT day, extension_id, extension_name, direction, result, calls, talk_seconds "
        "FROM mart_daily_call_volume ORDER BY day, extension_id, direction, result",
    )
    assert volume == [
        {"day": DAY1, "extension_id": EXT1, "extension_name": "Agent 1", "direction": "Inbound",
         "result": "Accepted", "calls": 1, "talk_seconds": 100},
        {"day": DAY1, "extension_id": EXT1, "extension_name": "Agent 1", "direction": "Inbound",
         "result": "Missed", "calls": 1, "talk_seconds": 0},
        {"day": DAY1, "extension_id": EXT1, "extension_name": "Agent 1", "direction": "Outbound",
         "result": "Call connected", "calls": 1, "talk_seconds": 60},
        {"day": DAY1, "extension_id": EXT2, "extension_name": "Agent 2", "direction": "Inbound",
         "result": "Accepted", "calls": 1, "talk_seconds": 40},
        {"day": DAY1, "extension_id": EXT2, "extension_name": "Agent 2", "direction": "Inbound",
         "result": "Voicemail", "calls": 1, "talk_seconds": 0},
        {"day": DAY2, "extension_id": EXT1, "extension_name": "Agent 1", "direction": "Inbound",
         "result": "Accepted", "calls": 1, "talk_seconds": 50},
    ]  # fmt: skip
    missed = rows(path, "SELECT * FROM mart_missed_call_rate ORDER BY day, extension_id")
    assert missed == [
        {"day": DAY1, "extension_id": EXT1, "inbound_calls": 2, "missed_calls": 1, "missed_rate": 0.5},
        {"day": DAY1, "extension_id": EXT2, "inbound_calls": 2, "missed_calls": 1, "missed_rate": 0.5},
        {"day": DAY2, "extension_id": EXT1, "inbound_calls": 1, "missed_calls": 0, "missed_rate": 0.0},
    ]
    talk = rows(path, "SELECT * FROM mart_avg_talk_time ORDER BY day, direction")
    assert talk == [
        {"day": DAY1, "direction": "Inbound", "answered_calls": 2, "avg_talk_seconds": 70.0},
        {"day": DAY1, "direction": "Outbound", "answered_calls": 1, "avg_talk_seconds": 60.0},
        {"day": DAY2, "direction": "Inbound", "answered_calls": 1, "avg_talk_seconds": 50.0},
    ]
    coverage = rows(path, "SELECT * FROM mart_recording_coverage ORDER BY day")
    assert coverage[0] == {
        "day": DAY1,
        "calls": 5,
        "calls_with_recording": 3,
        "recordings_referenced": 3,
        "recordings_verified": 1,
        "coverage_ratio": pytest.approx(1 / 3),
    }
    assert coverage[1] == {
        "day": DAY2,
        "calls": 1,
        "calls_with_recording": 0,
        "recordings_referenced": 0,
        "recordings_verified": 0,
        "coverage_ratio": None,
    }


def test_empty_archive_still_has_queryable_views(tmp_path):
    storage = ArchiveStorage(str(tmp_path / "fresh"))
    stats = build_warehouse(storage, storage.warehouse_path)
    assert set(stats.empty_datasets) == {"calls", "call_legs", "recordings", "extensions_history"}
    schemas = {
        "calls": CALLS_SCHEMA,
        "call_legs": CALL_LEGS_SCHEMA,
        "recordings": RECORDINGS_MANIFEST_SCHEMA,
        "extensions_history": EXTENSIONS_SCHEMA,
        "extensions": EXTENSIONS_SCHEMA,
    }
    for view, schema in schemas.items():
        columns, values = query(stats.path, f"SELECT * FROM {view}")
        assert (columns, values) == (schema.names, [])
    for mart in stats.marts:
        assert query(stats.path, f"SELECT * FROM {mart}")[1] == []
    types = dict(query(stats.path, "SELECT column_name, column_type FROM (DESCRIBE calls)")[1])
    assert types["start_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["extension_id"] == "BIGINT" and types["partition_date"] == "DATE"


def test_warehouse_works_from_any_working_directory(archive, tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "wh.duckdb"
    build_warehouse(archive, target)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert query("wh.duckdb", "SELECT count(*) FROM calls")[1] == [(7,)]


def test_failed_build_keeps_previous_warehouse(archive, monkeypatch):
    path = build_warehouse(archive, archive.warehouse_path).path
    before = Path(path).read_bytes()
    monkeypatch.setitem(
        build_module.MART_SQL, "mart_broken", "CREATE VIEW mart_broken AS SELECT * FROM nowhere"
    )
    with pytest.raises(Exception, match="nowhere"):
        build_warehouse(archive, path)
    assert Path(path).read_bytes() == before
    assert [p.name for p in Path(path).parent.glob(".tmp-*")] == []


READER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, stop = sys.argv[1], sys.argv[2]
    con = duckdb.connect(path, read_only=True)
    sql = "SELECT count(*) FROM extensions_history"
    print("ready", con.execute(sql).fetchone()[0], flush=True)
    failures = 0
    seen = set()
    import os
    while not os.path.exists(stop):
        try:
            seen.add(con.execute(sql).fetchone()[0])
        except Exception:
            failures += 1
        time.sleep(0.005)
    print("done", sorted(seen), failures, flush=True)
    """
)


def test_rebuild_while_a_reader_holds_the_old_file(tmp_path):
    storage = ArchiveStorage(str(tmp_path / "archive"))
    load_day(storage, DAY1, DAY1_CALLS)
    path = build_warehouse(storage, storage.warehouse_path).path
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, path, str(stop)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().split() == ["ready", "0"]
        # The first build had no extensions, so its view is a fixed empty one; only a
        # rebuilt file reads the snapshot written now. That tells old file from new.
        storage.write_parquet(Dataset.EXTENSIONS, DAY1, extensions_table([sample_extension_record(1)], DAY1))
        load_day(storage, DAY2, DAY2_CALLS)
        for _ in range(3):
            build_warehouse(storage, storage.warehouse_path)
        # A connection opened now, from another process than the reader, sees the new file.
        assert query(path, "SELECT count(*) FROM extensions_history")[1] == [(1,)]
        assert query(path, "SELECT count(*) FROM calls")[1] == [(7,)]
        stop.touch()
        out, _ = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    # The reader kept querying its old file the whole time, without error or a half state.
    assert out.split() == ["done", "[0]", "0"]

"""Transform: raw call-log pages -> typed calls / call_legs, plus extensions, recordings, checks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rc_pipeline.calls.tables import write_calls_and_legs
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform import (
    CALL_LEGS_SCHEMA,
    CALLS_SCHEMA,
    EXTENSIONS_SCHEMA,
    RECORDINGS_MANIFEST_SCHEMA,
    build_calls_and_legs,
    duplicate_ids,
    extensions_table,
    orphan_legs,
    recordings_manifest_table,
    recordings_referenced,
    records_from_pages,
    records_outside_window,
)
from rc_pipeline.transform.sample_records import (
    call_log_page,
    sample_call_log_pages,
    sample_call_record,
    sample_extension_record,
)

DAY = date(2024, 5, 1)


def minimal_record(call_id: str) -> dict:
    """Only the fields the spec marks required on a CallLogRecord."""
    return {
        "id": call_id,
        "uri": f"https://platform.ringcentral.com/restapi/v1.0/account/1/call-log/{call_id}",
        "sessionId": "4001",
        "type": "Voice",
        "direction": "Inbound",
        "action": "Phone Call",
        "startTime": "2024-05-01T10:00:00.000Z",
    }


def version(call_id: str, modified: str, result: str, legs: int = 1) -> dict:
    record = sample_call_record(7, DAY)
    record.update(id=call_id, lastModifiedTime=modified, result=result)
    record["legs"] = record["legs"][:legs]
    return record


def page(records: list[dict], number: int = 1) -> bytes:
    return call_log_page(records, number, 1000, None)


def test_tables_have_exactly_the_explicit_schemas(tmp_path):
    pages = list(sample_call_log_pages(DAY, 50, per_page=20))
    calls, legs = build_calls_and_legs(records_from_pages(pages), DAY)
    assert calls.schema.equals(CALLS_SCHEMA, check_metadata=True)
    assert legs.schema.equals(CALL_LEGS_SCHEMA, check_metadata=True)
    assert calls.num_rows == 50 and legs.num_rows == sum(len(r["legs"]) for r in records_from_pages(pages))
    storage = ArchiveStorage(str(tmp_path))
    write_calls_and_legs(pages, DAY, storage)
    assert storage.read_parquet(Dataset.CALLS, DAY).schema.equals(CALLS_SCHEMA)
    assert storage.read_parquet(Dataset.CALL_LEGS, DAY).schema.equals(CALL_LEGS_SCHEMA)
    assert storage.read_parquet(Dataset.CALLS, DAY).equals(calls)
    assert CALLS_SCHEMA.field("start_time").type == pa.timestamp("ms", tz="UTC")
    assert CALLS_SCHEMA.field("id").type == pa.string()
    assert CALLS_SCHEMA.field("extension_id").type == pa.int64()


def test_values_are_typed_from_the_record():
    record = sample_call_record(3, DAY)
    record["recording"] = {"id": "777", "uri": "u", "type": "Automatic", "contentUri": "https://media/777"}
    calls, _ = build_calls_and_legs([record], DAY)
    row = calls.to_pylist()[0]
    assert row["id"] == record["id"]
    assert row["partition_date"] == DAY
    assert row["start_time"] == datetime.fromisoformat(record["startTime"]).astimezone(UTC)
    assert row["duration_s"] == record["duration"] and row["duration_ms"] == record["durationMs"]
    assert row["extension_id"] == record["extension"]["id"]
    party = record["to"] if record["direction"] == "Inbound" else record["from"]
    side = "to" if record["direction"] == "Inbound" else "from"
    assert row[f"{side}_extension_id"] == int(party["extensionId"])
    assert row[f"{side}_extension_number"] == party["extensionNumber"]
    assert (row["recording_id"], row["recording_type"], row["recording_content_uri"]) == (
        "777",
        "Automatic",
        "https://media/777",
    )
    assert row["billing_cost_purchased"] == record["billing"]["costPurchased"]
    assert row["leg_count"] == len(record["legs"])


def test_dedup_keeps_newest_last_modified_time(tmp_path):
    newest = version("A", "2024-05-01T12:00:00.000Z", "Accepted", legs=2)
    older = version("A", "2024-05-01T11:00:00.000Z", "Missed", legs=3)
    no_time = version("A", "2024-05-01T11:30:00.000Z", "Busy", legs=1)
    del no_time["lastModifiedTime"]
    other = version("B", "2024-05-01T09:00:00.000Z", "Accepted", legs=1)
    # The newest version is listed first: order of listing must not decide.
    pages = [page([newest, other]), page([older]), page([no_time])]
    calls, legs = build_calls_and_legs(records_from_pages(pages), DAY)
    assert sorted(calls.column("id").to_pylist()) == ["A", "B"]
    a_row = calls.filter(pa.compute.equal(calls.column("id"), "A")).to_pylist()[0]
    assert a_row["result"] == "Accepted" and a_row["leg_count"] == 2
    assert legs.column("call_id").to_pylist().count("A") == 2
    assert duplicate_ids(calls) == []

    storage = ArchiveStorage(str(tmp_path))
    # Tiny batches put the versions in different parser batches.
    stats = write_calls_and_legs(pages, DAY, storage, batch_bytes=1)
    assert (stats.records_read, stats.calls, stats.duplicates_dropped, stats.legs) == (4, 2, 2, 3)
    assert storage.read_parquet(Dataset.CALLS, DAY).equals(calls)
    assert storage.read_parquet(Dataset.CALL_LEGS, DAY).equals(legs)


def test_equal_times_keep_the_later_listing():
    first = version("A", "2024-05-01T12:00:00.000Z", "Missed")
    second = version("A", "2024-05-01T12:00:00.000Z", "Accepted")
    calls, _ = build_calls_and_legs([first, second], DAY)
    assert calls.column("result").to_pylist() == ["Accepted"]


def test_legs_carry_their_own_extension_and_recording():
    record = sample_call_record(1, DAY)
    record["legs"] = [
        {**record["legs"][0], "legType": "PstnToSip", "master": True, "extension": {"id": 101, "uri": "u"}},
        {
            **record["legs"][0],
            "legType": "TransferCall",
            "master": False,
            "extension": {"id": 202, "uri": "u"},
            "to": {"extensionNumber": "202", "extensionId": "202", "name": "Transfer target"},
            "recording": {"id": "rec-leg", "uri": "u", "type": "OnDemand", "contentUri": "https://m/rec-leg"},
        },
    ]
    record["extension"] = {"id": 101, "uri": "u"}
    record.pop("recording", None)
    calls, legs = build_calls_and_legs([record], DAY)
    rows = legs.to_pylist()
    assert [r["leg_index"] for r in rows] == [0, 1]
    assert [r["extension_id"] for r in rows] == [101, 202]
    assert [r["master"] for r in rows] == [True, False]
    assert rows[1]["to_extension_id"] == 202 and rows[1]["to_name"] == "Transfer target"
    assert (rows[0]["recording_id"], rows[1]["recording_id"]) == (None, "rec-leg")
    assert rows[1]["recording_type"] == "OnDemand"
    assert all(r["call_id"] == record["id"] for r in rows)
    assert calls.column("recording_id").to_pylist() == [None]


def test_missing_optional_fields_become_null():
    calls, legs = build_calls_and_legs([minimal_record("M1")], DAY)
    row = calls.to_pylist()[0]
    required = {"id", "session_id", "partition_date", "start_time", "type", "direction", "action"}
    assert all(row[name] is not None for name in required)
    assert all(value is None for name, value in row.items() if name not in required)
    assert legs.num_rows == 0


def test_unknown_fields_are_ignored_and_stray_types_are_coerced(tmp_path):
    record = sample_call_record(2, DAY)
    record["brandNewField"] = {"nested": [1, 2]}
    record["duration"] = "42"  # a string where the spec says integer
    record["from"] = {"extensionId": 62000000001, "name": "Agent 1"}  # a number where it says string
    record["startTime"] = "not a time"
    storage = ArchiveStorage(str(tmp_path))
    stats = write_calls_and_legs([page([record])], DAY, storage)
    assert stats.calls == 1
    row = storage.read_parquet(Dataset.CALLS, DAY).to_pylist()[0]
    assert row["duration_s"] == 42
    assert row["from_extension_id"] == 62000000001
    assert row["start_time"] is None


def test_records_without_id_are_dropped_and_counted(tmp_path):
    nameless = minimal_record("X")
    del nameless["id"]
    storage = ArchiveStorage(str(tmp_path))
    stats = write_calls_and_legs([page([nameless, minimal_record("Y")])], DAY, storage)
    assert (stats.records_read, stats.calls, stats.records_without_id) == (2, 1, 1)


def test_pretty_printed_and_empty_pages(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    pages = list(sample_call_log_pages(DAY, 12, per_page=5, pretty=True))
    pages.append(json.dumps({"records": [], "paging": {"page": 9}}).encode())
    stats = write_calls_and_legs(pages, DAY, storage)
    assert stats.calls == 12
    expected, _ = build_calls_and_legs(records_from_pages(pages), DAY)
    assert storage.read_parquet(Dataset.CALLS, DAY).equals(expected)


def test_empty_day_writes_empty_typed_partitions(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    stats = write_calls_and_legs([page([])], DAY, storage)
    assert (stats.calls, stats.legs) == (0, 0)
    assert storage.read_parquet(Dataset.CALLS, DAY).schema.equals(CALLS_SCHEMA)
    assert storage.list_partitions(Dataset.CALLS) == [DAY]


def test_streaming_matches_in_memory_and_reruns_are_identical(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    storage.write_raw_call_log(DAY, sample_call_log_pages(DAY, 700, per_page=100), "a", "b")
    first = write_calls_and_legs(storage.read_raw_call_log_pages(DAY), DAY, storage, batch_bytes=200_000)
    calls_path = storage.parquet_path(Dataset.CALLS, DAY)
    legs_path = storage.parquet_path(Dataset.CALL_LEGS, DAY)
    calls_bytes, legs_bytes = open(calls_path, "rb").read(), open(legs_path, "rb").read()
    second = write_calls_and_legs(storage.read_raw_call_log_pages(DAY), DAY, storage, batch_bytes=200_000)
    assert first == second
    assert open(calls_path, "rb").read() == calls_bytes
    assert open(legs_path, "rb").read() == legs_bytes
    calls, legs = build_calls_and_legs(records_from_pages(storage.read_raw_call_log_pages(DAY)), DAY)
    assert pq.read_table(calls_path).equals(calls)
    assert pq.read_table(legs_path).equals(legs)
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []


def test_extensions_table():
    records = [sample_extension_record(2), sample_extension_record(1), sample_extension_record(2, "Disabled")]
    records.append({"id": "not-a-number", "name": "ignored"})
    table = extensions_table(records, DAY)
    assert table.schema.equals(EXTENSIONS_SCHEMA)
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [62000000001, 62000000002]
    assert rows[1]["status"] == "Disabled"
    assert rows[0]["email"] == "agent1@example.com" and rows[0]["site_name"] == "Headquarters"
    assert rows[0]["creation_time"] == datetime(2023, 1, 15, 10, tzinfo=UTC)
    assert all(r["snapshot_date"] == DAY for r in rows)


def test_recordings_referenced_from_calls_and_legs():
    record = sample_call_record(1, DAY)
    shared = {"id": "R1", "uri": "u", "type": "Automatic", "contentUri": "https://m/R1"}
    record["recording"] = shared
    record["legs"] = [{**record["legs"][0], "recording": shared}, {**record["legs"][0], "recording": None}]
    record["legs"].append(
        {**record["legs"][0], "recording": {**shared, "id": "R2", "contentUri": "https://m/R2"}}
    )
    other = minimal_record("C2")
    calls, legs = build_calls_and_legs([record, other], DAY)
    refs = recordings_referenced(calls, legs)
    assert [(r.recording_id, r.call_id, r.leg_index, r.content_uri) for r in refs] == [
        ("R1", record["id"], None, "https://m/R1"),
        ("R2", record["id"], 2, "https://m/R2"),
    ]


def test_recordings_manifest_table():
    rows = [
        {"recording_id": "R1", "call_id": "A", "status": "failed", "error": "HTTP 500"},
        {"recording_id": "R1", "call_id": "A", "status": "verified", "bytes": 10, "sha256": "ab"},
        {"recording_id": 5, "call_id": "B", "leg_index": 1, "status": "missing"},
    ]
    table = recordings_manifest_table(rows, DAY)
    assert table.schema.equals(RECORDINGS_MANIFEST_SCHEMA)
    assert table.select(["recording_id", "status"]).to_pylist() == [
        {"recording_id": "R1", "status": "verified"},
        {"recording_id": "5", "status": "missing"},
    ]
    with pytest.raises(ValueError):
        recordings_manifest_table([{"recording_id": "R", "status": "done"}], DAY)


def test_checks():
    a = minimal_record("A")
    b = {**minimal_record("B"), "startTime": "2024-05-02T00:00:00.000Z"}
    c = {**minimal_record("C"), "startTime": "2024-04-30T23:59:59.999Z"}
    calls, _ = build_calls_and_legs([a, b, c], DAY)
    window = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    assert records_outside_window(calls, *window) == ["B", "C"]
    with pytest.raises(ValueError):
        records_outside_window(calls, datetime(2024, 5, 1), datetime(2024, 5, 2))
    doubled = pa.concat_tables([calls, calls.slice(0, 1)])
    assert duplicate_ids(doubled) == ["A"]
    legs = pa.table({"call_id": ["A", "Z", "Z"], "leg_index": [0, 0, 1]})
    assert orphan_legs(calls, legs) == ["Z"]


def test_an_attachment_seen_and_not_fetched_stays_missing_after_a_purge():
    """`purged_at_source` only for messages never seen with their content: a fetch that failed before
    the user purged the message is a loss the completeness check must report."""
    from datetime import date as _date

    from rc_pipeline.transform.messages import MessageRecord, attachments_table, unique_messages

    fax = {
        "id": 7,
        "type": "Fax",
        "availability": "Alive",
        "lastModifiedTime": "2026-03-01T10:00:00.000Z",
        "attachments": [{"id": 70, "type": "RenderedDocument", "contentType": "application/pdf"}],
    }
    purged = {**fax, "availability": "Purged", "lastModifiedTime": "2026-03-01T11:00:00.000Z"}
    seen_then_purged, _, _ = unique_messages([MessageRecord(fax, 1), MessageRecord(purged, 1)])
    rows = attachments_table(seen_then_purged, {}, _date(2026, 3, 1)).to_pylist()
    assert [r["status"] for r in rows] == ["missing"]
    only_purged, _, _ = unique_messages([MessageRecord(purged, 1)])
    rows = attachments_table(only_purged, {}, _date(2026, 3, 1)).to_pylist()
    assert [r["status"] for r in rows] == ["purged_at_source"]

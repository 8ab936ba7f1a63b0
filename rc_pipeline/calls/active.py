"""Active-call snapshots: what RingCentral's `active-calls` answers at a moment, kept as received, and
the typed `active_call_snapshots` table of each day.

`active-calls` is a cache of calls in progress and of calls that ended within about the last 120 s: a
sample of the phone system every N seconds, never a real-time feed (a call shorter than the interval can
fall between two snapshots). It costs one Heavy request per snapshot (1,000 calls a page). The call log
stays the record of every call; snapshots only add what was live when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.columns import calls_batch
from rc_pipeline.transform.pages import records_array_from_dicts, records_from_pages
from rc_pipeline.transform.schemas import ACTIVE_CALL_SNAPSHOTS_SCHEMA, TIMESTAMP


@dataclass(frozen=True)
class ActiveSnapshot:
    day: date
    taken_at: datetime
    calls: int
    pages: int
    path: str
    # None when this snapshot did not rebuild the day's table (see `snapshot_active_calls`).
    rows_of_day: int | None


def snapshot_table(records: list[dict[str, Any]], taken_at: datetime, day: date) -> pa.Table:
    """One snapshot's records as typed rows (the call log's column code, narrowed to what active calls have)."""
    if not records:
        return ACTIVE_CALL_SNAPSHOTS_SCHEMA.empty_table()
    calls = calls_batch(records_array_from_dicts(records), day)
    columns = {
        "snapshot_time": pa.array([taken_at] * len(records), type=TIMESTAMP),
        **{
            name: calls.column(name) for name in ACTIVE_CALL_SNAPSHOTS_SCHEMA.names if name != "snapshot_time"
        },
    }
    return pa.table(columns, schema=ACTIVE_CALL_SNAPSHOTS_SCHEMA)


def build_active_call_table(storage: ArchiveStorage, day: date) -> int:
    """Rebuild the day's `active_call_snapshots` from every raw snapshot of the day; returns its rows.

    Whole and atomic, like every table: re-running gives the same file.
    """
    tables = []
    for path in storage.active_calls_snapshot_paths(day):
        records = list(records_from_pages(storage.read_capture_lines(path)))
        tables.append(snapshot_table(records, storage.active_calls_snapshot_time(path), day))
    table = (
        pa.concat_tables(tables) if tables else ACTIVE_CALL_SNAPSHOTS_SCHEMA.empty_table()
    ).combine_chunks()
    return storage.write_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, day, table)


def snapshot_active_calls(
    client: Any,
    storage: ArchiveStorage,
    *,
    timezone: str,
    now: datetime | None = None,
    rebuild: bool = True,
) -> ActiveSnapshot:
    """Take one snapshot: list the account's active calls, keep the answer as received, and (with
    ``rebuild``) rebuild the day's table from every snapshot of the day. The table is rebuilt whole,
    which reads the whole day: a caller snapshotting every few seconds rebuilds it less often."""
    pages = list(client.iter_active_call_pages())
    taken_at = (now or datetime.now(UTC)).astimezone(UTC)
    day = taken_at.astimezone(ZoneInfo(timezone)).date()
    path = storage.write_active_calls_snapshot(day, taken_at, [p.raw for p in pages])
    rows = build_active_call_table(storage, day) if rebuild else None
    calls = sum(len(p.records) for p in pages)
    return ActiveSnapshot(day, taken_at, calls, len(pages), path, rows)

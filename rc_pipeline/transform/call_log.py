"""Raw call-log records -> typed `calls` and `call_legs` tables (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import pyarrow as pa

from rc_pipeline.transform.columns import calls_batch, legs_batch, with_ids
from rc_pipeline.transform.dedup import latest_version_mask
from rc_pipeline.transform.pages import records_array_from_dicts
from rc_pipeline.transform.schemas import CALL_LEGS_SCHEMA, CALLS_SCHEMA


def build_calls_and_legs(
    records: Iterable[dict[str, Any]], partition_date: date
) -> tuple[pa.Table, pa.Table]:
    """Typed ``(calls, legs)`` tables from parsed records, one call per id (newest version).

    The in-memory counterpart of `rc_pipeline.calls.tables.write_calls_and_legs` (which streams
    large days to Parquet); both share the same column code so they cannot drift apart.
    """
    array = with_ids(records_array_from_dicts(records))
    calls = calls_batch(array, partition_date)
    legs, parent = legs_batch(array, partition_date)
    keep = latest_version_mask(calls.column("id"), calls.column("last_modified_time").cast(pa.int64()))
    calls_table = pa.Table.from_batches([calls.filter(pa.array(keep))], schema=CALLS_SCHEMA)
    legs_table = pa.Table.from_batches([legs.filter(pa.array(keep[parent]))], schema=CALL_LEGS_SCHEMA)
    return calls_table, legs_table

"""Which recordings the call log references, and the typed manifest of what was archived."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from rc_pipeline.transform.schemas import RECORDING_STATUSES, RECORDINGS_MANIFEST_SCHEMA


@dataclass(frozen=True)
class RecordingRef:
    """A recording the call log points at: what the downloader must fetch."""

    recording_id: str
    call_id: str
    leg_index: int | None
    content_uri: str | None
    recording_type: str | None


def recordings_referenced(calls: pa.Table, legs: pa.Table) -> list[RecordingRef]:
    """Unique recordings referenced by calls or their legs.

    A recording listed on both the call and a leg is reported once, as the call's (the
    call-level reference is the canonical one); order is calls first, then legs, in table
    order, so the result is stable across re-runs.
    """
    seen: dict[str, RecordingRef] = {}
    call_rows = calls.select(["recording_id", "id", "recording_content_uri", "recording_type"]).to_pylist()
    for row in call_rows:
        if row["recording_id"] and row["recording_id"] not in seen:
            seen[row["recording_id"]] = RecordingRef(
                row["recording_id"], row["id"], None, row["recording_content_uri"], row["recording_type"]
            )
    leg_columns = ["recording_id", "call_id", "leg_index", "recording_content_uri", "recording_type"]
    for row in legs.select(leg_columns).to_pylist():
        if row["recording_id"] and row["recording_id"] not in seen:
            seen[row["recording_id"]] = RecordingRef(
                row["recording_id"],
                row["call_id"],
                row["leg_index"],
                row["recording_content_uri"],
                row["recording_type"],
            )
    return list(seen.values())


def recordings_manifest_table(rows: Iterable[Mapping[str, Any]], partition_date: date) -> pa.Table:
    """Typed manifest rows (keys as in `RECORDINGS_MANIFEST_SCHEMA`), one per recording id.

    A later row for the same id replaces an earlier one (a retry's outcome is the truth).
    """
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:
        status = row.get("status")
        if status not in RECORDING_STATUSES:
            raise ValueError(f"recording status {status!r} is not one of {RECORDING_STATUSES}")
        entry = {name: row.get(name) for name in RECORDINGS_MANIFEST_SCHEMA.names}
        entry["recording_id"] = str(row["recording_id"])
        entry["partition_date"] = partition_date
        by_id[entry["recording_id"]] = entry
    return pa.Table.from_pylist(list(by_id.values()), schema=RECORDINGS_MANIFEST_SCHEMA)


def has_deadline(ref: RecordingRef) -> bool:
    """Whether RingCentral's time limit deletes the recording: automatic ones (an unknown type is
    taken as automatic, the stricter reading); on-demand recordings stay."""
    return ref.recording_type != "OnDemand"

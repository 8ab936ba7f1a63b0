"""Vectorised conversion of Arrow record structs into the typed `calls` / `call_legs` columns."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rc_pipeline.transform.schemas import CALL_LEGS_SCHEMA, CALLS_SCHEMA, TIMESTAMP

_INTEGER_TEXT = r"^\s*-?[0-9]{1,18}\s*$"


def field(array: pa.Array, *names: str) -> pa.Array:
    """Nested child by names; a null parent gives a null child (unlike StructArray.field)."""
    indices = []
    arrow_type = array.type
    for name in names:
        index = arrow_type.get_field_index(name)
        indices.append(index)
        arrow_type = arrow_type.field(index).type
    return pc.struct_field(array, indices)


def to_timestamp(text: pa.Array) -> pa.Array:
    """ISO 8601 strings -> timestamp[ms, UTC]; unparseable values become null rather than fail the day."""
    try:
        return pc.cast(text, TIMESTAMP)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([parse_iso(v) for v in text.to_pylist()], type=TIMESTAMP)


def parse_iso(value: object) -> datetime | None:
    """A RingCentral ISO 8601 time (`2016-03-10T18:07:52.534Z`) as an aware datetime; None when the
    value is missing, not text or not a time, because one bad field must not fail a whole day."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # A timestamp without an offset is taken as UTC, which is what RingCentral means by it.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_int64_id(text: pa.Array) -> pa.Array:
    """Numeric id strings -> int64; anything else becomes null (the raw layer keeps the text)."""
    numeric = pc.match_substring_regex(text, _INTEGER_TEXT)
    return pc.cast(pc.utf8_trim_whitespace(pc.if_else(numeric, text, None)), pa.int64())


def _party(records: pa.Array, key: str, prefix: str) -> dict[str, pa.Array]:
    return {
        f"{prefix}_phone_number": field(records, key, "phoneNumber"),
        f"{prefix}_extension_number": field(records, key, "extensionNumber"),
        f"{prefix}_extension_id": to_int64_id(field(records, key, "extensionId")),
        f"{prefix}_name": field(records, key, "name"),
        f"{prefix}_location": field(records, key, "location"),
    }


def _recording(records: pa.Array) -> dict[str, pa.Array]:
    return {
        "recording_id": field(records, "recording", "id"),
        "recording_type": field(records, "recording", "type"),
        "recording_content_uri": field(records, "recording", "contentUri"),
    }


def _constant_date(day: date, length: int) -> pa.Array:
    return pa.repeat(pa.scalar(day, pa.date32()), length)


def _batch(columns: dict[str, pa.Array], schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)


def calls_batch(records: pa.Array, partition_date: date) -> pa.RecordBatch:
    """One `CALLS_SCHEMA` row per record (records must have non-null ids)."""
    legs = field(records, "legs")
    columns = {
        "id": field(records, "id"),
        "session_id": field(records, "sessionId"),
        "telephony_session_id": field(records, "telephonySessionId"),
        "partition_date": _constant_date(partition_date, len(records)),
        "start_time": to_timestamp(field(records, "startTime")),
        "duration_s": field(records, "duration"),
        "duration_ms": field(records, "durationMs"),
        "type": field(records, "type"),
        "direction": field(records, "direction"),
        "action": field(records, "action"),
        "result": field(records, "result"),
        "reason": field(records, "reason"),
        "reason_description": field(records, "reasonDescription"),
        "internal_type": field(records, "internalType"),
        "transport": field(records, "transport"),
        **_party(records, "from", "from"),
        **_party(records, "to", "to"),
        "extension_id": field(records, "extension", "id"),
        **_recording(records),
        "short_recording": field(records, "shortRecording"),
        "billing_cost_included": field(records, "billing", "costIncluded"),
        "billing_cost_purchased": field(records, "billing", "costPurchased"),
        "last_modified_time": to_timestamp(field(records, "lastModifiedTime")),
        "leg_count": pc.list_value_length(legs).cast(pa.int32()),
        "deleted": field(records, "deleted"),
    }
    return _batch(columns, CALLS_SCHEMA)


def legs_batch(records: pa.Array, partition_date: date) -> tuple[pa.RecordBatch, np.ndarray]:
    """`CALL_LEGS_SCHEMA` rows for every leg of ``records``, and each leg's record index."""
    legs_list = field(records, "legs")
    legs = pc.list_flatten(legs_list)
    # Indices computed from lengths (null lists count 0) so they line up with list_flatten.
    lengths = pc.fill_null(pc.list_value_length(legs_list), 0).to_numpy(zero_copy_only=False)
    parent = np.repeat(np.arange(len(records), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    leg_index = np.arange(len(parent), dtype=np.int64) - starts[parent]
    columns = {
        "call_id": pc.take(field(records, "id"), pa.array(parent)),
        "leg_index": pa.array(leg_index.astype(np.int32)),
        "leg_type": field(legs, "legType"),
        "master": field(legs, "master"),
        "start_time": to_timestamp(field(legs, "startTime")),
        "duration_s": field(legs, "duration"),
        "type": field(legs, "type"),
        "direction": field(legs, "direction"),
        "action": field(legs, "action"),
        "result": field(legs, "result"),
        "reason": field(legs, "reason"),
        **_party(legs, "from", "from"),
        **_party(legs, "to", "to"),
        "extension_id": field(legs, "extension", "id"),
        **_recording(legs),
        "partition_date": _constant_date(partition_date, len(legs)),
    }
    return _batch(columns, CALL_LEGS_SCHEMA), parent


def with_ids(records: pa.Array) -> pa.Array:
    """Drop records without an id: they cannot be keyed, and the raw layer still holds them."""
    ids = field(records, "id")
    if ids.null_count == 0:
        return records
    return records.filter(pc.is_valid(ids))

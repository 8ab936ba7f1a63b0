"""Extension list records -> the typed `extensions` snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pyarrow as pa

from rc_pipeline.transform.columns import to_timestamp
from rc_pipeline.transform.raw_shapes import coerce
from rc_pipeline.transform.schemas import EXTENSIONS_SCHEMA


def _text(value: Any) -> str | None:
    return coerce(value, pa.string())


def _nested(record: Mapping[str, Any], key: str, name: str) -> Any:
    inner = record.get(key)
    return inner.get(name) if isinstance(inner, Mapping) else None


def extensions_table(records: Iterable[Mapping[str, Any]], snapshot_date: date) -> pa.Table:
    """One row per extension id (the last listing of an id wins), sorted by id.

    The directory is small (thousands of rows), so plain Python is fast enough here.
    """
    rows: dict[int, dict[str, Any]] = {}
    for record in records:
        ext_id = coerce(record.get("id"), pa.int64())
        if ext_id is None:
            continue
        rows[ext_id] = {
            "id": ext_id,
            "extension_number": _text(record.get("extensionNumber")),
            "name": _text(record.get("name")),
            "type": _text(record.get("type")),
            "sub_type": _text(record.get("subType")),
            "status": _text(record.get("status")),
            "first_name": _text(_nested(record, "contact", "firstName")),
            "last_name": _text(_nested(record, "contact", "lastName")),
            "email": _text(_nested(record, "contact", "email")),
            "department": _text(_nested(record, "contact", "department")),
            "job_title": _text(_nested(record, "contact", "jobTitle")),
            "site_id": _text(_nested(record, "site", "id")),
            "site_name": _text(_nested(record, "site", "name")),
            "hidden": coerce(record.get("hidden"), pa.bool_()),
            "creation_time": _text(record.get("creationTime")),
        }
    ordered = [rows[key] for key in sorted(rows)]
    columns: dict[str, pa.Array] = {}
    for schema_field in EXTENSIONS_SCHEMA:
        if schema_field.name == "snapshot_date":
            columns["snapshot_date"] = pa.array([snapshot_date] * len(ordered), pa.date32())
        elif schema_field.name == "creation_time":
            columns["creation_time"] = to_timestamp(
                pa.array([r["creation_time"] for r in ordered], pa.string())
            )
        else:
            columns[schema_field.name] = pa.array([r[schema_field.name] for r in ordered], schema_field.type)
    return pa.Table.from_arrays([columns[f.name] for f in EXTENSIONS_SCHEMA], schema=EXTENSIONS_SCHEMA)

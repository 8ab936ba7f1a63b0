"""Raw call-log pages -> records, as Python dicts (small inputs) or Arrow arrays (bulk)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json

from rc_pipeline.storage import page_line
from rc_pipeline.transform.raw_shapes import PAGE_SCHEMA, RECORD_TYPE, coerce

# ~32 MB of page text per parse: big enough for the multi-threaded parser to pay off,
# small enough to keep a day's transform well under its memory budget.
BATCH_BYTES = 32 << 20
_MIN_BLOCK = 4 << 20

_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=PAGE_SCHEMA, unexpected_field_behavior="ignore")


def records_from_pages(pages: Iterable[bytes | str]) -> Iterator[dict[str, Any]]:
    """Each record of each page, as parsed JSON, in page order."""
    for page in pages:
        parsed = json.loads(page)
        records = parsed.get("records") if isinstance(parsed, dict) else None
        if isinstance(records, list):
            yield from (r for r in records if isinstance(r, dict))


def batched_page_lines(pages: Iterable[bytes | str], batch_bytes: int = BATCH_BYTES) -> Iterator[list[bytes]]:
    """Group pages, normalised to single lines, into batches of about ``batch_bytes``."""
    batch: list[bytes] = []
    size = 0
    for page in pages:
        line = page_line(page)
        if not line.strip():
            continue
        batch.append(line)
        size += len(line) + 1
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def records_array_from_dicts(records: Iterable[Any]) -> pa.Array:
    """Records (parsed JSON objects) as one Arrow struct array of `RECORD_TYPE`.

    Arrow's own conversion is tried first; a record whose types stray from the spec sends
    the whole input through the lenient `coerce` instead.
    """
    records = [r for r in records if isinstance(r, dict)]
    try:
        return pa.array(records, type=RECORD_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([coerce(r, RECORD_TYPE) for r in records], type=RECORD_TYPE)


def records_arrays_from_lines(lines: list[bytes]) -> list[pa.Array]:
    """Parse a batch of page lines into struct arrays of records (one per parser chunk).

    The C++ parser is strict about types; when it rejects the batch (or a line is not a
    page object) the batch is parsed again in Python with lenient coercion, so one odd
    record slows a batch down rather than failing the partition.
    """
    longest = max((len(line) for line in lines), default=0)
    read_options = pa_json.ReadOptions(use_threads=True, block_size=max(_MIN_BLOCK, longest + 2))
    try:
        table = pa_json.read_json(
            pa.BufferReader(b"\n".join(lines)), read_options=read_options, parse_options=_PARSE_OPTIONS
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return [records_array_from_dicts(records_from_pages(lines))]
    return [chunk.flatten() for chunk in table.column("records").chunks]

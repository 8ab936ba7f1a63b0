"""Which records are the person's, and the JSON surgery that takes them out of a page or an entry
(every other byte kept as it was)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rc_pipeline.transform.raw_shapes import coerce

_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _message_id(record: Mapping[str, Any]) -> int | None:
    return coerce(record.get("id"), pa.int64())


def _belongs(record: Mapping[str, Any], mailbox: int | None, extension_id: int, ids: set[int]) -> bool:
    """A record is the person's when it sits in their mailbox, names their extension, or has an id an
    earlier erasure of this extension recorded."""
    return (
        mailbox == extension_id
        or coerce(record.get("extensionId"), pa.int64()) == extension_id
        or _message_id(record) in ids
    )


def drop_records(text: str, drop: Callable[[Mapping[str, Any]], bool]) -> tuple[str, list[Mapping[str, Any]]]:
    """``text`` (a JSON object with a top-level ``records`` array) without the records ``drop`` selects.

    Every other character stays exactly as it was (pages are kept as received, so a page that mixes
    mailboxes loses only those records); returns the new text and the records removed.
    """
    decoder = json.JSONDecoder()

    def skip(position: int) -> int:
        return _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]

    position = skip(0)
    if text[position : position + 1] != "{":
        return text, []
    position = skip(position + 1)
    while position < len(text) and text[position] != "}":
        key, position = decoder.raw_decode(text, position)
        position = skip(position)
        if text[position : position + 1] != ":":
            raise ValueError("not a JSON object")
        position = skip(position + 1)
        if key == "records" and text[position : position + 1] == "[":
            return _drop_elements(text, position, drop, decoder, skip)
        _, position = decoder.raw_decode(text, position)
        position = skip(position)
        if text[position : position + 1] == ",":
            position = skip(position + 1)
    return text, []


def _drop_elements(
    text: str,
    start: int,
    drop: Callable[[Mapping[str, Any]], bool],
    decoder: json.JSONDecoder,
    skip: Callable[[int], int],
) -> tuple[str, list[Mapping[str, Any]]]:
    spans: list[tuple[int, int, Any]] = []
    position = skip(start + 1)
    if text[position : position + 1] == "]":
        return text, []
    while True:
        value, end = decoder.raw_decode(text, position)
        spans.append((position, end, value))
        position = skip(end)
        if text[position : position + 1] == ",":
            position = skip(position + 1)
        elif text[position : position + 1] == "]":
            close = position
            break
        else:
            raise ValueError("records is not a JSON array")
    removed = [v for _, _, v in spans if isinstance(v, Mapping) and drop(v)]
    if not removed:
        return text, []
    kept = [i for i, (_, _, v) in enumerate(spans) if not (isinstance(v, Mapping) and drop(v))]
    if not kept:
        body = ""
    else:
        # The whitespace before the first element, then each kept element with the separator that
        # preceded it originally (the one after the first element for the new first one).
        body = text[start + 1 : spans[0][0]]
        for n, index in enumerate(kept):
            if n:
                before = index - 1
                body += text[spans[before][1] : spans[index][0]]
            body += text[spans[index][0] : spans[index][1]]
        body += text[spans[-1][1] : close]
    return text[: start + 1] + body + text[close:], removed


def _note(kinds: dict[int, str | None], record: Mapping[str, Any]) -> None:
    message_id = _message_id(record)
    if message_id is not None:
        kinds[message_id] = kinds.get(message_id) or coerce(record.get("type"), pa.string())


def _in_mailbox(name: str, extension_id: int) -> bool:
    """Whether a zip entry lies under ``account/{a}/extension/{extension_id}/``."""
    parts = name.split("/")
    return (
        len(parts) >= 4
        and parts[0] == "account"
        and parts[2] == "extension"
        and parts[3] == str(extension_id)
    )


def _records_of(body: Any) -> list[Mapping[str, Any]]:
    records = body.get("records") if isinstance(body, Mapping) else None
    return [r for r in records if isinstance(r, Mapping)] if isinstance(records, list) else []


def _rows_to_drop(table: pa.Table, id_column: str, extension_id: int, ids: set[int]) -> pa.ChunkedArray:
    by_extension = pc.fill_null(
        pc.equal(table.column("extension_id"), pa.scalar(extension_id, pa.int64())), False
    )
    by_id = pc.is_in(table.column(id_column), value_set=pa.array(sorted(ids), pa.int64()))
    return pc.or_(by_extension, pc.fill_null(by_id, False))

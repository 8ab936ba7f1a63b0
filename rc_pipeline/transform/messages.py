"""Message-store records -> the typed `messages` and `message_attachments` tables.

Both archive paths (the export's `message-store.json` files and the per-extension listing pages)
feed the same records through these functions, so the tables do not depend on which path ran.
Volumes are thousands of messages a day, so plain Python is fast enough.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from rc_pipeline.transform.columns import to_timestamp
from rc_pipeline.transform.raw_shapes import coerce
from rc_pipeline.transform.schemas import MESSAGE_ATTACHMENTS_SCHEMA, MESSAGES_SCHEMA, PURGED_AT_SOURCE

PURGED = "Purged"
_EXTENSION = re.compile(r"^[A-Za-z0-9]{1,10}$")
# Content types whose usual extension mimetypes gets wrong or does not know.
_KNOWN_EXTENSIONS = {"audio/mpeg": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "text/plain": "txt"}


@dataclass(frozen=True)
class MessageRecord:
    """One message as RingCentral sent it, with the extension whose mailbox it came from."""

    record: Mapping[str, Any]
    # From the export's path or the listing request; used when the record lacks `extensionId`.
    mailbox_extension_id: int | None
    # False only for a message whose every version the archive saw was already Purged: no fetch could
    # have had its content. A message seen with its content and purged later is True, so an attachment
    # the archive failed to fetch stays `missing` (a loss), never `purged_at_source`.
    seen_with_content: bool = True


@dataclass(frozen=True)
class ArchivedFile:
    """Where one attachment landed in the archive."""

    path: str
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256}


def attachment_key(message_id: int | str, attachment_id: int | str) -> str:
    """Key of an attachment in the attachment index: ``<messageId>/<attachmentId>``."""
    return f"{message_id}/{attachment_id}"


def attachment_file_extension(attachment: Mapping[str, Any]) -> str:
    """File extension for an attachment: its fileName's, else one for its content type, else ``bin``.

    Derived from the record (not from a zip entry), so both archive paths choose the same path.
    """
    name = str(attachment.get("fileName") or "")
    suffix = name.rpartition(".")[2] if "." in name else ""
    if _EXTENSION.match(suffix):
        return suffix.lower()
    content_type = str(attachment.get("contentType") or "").split(";", 1)[0].strip().lower()
    if content_type in _KNOWN_EXTENSIONS:
        return _KNOWN_EXTENSIONS[content_type]
    guessed = mimetypes.guess_extension(content_type) if content_type else None
    return guessed.lstrip(".") if guessed else "bin"


def attachments_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The record's attachments that carry an id (an attachment without one cannot be keyed)."""
    items = record.get("attachments")
    if not isinstance(items, list):
        return []
    return [a for a in items if isinstance(a, Mapping) and coerce(a.get("id"), pa.int64()) is not None]


def _newer(candidate: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    return str(candidate.get("lastModifiedTime") or "") >= str(current.get("lastModifiedTime") or "")


def unique_messages(records: Iterable[MessageRecord]) -> tuple[list[MessageRecord], int, int]:
    """One record per message id (the newest `lastModifiedTime` wins), sorted by id; a message whose
    newest version is Purged keeps the content of its newest earlier version (`_keep_content`).

    Returns (records, duplicates dropped, records without a usable id).
    """
    by_id: dict[int, MessageRecord] = {}
    # The newest version of each message that still had its content (not Purged).
    with_content: dict[int, MessageRecord] = {}
    duplicates = without_id = 0
    for item in records:
        message_id = coerce(item.record.get("id"), pa.int64())
        if message_id is None:
            without_id += 1
            continue
        if item.record.get("availability") != PURGED:
            held = with_content.get(message_id)
            if held is None or _newer(item.record, held.record):
                with_content[message_id] = item
        current = by_id.get(message_id)
        if current is not None:
            duplicates += 1
            if not _newer(item.record, current.record):
                continue
        by_id[message_id] = item
    return [_keep_content(by_id[k], with_content.get(k)) for k in sorted(by_id)], duplicates, without_id


def _keep_content(newest: MessageRecord, with_content: MessageRecord | None) -> MessageRecord:
    """A message purged at the source after the archive saw it keeps what the archive saw (subject,
    parties, attachments); the row still says it was purged, and when (availability, lastModifiedTime).
    RingCentral's Purged version (message-sync reports purges as changes) carries no content."""
    if newest.record.get("availability") != PURGED:
        return newest
    if with_content is None:
        return MessageRecord(newest.record, newest.mailbox_extension_id, seen_with_content=False)
    record = {
        **with_content.record,
        "availability": PURGED,
        "lastModifiedTime": newest.record.get("lastModifiedTime"),
    }
    return MessageRecord(record, with_content.mailbox_extension_id or newest.mailbox_extension_id)


def _text(value: Any) -> str | None:
    return coerce(value, pa.string())


def _party(value: Any, name: str) -> str | None:
    return _text(value.get(name)) if isinstance(value, Mapping) else None


def _recipients(record: Mapping[str, Any], name: str) -> list[str | None]:
    to = record.get("to")
    return [_party(p, name) for p in to] if isinstance(to, list) else []


def extension_of(item: MessageRecord) -> int | None:
    """The mailbox a message belongs to: its `extensionId`, else where it was found."""
    return coerce(item.record.get("extensionId"), pa.int64()) or item.mailbox_extension_id


def _vm_duration(record: Mapping[str, Any]) -> int | None:
    for attachment in attachments_of(record):
        if attachment.get("type") == "AudioRecording":
            return coerce(attachment.get("vmDuration"), pa.int64())
    return None


def _conversation_id(record: Mapping[str, Any]) -> str | None:
    conversation = record.get("conversation")
    from_object = _party(conversation, "id") if isinstance(conversation, Mapping) else None
    return from_object or _text(record.get("conversationId"))


def messages_table(items: list[MessageRecord], partition_date: date) -> pa.Table:
    """Typed `MESSAGES_SCHEMA` rows, one per item, in the order given."""
    rows = []
    for item in items:
        r = item.record
        rows.append(
            {
                "id": coerce(r.get("id"), pa.int64()),
                "extension_id": extension_of(item),
                "partition_date": partition_date,
                "type": _text(r.get("type")),
                "direction": _text(r.get("direction")),
                "from_phone_number": _party(r.get("from"), "phoneNumber"),
                "from_extension_number": _party(r.get("from"), "extensionNumber"),
                "from_name": _party(r.get("from"), "name"),
                "to_phone_numbers": _recipients(r, "phoneNumber"),
                "to_extension_numbers": _recipients(r, "extensionNumber"),
                "to_names": _recipients(r, "name"),
                "subject": _text(r.get("subject")),
                "creation_time": _text(r.get("creationTime")),
                "last_modified_time": _text(r.get("lastModifiedTime")),
                "read_status": _text(r.get("readStatus")),
                "message_status": _text(r.get("messageStatus")),
                "availability": _text(r.get("availability")),
                "priority": _text(r.get("priority")),
                "conversation_id": _conversation_id(r),
                "fax_page_count": coerce(r.get("faxPageCount"), pa.int64()),
                "fax_resolution": _text(r.get("faxResolution")),
                "vm_transcription_status": _text(r.get("vmTranscriptionStatus")),
                "vm_duration_s": _vm_duration(r),
                "attachment_count": len(attachments_of(r)),
            }
        )
    return _table(rows, MESSAGES_SCHEMA, timestamps=("creation_time", "last_modified_time"))


def attachments_table(
    items: list[MessageRecord], index: Mapping[str, Mapping[str, Any]], partition_date: date
) -> pa.Table:
    """Typed `MESSAGE_ATTACHMENTS_SCHEMA` rows: one per attachment of ``items``.

    ``index`` maps `attachment_key` to the archived file (`ArchivedFile.to_json`); an attachment
    without an entry is a row with status ``missing`` (the completeness check lists it), or
    ``purged_at_source`` when its message was purged before any fetch archived the content.
    """
    rows = []
    for item in items:
        r = item.record
        message_id = coerce(r.get("id"), pa.int64())
        # Purged before any version with content was seen (a capture saw only the purge): nothing to fetch.
        gone = r.get("availability") == PURGED and not item.seen_with_content
        for a in attachments_of(r):
            attachment_id = coerce(a.get("id"), pa.int64())
            archived = index.get(attachment_key(message_id, attachment_id))
            rows.append(
                {
                    "message_id": message_id,
                    "attachment_id": attachment_id,
                    "extension_id": extension_of(item),
                    "partition_date": partition_date,
                    "message_type": _text(r.get("type")),
                    "type": _text(a.get("type")),
                    "content_type": _text(a.get("contentType")),
                    "file_name": _text(a.get("fileName")),
                    "size": coerce(a.get("size"), pa.int64()),
                    "vm_duration_s": coerce(a.get("vmDuration"), pa.int64()),
                    "bytes": archived.get("bytes") if archived else None,
                    "sha256": archived.get("sha256") if archived else None,
                    "path": archived.get("path") if archived else None,
                    "status": "archived" if archived else (PURGED_AT_SOURCE if gone else "missing"),
                }
            )
    return _table(rows, MESSAGE_ATTACHMENTS_SCHEMA)


def _table(rows: list[dict[str, Any]], schema: pa.Schema, timestamps: tuple[str, ...] = ()) -> pa.Table:
    columns = []
    for f in schema:
        values = [row[f.name] for row in rows]
        if f.name in timestamps:
            columns.append(to_timestamp(pa.array(values, pa.string())))
        elif f.name == "partition_date":
            columns.append(pa.array(values, pa.date32()))
        else:
            columns.append(pa.array(values, f.type))
    return pa.Table.from_arrays(columns, schema=schema)

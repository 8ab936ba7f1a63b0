"""Reading the capture layer (`raw/message_capture`): what message-sync brought in for a day.

A capture run stores each message-sync response as received, once in every day whose messages it
holds (the day of a message is the day of its `creationTime` in the partitions' timezone). The
day's `_captures.json` lists the files (size, sha256) and is written after them, so a reader never
sees a file that is still being written. The day's tables are built from the daily export or
listing plus these records (`rc_pipeline.message_store.tables`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from rc_pipeline.days import DayWindow
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.rewrite import message_content_dir, relative_path, remove_tree
from rc_pipeline.transform.columns import parse_iso
from rc_pipeline.transform.messages import MessageRecord


@dataclass(frozen=True)
class CaptureFile:
    """One capture file of a day, as `_captures.json` lists it."""

    path: str
    extension_id: int
    captured_at: str
    bytes: int
    sha256: str
    responses: int
    records: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "extension_id": self.extension_id,
            "captured_at": self.captured_at,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "responses": self.responses,
            "records": self.records,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CaptureFile:
        return cls(
            path=str(value["path"]),
            extension_id=int(value["extension_id"]),
            captured_at=str(value["captured_at"]),
            bytes=int(value["bytes"]),
            sha256=str(value["sha256"]),
            responses=int(value["responses"]),
            records=int(value["records"]),
        )


def message_day(record: Mapping[str, Any], timezone: str) -> date | None:
    """The partition a message belongs to: its `creationTime` as a day in ``timezone``."""
    created = parse_iso(record.get("creationTime"))
    return created.astimezone(ZoneInfo(timezone)).date() if created is not None else None


def capture_files(storage: ArchiveStorage, day: date) -> list[CaptureFile]:
    """The committed capture files of ``day``, oldest capture first; [] when nothing was captured."""
    try:
        manifest = storage.read_json(storage.capture_manifest_path(day))
    except FileNotFoundError:
        return []
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        raise ValueError(f"{storage.capture_manifest_path(day)} has no files list")
    return sorted((CaptureFile.from_json(f) for f in files), key=lambda f: (f.captured_at, f.path))


def write_capture_manifest(storage: ArchiveStorage, day: date, files: Iterable[CaptureFile]) -> None:
    """Replace the day's `_captures.json` (callers merge first; the capture lease is held)."""
    ordered = sorted(files, key=lambda f: (f.captured_at, f.path))
    storage.write_json(storage.capture_manifest_path(day), {"files": [f.to_json() for f in ordered]})


def responses_of(storage: ArchiveStorage, file: CaptureFile) -> Iterable[Mapping[str, Any]]:
    """The message-sync responses of one capture file, parsed."""
    for line in storage.read_capture_file(file.path):
        if line.strip():
            body = json.loads(line)
            if isinstance(body, Mapping):
                yield body


def captured_records(storage: ArchiveStorage, window: DayWindow) -> list[MessageRecord]:
    """Every version of every message captured for the day of ``window``, oldest capture first.

    A file holds whole responses, so records created outside the window are skipped here.
    """
    records: list[MessageRecord] = []
    for file in capture_files(storage, window.day):
        for body in responses_of(storage, file):
            for record in body.get("records") or []:
                if not isinstance(record, Mapping):
                    continue
                created = parse_iso(record.get("creationTime"))
                if created is None or window.start <= created < window.end:
                    records.append(MessageRecord(record, file.extension_id))
    return records


def captured_attachment_index(storage: ArchiveStorage, day: date) -> dict[str, dict[str, Any]]:
    """Attachments downloaded by captures of ``day`` (attachment key -> path, bytes, sha256)."""
    with contextlib.suppress(FileNotFoundError):
        index = storage.read_json(storage.attachment_index_path(Dataset.RAW_MESSAGE_CAPTURE, day))
        if not isinstance(index, dict):
            raise ValueError(
                f"{storage.attachment_index_path(Dataset.RAW_MESSAGE_CAPTURE, day)} is not a JSON object"
            )
        return index
    return {}


def damaged_capture_files(storage: ArchiveStorage, day: date) -> list[str]:
    """Capture files of ``day`` that no longer have the size and sha256 `_captures.json` recorded."""
    problems = []
    for file in capture_files(storage, day):
        check = storage.verify_file(file.path, file.bytes, file.sha256)
        if not check.ok:
            problems.append(
                f"{storage.fs_name(file.path)} (extension {file.extension_id}): {check.describe()}"
            )
    return problems


@dataclass
class CaptureErasure:
    """What `erase_captured` removed for one extension."""

    files: list[dict[str, Any]] = field(default_factory=list)
    message_ids: set[int] = field(default_factory=set)
    index_entries: int = 0
    state_removed: bool = False


def erase_captured(storage: ArchiveStorage, extension_id: int) -> CaptureErasure:
    """Remove an extension's mailbox from the capture layer: its capture files (a file only ever holds
    one mailbox's responses), their `_captures.json` entries, the attachment index entries and content
    of their messages, and its sync state (a later capture starts a new chain with a full sync).

    The erasure runs this before it scans the rest of the archive, so a rebuilt day never brings the
    erased messages back from a capture.
    """
    result = CaptureErasure()
    for day in storage.list_partitions(Dataset.RAW_MESSAGE_CAPTURE):
        files = capture_files(storage, day)
        dropped = [f for f in files if f.extension_id == int(extension_id)]
        if not dropped:
            continue
        ids: set[int] = set()
        for file in dropped:
            for body in responses_of(storage, file):
                for record in body.get("records") or []:
                    with contextlib.suppress(TypeError, ValueError):
                        if isinstance(record, Mapping) and record.get("id") is not None:
                            ids.add(int(record["id"]))
        # The manifest first: from here no reader takes the files into a table.
        write_capture_manifest(storage, day, [f for f in files if f.extension_id != int(extension_id)])
        index = captured_attachment_index(storage, day)
        kept = {k: v for k, v in index.items() if _message_of_key(k) not in ids}
        if len(kept) != len(index):
            storage.write_json(storage.attachment_index_path(Dataset.RAW_MESSAGE_CAPTURE, day), kept)
            result.index_entries += len(index) - len(kept)
        for message_id in sorted(ids):
            remove_tree(storage, message_content_dir(storage, day, message_id))
        for file in dropped:
            storage.remove(file.path)
            result.files.append(
                {"day": day.isoformat(), "path": relative_path(storage, file.path), "sha256": file.sha256}
            )
        result.message_ids |= ids
    pending = storage.capture_pending_path()
    with contextlib.suppress(FileNotFoundError):
        value = storage.read_json(pending)
        items = value.get("messages") if isinstance(value, dict) else None
        if isinstance(items, list):
            kept_items = [
                i for i in items if not (isinstance(i, dict) and i.get("extension_id") == int(extension_id))
            ]
            if len(kept_items) != len(items):
                storage.write_json(pending, {"messages": kept_items})
    state = storage.capture_state_path(extension_id)
    if storage.exists(state):
        storage.remove(state)
        result.state_removed = True
    return result


def _message_of_key(key: str) -> int | None:
    head = key.partition("/")[0]
    return int(head) if head.isdigit() else None


def days_behind_message_captures(storage: ArchiveStorage, first_day: date) -> dict[date, str]:
    """Days whose message tables exist but do not include everything captured for them yet, with the
    capture signature to build. Read from the archive, not from one capture's report: a capture that
    stopped after storing its tokens, attachments fetched on a retry, or a rebuild that never ran all
    leave the day behind until it is rebuilt."""
    behind = {}
    for day in storage.list_partitions(Dataset.RAW_MESSAGE_CAPTURE):
        if day < first_day or not storage.exists(storage.parquet_path(Dataset.MESSAGES, day)):
            continue
        signature = storage.capture_signature(day)
        if signature is not None and storage.messages_built_from(day) != signature:
            behind[day] = signature
    return behind

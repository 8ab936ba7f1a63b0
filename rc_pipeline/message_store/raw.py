"""The raw message store of a partition -> message records and attachment files.

Two raw forms exist: the export's zips (`raw/message_store_export`) and the per-extension listing
pages (`raw/message_store`). Zip entry names are only ever matched against the layout RingCentral
documents; files are written to paths built from message and attachment ids, never from names.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.zipsafe import (
    UnsafeZipEntry,
    ZipLimits,
    copy_entry,
    open_zip,
    read_entry,
    vetted_entries,
)
from rc_pipeline.transform.messages import (
    ArchivedFile,
    MessageRecord,
    attachment_file_extension,
    attachment_key,
    attachments_of,
)
from rc_pipeline.transform.raw_shapes import coerce

_MAILBOX_IN_URI = re.compile(r"/extension/(\d+)/message-store")


@dataclass(frozen=True)
class ContentEntry:
    """An attachment file inside an export zip."""

    part: int
    info: zipfile.ZipInfo


@dataclass
class ExportContents:
    """What an export's zips hold, after every entry was vetted."""

    records: list[MessageRecord] = field(default_factory=list)
    # (messageId, file name) -> entry
    content: dict[tuple[int, str], ContentEntry] = field(default_factory=dict)
    unrecognised: list[str] = field(default_factory=list)


def classify_entry(name: str) -> tuple[str, int | None, int | None, str | None]:
    """(kind, extension id, message id, file name) of an export entry name.

    kind is ``messages`` for ``account/{a}/extension/{e}/message-store.json``, ``content`` for
    ``account/{a}/extension/{e}/message-store/content/{messageId}/{file}``, else ``other``.
    """
    parts = name.split("/")
    if (
        len(parts) == 5
        and parts[0] == "account"
        and parts[2] == "extension"
        and parts[4] == "message-store.json"
    ):
        return "messages", coerce(parts[3], pa.int64()), None, None
    if (
        len(parts) == 8
        and parts[0] == "account"
        and parts[2] == "extension"
        and parts[4:6] == ["message-store", "content"]
        and parts[6].isdigit()
        and parts[7]
    ):
        return "content", coerce(parts[3], pa.int64()), int(parts[6]), parts[7]
    return "other", None, None, None


@contextlib.contextmanager
def open_export_parts(
    storage: ArchiveStorage, paths: list[str], limits: ZipLimits
) -> Iterator[tuple[list[zipfile.ZipFile], ExportContents]]:
    """Open and vet every zip of an export, then read its `message-store.json` files.

    Every part is checked (readable, no unsafe entry, within the limits) before any attachment is
    touched, so a bad part fails the partition without writing anything. Errors name the part.
    """
    with contextlib.ExitStack() as stack:
        archives: list[zipfile.ZipFile] = []
        contents = ExportContents()
        vetted: list[list[zipfile.ZipInfo]] = []
        total = 0
        for index, path in enumerate(paths):
            label = f"archive part {index} ({path.rpartition('/')[2]})"
            handle = stack.enter_context(storage.fs.open(path, "rb"))
            archive = stack.enter_context(open_zip(handle, label))
            archives.append(archive)
            infos = vetted_entries(archive, label, limits)
            vetted.append(infos)
            total += sum(i.file_size for i in infos)
            if total > limits.max_export_bytes:
                # Each part may be within its own cap while the export as a whole is a bomb.
                raise UnsafeZipEntry(
                    f"export of {len(paths)} part(s)",
                    f"parts 0..{index} expand to more than {limits.max_export_bytes:,} bytes together",
                )
        for index, infos in enumerate(vetted):
            label = f"archive part {index} ({paths[index].rpartition('/')[2]})"
            for info in infos:
                kind, extension_id, message_id, name = classify_entry(info.filename)
                if kind == "messages":
                    if info.file_size > limits.max_json_bytes:
                        raise UnsafeZipEntry(
                            label,
                            f"{info.file_size:,} bytes of JSON, more than the in-memory cap of "
                            f"{limits.max_json_bytes:,}",
                            info.filename,
                        )
                    body = json.loads(read_entry(archives[index], info, label, limits.max_json_bytes))
                    records = body.get("records") if isinstance(body, Mapping) else None
                    if not isinstance(records, list):
                        raise ValueError(f"{label}: entry {info.filename!r} has no records list")
                    contents.records.extend(
                        MessageRecord(r, extension_id) for r in records if isinstance(r, Mapping)
                    )
                elif kind == "content" and message_id is not None and name is not None:
                    contents.content[(message_id, name)] = ContentEntry(index, info)
                else:
                    contents.unrecognised.append(info.filename)
        yield archives, contents


def find_content(
    contents: ExportContents, message_id: int, attachment: Mapping[str, Any]
) -> ContentEntry | None:
    """The zip entry holding an attachment: named by its fileName, else by its id."""
    key = _content_key(contents, message_id, attachment)
    return contents.content[key] if key is not None else None


def _content_key(
    contents: ExportContents, message_id: int, attachment: Mapping[str, Any]
) -> tuple[int, str] | None:
    for name in (attachment.get("fileName"), attachment.get("id")):
        if name is not None and (message_id, str(name)) in contents.content:
            return message_id, str(name)
    return None


@dataclass
class Extraction:
    """What `extract_attachments` archived, lacked, and could not place."""

    index: dict[str, ArchivedFile] = field(default_factory=dict)
    # (message, attachment) pairs the zips lacked: fetched from the content endpoint instead.
    absent: list[tuple[MessageRecord, Mapping[str, Any]]] = field(default_factory=list)
    # Content entries matching no attachment of any record (reported, never silently dropped).
    unmatched_entries: list[str] = field(default_factory=list)
    # Attachments taken from the only entry of their message's folder although its name differed.
    matched_by_folder: list[str] = field(default_factory=list)


def match_content(
    contents: ExportContents,
) -> tuple[list[tuple[MessageRecord, Mapping[str, Any], ContentEntry | None]], list[str], list[str]]:
    """Pair every attachment with its zip entry; returns (pairs, unmatched entries, matched by folder).

    An entry is matched by the attachment's fileName, else its id. When a message's folder holds
    exactly one entry that nothing matched and exactly one of the message's attachments is still
    unmatched, that entry is the attachment (RingCentral's entry names are not documented).
    """
    pairs: list[tuple[MessageRecord, Mapping[str, Any], ContentEntry | None]] = []
    used: set[tuple[int, str]] = set()
    by_message: dict[int, list[tuple[int, str]]] = {}
    for key in contents.content:
        by_message.setdefault(key[0], []).append(key)
    for item in contents.records:
        message_id = coerce(item.record.get("id"), pa.int64())
        if message_id is None:
            continue
        for attachment in attachments_of(item.record):
            key = _content_key(contents, message_id, attachment)
            if key is not None:
                used.add(key)
            pairs.append((item, attachment, contents.content[key] if key is not None else None))
    by_folder: list[str] = []
    pending: dict[int, list[int]] = {}
    for position, (item, _, entry) in enumerate(pairs):
        if entry is None:
            pending.setdefault(coerce(item.record.get("id"), pa.int64()), []).append(position)
    for message_id, positions in pending.items():
        folder = by_message.get(message_id, [])
        if len(folder) == 1 and len(positions) == 1 and folder[0] not in used:
            item, attachment, _ = pairs[positions[0]]
            pairs[positions[0]] = (item, attachment, contents.content[folder[0]])
            used.add(folder[0])
            by_folder.append(
                f"{message_id}/{attachment.get('id')} <- {contents.content[folder[0]].info.filename}"
            )
    unmatched = sorted(contents.content[k].info.filename for k in contents.content if k not in used)
    return pairs, unmatched, by_folder


def extract_attachments(
    storage: ArchiveStorage,
    day: date,
    archives: list[zipfile.ZipFile],
    paths: list[str],
    contents: ExportContents,
    limits: ZipLimits,
) -> Extraction:
    """Copy every attachment found in the zips to its archive path, all or nothing.

    Every entry is first extracted (streamed, size-capped, CRC-checked by zipfile) into a
    ``.tmp-`` staging directory; only when all of them came out whole are they moved into the
    live content tree. A damaged entry therefore leaves no new or overwritten attachment behind.
    """
    result = Extraction()
    pairs, result.unmatched_entries, result.matched_by_folder = match_content(contents)
    staging = storage.attachment_staging_dir(uuid.uuid4().hex)
    staged: list[tuple[str, str, str, ArchivedFile]] = []  # (key, staged path, target, file)
    try:
        for item, attachment, entry in pairs:
            if entry is None:
                result.absent.append((item, attachment))
                continue
            message_id = coerce(item.record.get("id"), pa.int64())
            attachment_id = coerce(attachment.get("id"), pa.int64())
            target = storage.message_attachment_path(
                day, message_id, attachment_id, attachment_file_extension(attachment)
            )
            temp = storage.staged_attachment_path(staging, message_id, attachment_id)
            label = f"archive part {entry.part} ({paths[entry.part].rpartition('/')[2]})"
            with storage.atomic_open(temp) as out:
                size, sha256 = copy_entry(
                    archives[entry.part], entry.info, out, label, limits.max_total_bytes
                )
            staged.append(
                (attachment_key(message_id, attachment_id), temp, target, ArchivedFile(target, size, sha256))
            )
        for key, temp, target, archived in staged:
            storage.make_dirs(target.rpartition("/")[0])
            storage.fs.mv(temp, target)
            result.index[key] = archived
    finally:
        with contextlib.suppress(FileNotFoundError):
            if storage.exists(staging):
                storage.fs.rm(staging, recursive=True)
    return result


def read_export_records(storage: ArchiveStorage, day: date, limits: ZipLimits) -> list[MessageRecord]:
    """The message records of every committed export of ``day``, oldest export first.

    A reader that keeps the last of equally new versions of a message sees the newest export's;
    messages RingCentral purged since an earlier export are still there.
    """
    exports = storage.committed_exports(day)
    if not exports:
        storage.read_export_manifest(day)  # raises FileNotFoundError: the partition is not committed
    records: list[MessageRecord] = []
    for manifest in exports:
        with open_export_parts(storage, [p.path for p in manifest.parts], limits) as (_, contents):
            records.extend(contents.records)
    return records


def mailbox_of_page(page: Mapping[str, Any]) -> int | None:
    """The extension a listing page belongs to, from the page's own `uri`."""
    match = _MAILBOX_IN_URI.search(str(page.get("uri") or ""))
    return int(match.group(1)) if match else None


def read_listing_records(storage: ArchiveStorage, day: date) -> list[MessageRecord]:
    """The message records of every listing of ``day``, earlier differing fetches first.

    Earlier fetches are kept (`write_raw_pages`) and read here, so a message purged since is not lost.
    """
    records: list[MessageRecord] = []
    for line in storage.read_raw_pages(day, Dataset.RAW_MESSAGE_STORE, all_fetches=True):
        page = json.loads(line)
        if not isinstance(page, Mapping):
            continue
        mailbox = mailbox_of_page(page)
        records.extend(MessageRecord(r, mailbox) for r in page.get("records") or [] if isinstance(r, Mapping))
    return records


def read_attachment_index(storage: ArchiveStorage, dataset: Dataset, day: date) -> dict[str, dict[str, Any]]:
    """The attachment index of a raw message-store partition (FileNotFoundError when absent)."""
    index = storage.read_json(storage.attachment_index_path(dataset, day))
    if not isinstance(index, dict):
        raise ValueError(f"{storage.attachment_index_path(dataset, day)} is not a JSON object")
    return index


def write_attachment_index(
    storage: ArchiveStorage, dataset: Dataset, day: date, index: Mapping[str, ArchivedFile]
) -> None:
    """Replace the attachment index of a raw message-store partition (callers merge first)."""
    storage.write_json(
        storage.attachment_index_path(dataset, day), {k: v.to_json() for k, v in sorted(index.items())}
    )


def merged_attachment_index(
    previous: Mapping[str, Mapping[str, Any]], new: Mapping[str, ArchivedFile]
) -> dict[str, ArchivedFile]:
    """The earlier index with this fetch's entries on top: attachments of messages RingCentral
    purged since stay indexed (their files stay archived)."""
    merged: dict[str, ArchivedFile] = {}
    for key, value in previous.items():
        with contextlib.suppress(KeyError, TypeError, ValueError):
            merged[key] = ArchivedFile(str(value["path"]), int(value["bytes"]), str(value["sha256"]))
    merged.update(new)
    return merged

"""The raw message store of a partition -> message records and attachment files.

Two raw forms exist: the export's zips (`raw/message_store_export`) and the per-extension listing
pages (`raw/message_store`). Zip entry names are only ever matched against the layout RingCentral
documents; files are written to paths built from message and attachment ids, never from names.
"""

from __future__ import annotations

import contextlib
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.zipsafe import ZipLimits, copy_entry, open_zip, read_entry, vetted_entries
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
        for index, path in enumerate(paths):
            label = f"archive part {index} ({path.rpartition('/')[2]})"
            handle = stack.enter_context(storage.fs.open(path, "rb"))
            archive = stack.enter_context(open_zip(handle, label))
            archives.append(archive)
            vetted.append(vetted_entries(archive, label, limits))
        for index, infos in enumerate(vetted):
            label = f"archive part {index} ({paths[index].rpartition('/')[2]})"
            for info in infos:
                kind, extension_id, message_id, name = classify_entry(info.filename)
                if kind == "messages":
                    body = json.loads(read_entry(archives[index], info, label, limits.max_total_bytes))
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
    for name in (attachment.get("fileName"), attachment.get("id")):
        if name is not None:
            found = contents.content.get((message_id, str(name)))
            if found is not None:
                return found
    return None


def extract_attachments(
    storage: ArchiveStorage,
    day: date,
    archives: list[zipfile.ZipFile],
    paths: list[str],
    contents: ExportContents,
    limits: ZipLimits,
) -> tuple[dict[str, ArchivedFile], list[tuple[MessageRecord, Mapping[str, Any]]]]:
    """Copy every attachment found in the zips to its archive path.

    Returns the index of archived files and the (message, attachment) pairs the zips lacked.
    """
    index: dict[str, ArchivedFile] = {}
    absent: list[tuple[MessageRecord, Mapping[str, Any]]] = []
    for item in contents.records:
        message_id = coerce(item.record.get("id"), pa.int64())
        if message_id is None:
            continue
        for attachment in attachments_of(item.record):
            entry = find_content(contents, message_id, attachment)
            if entry is None:
                absent.append((item, attachment))
                continue
            attachment_id = coerce(attachment.get("id"), pa.int64())
            target = storage.message_attachment_path(
                day, message_id, attachment_id, attachment_file_extension(attachment)
            )
            label = f"archive part {entry.part} ({paths[entry.part].rpartition('/')[2]})"
            with storage.atomic_open(target) as out:
                size, sha256 = copy_entry(
                    archives[entry.part], entry.info, out, label, limits.max_total_bytes
                )
            index[attachment_key(message_id, attachment_id)] = ArchivedFile(target, size, sha256)
    return index, absent


def read_export_records(storage: ArchiveStorage, day: date, limits: ZipLimits) -> list[MessageRecord]:
    """The message records of the committed export of ``day``."""
    manifest = storage.read_export_manifest(day)
    with open_export_parts(storage, [p.path for p in manifest.parts], limits) as (_, contents):
        return contents.records


def mailbox_of_page(page: Mapping[str, Any]) -> int | None:
    """The extension a listing page belongs to, from the page's own `uri`."""
    match = _MAILBOX_IN_URI.search(str(page.get("uri") or ""))
    return int(match.group(1)) if match else None


def read_listing_records(storage: ArchiveStorage, day: date) -> list[MessageRecord]:
    """The message records of the committed per-extension listing of ``day``."""
    records: list[MessageRecord] = []
    for line in storage.read_raw_pages(day, Dataset.RAW_MESSAGE_STORE):
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
    """Replace the attachment index of a raw message-store partition."""
    storage.write_json(
        storage.attachment_index_path(dataset, day), {k: v.to_json() for k, v in sorted(index.items())}
    )

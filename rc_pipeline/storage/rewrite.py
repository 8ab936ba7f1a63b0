"""Rewriting archived files in place, for erasure: staged whole, hashed, then published atomically.

The archive is otherwise never rewritten (raw files are kept as received). An erasure is the one
exception, and it must leave every file whole: each new version is built under a temp name, its size
and sha256 are known before it replaces the old file, and publication is one rename (local) or one
move (object stores). Callers hold the staged files in a `contextlib.ExitStack` and decide when they
are published (on a clean exit) or discarded (on an exception); manifests are written after that.

Plain functions over `ArchiveStorage`, so the storage class itself does not change. Paths are still
built here and nowhere else.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rc_pipeline.storage.layout import (
    MESSAGE_CONTENT_DIR,
    TEMP_PREFIX,
    Dataset,
    day_dirs,
    parse_partition_dir_name,
    safe_name,
)
from rc_pipeline.storage.manifest import RawManifest
from rc_pipeline.storage.modes import open_new
from rc_pipeline.storage.raw import write_page_lines
from rc_pipeline.storage.zipsafe import ZipLimits, copy_entry, open_zip, vetted_entries

if TYPE_CHECKING:
    from rc_pipeline.storage.archive import ArchiveStorage

_TASK_DIR_PREFIX = "task="
_PART_PREFIX, _PART_SUFFIX = "archive_", ".zip"
_ZIP64_EXTRA_ID = 0x0001
_HASH_CHUNK = 1 << 20


# ------------------------------------------------------------------ paths
def relative_path(storage: ArchiveStorage, path: str) -> str:
    """``path`` relative to the archive root (what audit entries record: no bucket, no local prefix)."""
    root = storage.root.rstrip("/") + "/"
    return path[len(root) :] if path.startswith(root) else path


def message_content_dir(storage: ArchiveStorage, day: date, message_id: int | str) -> str:
    """The folder holding every attachment file of one message of ``day`` (see `message_attachment_path`)."""
    return storage.path(MESSAGE_CONTENT_DIR, day_dirs(day), safe_name(str(message_id), "message id"))


def is_message_content(storage: ArchiveStorage, path: str) -> bool:
    """Whether ``path`` lies inside the attachment tree (the only files an erasure may delete outright)."""
    base = storage.path(MESSAGE_CONTENT_DIR).rstrip("/") + "/"
    return path.startswith(base) and ".." not in path.split("/")


def partition_days(storage: ArchiveStorage, dataset: Dataset | str) -> list[date]:
    """Days with a partition directory, complete or not (`list_partitions` skips incomplete ones)."""
    dataset = Dataset(dataset)
    try:
        entries = storage.fs.ls(storage.dataset_dir(dataset), detail=False)
    except FileNotFoundError:
        return []
    days = {parse_partition_dir_name(dataset, storage.fs_name(entry)) for entry in entries}
    return sorted(d for d in days if d is not None)


def export_task_ids(storage: ArchiveStorage, day: date) -> list[str]:
    """Every export task folder of ``day``, committed or not (a crashed download leaves zips too)."""
    try:
        entries = storage.fs.ls(storage.partition_dir(Dataset.RAW_MESSAGE_EXPORT, day), detail=False)
    except FileNotFoundError:
        return []
    names = [storage.fs_name(e) for e in entries]
    return sorted(n[len(_TASK_DIR_PREFIX) :] for n in names if n.startswith(_TASK_DIR_PREFIX))


def export_parts(storage: ArchiveStorage, day: date, task_id: str) -> list[tuple[int, str]]:
    """The zips of one export task as stored: (part index, path), by index."""
    try:
        entries = storage.fs.ls(storage.export_task_dir(day, task_id), detail=False)
    except FileNotFoundError:
        return []
    parts = []
    for entry in entries:
        name = storage.fs_name(entry)
        index = name[len(_PART_PREFIX) : -len(_PART_SUFFIX)]
        if name.startswith(_PART_PREFIX) and name.endswith(_PART_SUFFIX) and index.isdigit():
            parts.append((int(index), storage.export_part_path(day, task_id, int(index))))
    return sorted(parts)


def temp_leftovers(storage: ArchiveStorage, directory: str) -> list[str]:
    """Temp files a crashed writer left in ``directory`` (readers ignore them; they may hold old bytes)."""
    try:
        entries = storage.fs.ls(directory, detail=False)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if storage.fs_name(e).startswith(TEMP_PREFIX))


def remove_tree(storage: ArchiveStorage, path: str) -> None:
    """Delete a folder and everything in it, if it exists."""
    with contextlib.suppress(FileNotFoundError):
        if storage.exists(path):
            storage.fs.rm(path, recursive=True)


def read_pages_file(storage: ArchiveStorage, path: str) -> Iterator[bytes]:
    """Every line of one stored page file (current or superseded), without its newline."""
    return storage._gzip_lines(path)


def write_raw_manifest(
    storage: ArchiveStorage, day: date, dataset: Dataset | str, manifest: RawManifest
) -> None:
    """Replace the manifest of a raw partition (after its page files were rewritten: write it last)."""
    storage.atomic_write_bytes(storage.raw_manifest_path(day, dataset), manifest.to_json())


# ------------------------------------------------------------------ staged rewrites
@dataclass(frozen=True)
class StagedFile:
    """A new version of ``path``, complete and hashed, not yet published."""

    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class StagedPages(StagedFile):
    """A staged page file with the counts its manifest records."""

    pages: int = 0
    records_received: int = 0
    records_reported: int | None = None


def _local_sha256(local: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(local, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


@contextlib.contextmanager
def staged_pages(storage: ArchiveStorage, path: str, lines: Iterable[bytes]) -> Iterator[StagedPages]:
    """Stage a page file holding ``lines``, written exactly as `write_raw_pages` writes one.

    Same gzip settings (level, no name, mtime 0), so a later identical fetch of the same pages has
    the same sha256 and only refreshes the manifest. Published when the context exits cleanly.
    """
    with storage.staged_file(path) as local:
        counts: dict[str, int | None] = {"pages": 0, "reported": None, "received": 0}
        with open_new(local, "wb") as raw:
            hashing = write_page_lines(raw, lines, counts)
        yield StagedPages(
            path=path,
            bytes=hashing.written,
            sha256=hashing.digest.hexdigest(),
            pages=int(counts["pages"] or 0),
            records_received=int(counts["received"] or 0),
            records_reported=counts["reported"],
        )


def _without_zip64_extra(extra: bytes) -> bytes:
    """The extra field minus its zip64 record, which the writer adds again when it is needed."""
    kept, position = b"", 0
    while position + 4 <= len(extra):
        header, size = struct.unpack("<HH", extra[position : position + 4])
        end = position + 4 + size
        if header != _ZIP64_EXTRA_ID:
            kept += extra[position:end]
        position = end
    return kept


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """Same name, time, method, attributes and comment; sizes and CRC are the writer's to fill in."""
    copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.comment = info.comment
    copy.extra = _without_zip64_extra(info.extra)
    copy.create_system = info.create_system
    copy.external_attr = info.external_attr
    copy.internal_attr = info.internal_attr
    copy.file_size = info.file_size  # a hint: it decides whether the entry needs zip64
    return copy


@dataclass(frozen=True)
class StagedZip(StagedFile):
    entries_kept: int = 0
    entries_dropped: int = 0
    entries_replaced: int = 0


@contextlib.contextmanager
def staged_zip(
    storage: ArchiveStorage,
    path: str,
    *,
    drop: Callable[[zipfile.ZipInfo], bool],
    replace: Mapping[str, bytes] | None = None,
    limits: ZipLimits | None = None,
) -> Iterator[StagedZip]:
    """Stage a copy of the zip at ``path`` without the entries ``drop`` selects.

    Entries named in ``replace`` get those bytes instead of their own; every other entry keeps its
    name, order, time, method, attributes and uncompressed bytes (each one is CRC-checked as it is
    copied). The zip is vetted first (`vetted_entries`). Published when the context exits cleanly.
    """
    limits = limits or ZipLimits()
    replace = dict(replace or {})
    label = f"archive part {storage.fs_name(path)}"
    kept = dropped = replaced = 0
    with storage.staged_file(path) as local:
        with (
            storage.fs.open(path, "rb") as source,
            open_zip(source, label) as archive,
            zipfile.ZipFile(local, "w", allowZip64=True) as out,
        ):
            vetted_entries(archive, label, limits)
            out.comment = archive.comment
            for info in archive.infolist():
                if drop(info):
                    dropped += 1
                    continue
                target = _copy_info(info)
                if info.filename in replace:
                    data = replace[info.filename]
                    target.file_size = len(data)
                    with out.open(target, "w") as entry:
                        entry.write(data)
                    replaced += 1
                elif info.is_dir():
                    out.writestr(target, b"")
                else:
                    with out.open(target, "w") as entry:
                        copy_entry(archive, info, entry, label, limits.max_total_bytes)
                kept += 1
        size, sha256 = _local_sha256(local)
        yield StagedZip(path, size, sha256, kept, dropped, replaced)

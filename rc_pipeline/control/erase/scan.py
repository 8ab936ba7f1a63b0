"""Every trace of an extension in the archive, day by day (read only)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from rc_pipeline.control.erase.model import Progress, RawFile
from rc_pipeline.control.erase.records import _belongs, _in_mailbox, _note, _records_of, _rows_to_drop
from rc_pipeline.control.erase.trail import _audit_ids, _trusted_after, _unfinished_days, trusted_entries
from rc_pipeline.message_store.raw import classify_entry, mailbox_of_page
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.rewrite import (
    export_parts,
    export_task_ids,
    is_message_content,
    message_content_dir,
    partition_days,
    read_pages_file,
    relative_path,
    temp_leftovers,
)
from rc_pipeline.storage.zipsafe import ZipLimits, open_zip, read_entry, vetted_entries

RAW_LAYERS = (Dataset.RAW_MESSAGE_STORE, Dataset.RAW_MESSAGE_EXPORT)


@dataclass
class _RawHit:
    dataset: Dataset
    path: str
    kind: str
    task_id: str | None = None
    index: int | None = None
    records: int = 0
    dropped: int = 0
    remaining: int = 0
    drop_names: set[str] = field(default_factory=set)
    json_names: set[str] = field(default_factory=set)

    def public(self, storage: ArchiveStorage) -> RawFile:
        return RawFile(
            dataset=self.dataset.value,
            path=relative_path(storage, self.path),
            kind=self.kind,
            task_id=self.task_id,
            records=self.records,
            dropped=self.dropped,
            removed=self.kind == "superseded" and self.remaining == 0,
        )


@dataclass
class _Repair:
    dataset: Dataset
    path: str
    task_id: str | None
    index: int | None
    bytes: int
    sha256: str


@dataclass
class _DayScan:
    day: date
    kinds: dict[int, str | None] = field(default_factory=dict)
    message_rows: int = 0
    attachment_rows: int = 0
    # path -> (bytes, sha256) as recorded, or None when only found on disk
    attachment_files: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    content_dirs: list[str] = field(default_factory=list)
    index_keys: dict[Dataset, list[str]] = field(default_factory=dict)
    raw: list[_RawHit] = field(default_factory=list)
    repairs: list[_Repair] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    @property
    def ids(self) -> set[int]:
        return set(self.kinds)

    @property
    def empty(self) -> bool:
        return not (
            self.kinds
            or self.message_rows
            or self.attachment_rows
            or self.attachment_files
            or self.content_dirs
            or any(self.index_keys.values())
            or self.raw
            or self.repairs
        )


def _scan_pages(storage: ArchiveStorage, day: date, extension_id: int, ids: set[int], scan: _DayScan) -> None:
    dataset = Dataset.RAW_MESSAGE_STORE
    files = [(p, "superseded") for p in storage.superseded_pages_paths(day, dataset)]
    current = storage.raw_pages_path(day, dataset)
    if storage.exists(current):
        files.append((current, "pages"))
    for path, kind in files:
        hit = _RawHit(dataset, path, kind)
        for line in read_pages_file(storage, path):
            page = json.loads(line)
            if not isinstance(page, Mapping):
                hit.remaining += 1
                continue
            mailbox = mailbox_of_page(page)
            records = _records_of(page)
            if mailbox == extension_id:
                hit.dropped += 1
                hit.records += len(records)
                for record in records:
                    _note(scan.kinds, record)
                continue
            hit.remaining += 1
            for record in records:
                if _belongs(record, mailbox, extension_id, ids):
                    hit.records += 1
                    _note(scan.kinds, record)
        if hit.dropped or hit.records:
            scan.raw.append(hit)


def _scan_exports(
    storage: ArchiveStorage, day: date, extension_id: int, ids: set[int], scan: _DayScan, limits: ZipLimits
) -> list[tuple[_RawHit, list[tuple[str, int]]]]:
    """The export zips of the day; returns each part with its content entries (name, message id),
    decided once every id of the day is known."""
    parts = []
    for task_id in export_task_ids(storage, day):
        for index, path in export_parts(storage, day, task_id):
            hit = _RawHit(Dataset.RAW_MESSAGE_EXPORT, path, "export_part", task_id, index)
            content: list[tuple[str, int]] = []
            label = f"archive part {index} ({path.rpartition('/')[2]})"
            with storage.fs.open(path, "rb") as handle, open_zip(handle, label) as archive:
                vetted_entries(archive, label, limits)
                for info in archive.infolist():
                    name = info.filename
                    kind, mailbox, message_id, _ = classify_entry(name)
                    if _in_mailbox(name, extension_id):
                        hit.drop_names.add(name)
                        if kind == "messages":
                            for record in _records_of(
                                json.loads(read_entry(archive, info, label, limits.max_json_bytes))
                            ):
                                hit.records += 1
                                _note(scan.kinds, record)
                        continue
                    if kind == "messages":
                        body = json.loads(read_entry(archive, info, label, limits.max_json_bytes))
                        mine = [r for r in _records_of(body) if _belongs(r, mailbox, extension_id, ids)]
                        if mine:
                            hit.json_names.add(name)
                            hit.records += len(mine)
                            for record in mine:
                                _note(scan.kinds, record)
                    elif kind == "content" and message_id is not None:
                        content.append((name, message_id))
            parts.append((hit, content))
    return parts


def _scan_typed(storage: ArchiveStorage, day: date, extension_id: int, ids: set[int], scan: _DayScan) -> None:
    if storage.exists(storage.parquet_path(Dataset.MESSAGES, day)):
        table = storage.read_parquet(Dataset.MESSAGES, day)
        for message_id, extension, kind in zip(
            table.column("id").to_pylist(),
            table.column("extension_id").to_pylist(),
            table.column("type").to_pylist(),
            strict=True,
        ):
            if message_id is not None and (extension == extension_id or message_id in ids):
                scan.kinds[message_id] = scan.kinds.get(message_id) or kind


def _finish_typed(storage: ArchiveStorage, day: date, extension_id: int, scan: _DayScan) -> None:
    ids = scan.ids
    if storage.exists(storage.parquet_path(Dataset.MESSAGES, day)):
        table = storage.read_parquet(Dataset.MESSAGES, day)
        scan.message_rows = int(
            pc.sum(pc.cast(_rows_to_drop(table, "id", extension_id, ids), pa.int64())).as_py() or 0
        )
    if storage.exists(storage.parquet_path(Dataset.MESSAGE_ATTACHMENTS, day)):
        table = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day)
        drop = _rows_to_drop(table, "message_id", extension_id, ids)
        rows = table.filter(drop).to_pylist()
        scan.attachment_rows = len(rows)
        for row in rows:
            if row.get("path"):
                scan.attachment_files[row["path"]] = (
                    (int(row["bytes"]), str(row["sha256"])) if row.get("sha256") else None
                )


def _scan_indexes(storage: ArchiveStorage, day: date, candidates: set[int], scan: _DayScan) -> None:
    ids = {str(i) for i in candidates}
    for dataset in RAW_LAYERS:
        path = storage.attachment_index_path(dataset, day)
        if not storage.exists(path):
            continue
        index = storage.read_json(path)
        if not isinstance(index, dict):
            raise ValueError(f"{path} is not a JSON object")
        keys = sorted(k for k in index if k.partition("/")[0] in ids)
        if keys:
            scan.index_keys[dataset] = keys
        for key in keys:
            value = index[key]
            if isinstance(value, Mapping) and value.get("path"):
                recorded = (int(value["bytes"]), str(value["sha256"])) if value.get("sha256") else None
                scan.attachment_files.setdefault(str(value["path"]), recorded)


def _scan_content_dirs(storage: ArchiveStorage, day: date, candidates: set[int], scan: _DayScan) -> None:
    """The attachment folder of each message, also when no row or index entry names its files."""
    for message_id in sorted(candidates):
        folder = message_content_dir(storage, day, message_id)
        if storage.exists(folder):
            scan.content_dirs.append(folder)


def _settle_files(storage: ArchiveStorage, scan: _DayScan) -> None:
    """Only files that exist and lie in the attachment tree are deleted (a path in a row or an index
    entry is never trusted to point anywhere else); every file in the messages' folders too."""
    scan.attachment_files = {
        p: v for p, v in scan.attachment_files.items() if is_message_content(storage, p) and storage.exists(p)
    }
    for folder in scan.content_dirs:
        for path in storage.fs.find(folder):
            scan.attachment_files.setdefault(path, None)


def _scan_repairs(
    storage: ArchiveStorage, day: date, trusted: Mapping[str, set[tuple[int, str]]], scan: _DayScan
) -> None:
    """Files an earlier erasure re-wrote but whose manifest it did not get to update (a crash)."""

    def written_by_erasure(path: str, expected_bytes: int, expected_sha256: str) -> tuple[int, str] | None:
        known = trusted.get(relative_path(storage, path))
        if not known or not storage.exists(path):
            return None
        if storage.verify_file(path, expected_bytes, expected_sha256).ok:
            return None
        actual = (storage.size(path), storage.file_sha256(path))
        return actual if actual in known else None

    rewritten = {h.path for h in scan.raw}
    with contextlib.suppress(FileNotFoundError):
        manifest = storage.read_manifest(day, Dataset.RAW_MESSAGE_STORE)
        pages = storage.raw_pages_path(day, Dataset.RAW_MESSAGE_STORE)
        present = {storage.fs_name(p) for p in storage.superseded_pages_paths(day, Dataset.RAW_MESSAGE_STORE)}
        if pages not in rewritten and (actual := written_by_erasure(pages, manifest.bytes, manifest.sha256)):
            scan.repairs.append(_Repair(Dataset.RAW_MESSAGE_STORE, pages, None, None, *actual))
        elif any(name not in present for name in manifest.superseded):
            # An emptied earlier fetch was removed; the manifest still names it.
            scan.repairs.append(_Repair(Dataset.RAW_MESSAGE_STORE, pages, None, None, 0, ""))
    manifests = list(storage.committed_exports(day))
    with contextlib.suppress(FileNotFoundError):
        manifests.append(storage.read_export_manifest(day))
    seen: set[str] = set()
    for export in manifests:
        for part in export.parts:
            if part.path in rewritten or part.path in seen:
                continue
            seen.add(part.path)
            if actual := written_by_erasure(part.path, part.bytes, part.sha256):
                scan.repairs.append(
                    _Repair(Dataset.RAW_MESSAGE_EXPORT, part.path, export.task_id, part.index, *actual)
                )


def _scan_leftovers(storage: ArchiveStorage, day: date, scan: _DayScan) -> None:
    folders = [storage.partition_dir(dataset, day) for dataset in RAW_LAYERS]
    folders += [storage.export_task_dir(day, task) for task in export_task_ids(storage, day)]
    for folder in folders:
        scan.leftovers += temp_leftovers(storage, folder)


def _scan_day(
    storage: ArchiveStorage,
    day: date,
    extension_id: int,
    known: Mapping[int, str | None],
    trusted: Mapping[str, set[tuple[int, str]]],
    limits: ZipLimits,
) -> _DayScan:
    """Every trace of the extension in one day of the archive (read only).

    ``known`` are ids earlier erasures of this extension recorded for the day: records and rows with
    those ids are the person's too, and their index entries and files are looked for even when no
    record is left to name them (a run that stopped half-way).
    """
    scan = _DayScan(day)
    known_ids = set(known)
    _scan_pages(storage, day, extension_id, known_ids, scan)
    parts = _scan_exports(storage, day, extension_id, known_ids, scan, limits)
    _scan_typed(storage, day, extension_id, known_ids, scan)
    found = scan.ids
    candidates = found | known_ids
    _scan_indexes(storage, day, candidates, scan)
    _scan_content_dirs(storage, day, candidates, scan)
    indexed = {k.partition("/")[0] for keys in scan.index_keys.values() for k in keys}
    folders = {storage.fs_name(d) for d in scan.content_dirs}
    for message_id in known_ids - found:
        if str(message_id) in indexed or str(message_id) in folders:
            scan.kinds[message_id] = known[message_id]
    for hit, content in parts:
        for name, message_id in content:
            if message_id in candidates:
                hit.drop_names.add(name)
                scan.kinds.setdefault(message_id, known.get(message_id))
        hit.dropped = len(hit.drop_names)
        if hit.drop_names or hit.json_names:
            scan.raw.append(hit)
    _finish_typed(storage, day, extension_id, scan)
    _settle_files(storage, scan)
    if trusted:
        _scan_repairs(storage, day, trusted, scan)
    if not scan.empty:
        _scan_leftovers(storage, day, scan)
    return scan


def _archive_days(storage: ArchiveStorage, extra: Iterable[date]) -> list[date]:
    days: set[date] = set(extra)
    for dataset in RAW_LAYERS:
        days.update(partition_days(storage, dataset))
    for dataset in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS):
        days.update(partition_days(storage, dataset))
    return sorted(days)


def _scan_archive(
    storage: ArchiveStorage, extension_id: int, limits: ZipLimits, progress: Progress
) -> dict[date, _DayScan]:
    entries = trusted_entries(storage)
    known = _audit_ids(entries, extension_id)
    trusted = _trusted_after(entries, extension_id)
    unfinished = _unfinished_days(entries, extension_id)
    found: dict[date, _DayScan] = {}
    days = _archive_days(storage, known)
    for n, day in enumerate(days, start=1):
        scan = _scan_day(
            storage, day, extension_id, known.get(day, {}), trusted if day in unfinished else {}, limits
        )
        if not scan.empty:
            found[day] = scan
        if n % 30 == 0:
            progress(f"archive: {n}/{len(days)} day(s) scanned")
    return found

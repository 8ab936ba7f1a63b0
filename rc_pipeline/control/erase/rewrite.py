"""Re-writing one archive day without the person: staged raw files, typed rows, attachment files and
index entries, manifests last."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rc_pipeline.control import audit
from rc_pipeline.control.erase.model import DayOutcome, ErasureResult, FileChange
from rc_pipeline.control.erase.records import _belongs, _records_of, _rows_to_drop, drop_records
from rc_pipeline.control.erase.scan import _DayScan, _RawHit
from rc_pipeline.control.erase.trail import ARCHIVE_INTENT, COMMAND
from rc_pipeline.message_store.raw import classify_entry, mailbox_of_page, open_export_parts
from rc_pipeline.storage import ArchiveStorage, Dataset, ExportManifest
from rc_pipeline.storage.raw import page_counts
from rc_pipeline.storage.rewrite import (
    read_pages_file,
    relative_path,
    remove_tree,
    staged_pages,
    staged_zip,
    write_raw_manifest,
)
from rc_pipeline.storage.zipsafe import ZipLimits, open_zip, read_entry
from rc_pipeline.transform.messages import attachments_of


def _pages_without(storage: ArchiveStorage, path: str, extension_id: int, ids: set[int]) -> Iterator[bytes]:
    for line in read_pages_file(storage, path):
        page = json.loads(line)
        if not isinstance(page, Mapping):
            yield line
            continue
        mailbox = mailbox_of_page(page)
        if mailbox == extension_id:
            continue  # a whole page of the mailbox goes (its uri names the mailbox)
        if any(_belongs(r, mailbox, extension_id, ids) for r in _records_of(page)):
            text, _ = drop_records(line.decode(), lambda r, m=mailbox: _belongs(r, m, extension_id, ids))
            yield text.encode()
        else:
            yield line


def _json_replacements(
    storage: ArchiveStorage, hit: _RawHit, extension_id: int, ids: set[int], limits: ZipLimits
) -> dict[str, bytes]:
    if not hit.json_names:
        return {}
    out = {}
    label = f"archive part {hit.index} ({hit.path.rpartition('/')[2]})"
    with storage.fs.open(hit.path, "rb") as handle, open_zip(handle, label) as archive:
        for info in archive.infolist():
            if info.filename in hit.json_names:
                _, mailbox, _, _ = classify_entry(info.filename)
                text = read_entry(archive, info, label, limits.max_json_bytes).decode()
                new, _ = drop_records(text, lambda r, m=mailbox: _belongs(r, m, extension_id, ids))
                out[info.filename] = new.encode()
    return out


def _export_counts(storage: ArchiveStorage, paths: list[str], limits: ZipLimits) -> tuple[int, int]:
    """(messages, attachments) of an export's zips, as its manifest counts them."""
    with open_export_parts(storage, paths, limits) as (_, contents):
        return len(contents.records), sum(len(attachments_of(r.record)) for r in contents.records)


def _updated_export(
    manifest: ExportManifest, parts: Mapping[int, tuple[int, str]], counts: tuple[int, int]
) -> ExportManifest:
    return dataclasses.replace(
        manifest,
        parts=tuple(
            dataclasses.replace(p, bytes=parts[p.index][0], sha256=parts[p.index][1])
            if p.index in parts
            else p
            for p in manifest.parts
        ),
        messages=counts[0],
        attachments=counts[1],
    )


def _write_manifests(
    storage: ArchiveStorage,
    day: date,
    listing_changed: bool,
    changed_parts: dict[str, dict[int, tuple[int, str]]],
    limits: ZipLimits,
) -> list[str]:
    """Bring the manifests of the day's raw partitions up to the files now there (written last)."""
    written = []
    if listing_changed:
        with contextlib.suppress(FileNotFoundError):
            manifest = storage.read_manifest(day, Dataset.RAW_MESSAGE_STORE)
            pages = storage.raw_pages_path(day, Dataset.RAW_MESSAGE_STORE)
            counts: dict[str, Any] = {"pages": 0, "received": 0, "reported": None}
            for line in read_pages_file(storage, pages):
                received, reported = page_counts(line)
                counts["pages"] += 1
                counts["received"] += received
                if counts["reported"] is None:
                    counts["reported"] = reported
            updated = dataclasses.replace(
                manifest,
                pages=counts["pages"],
                records_received=counts["received"],
                records_reported=counts["reported"],
                sha256=storage.file_sha256(pages),
                bytes=storage.size(pages),
                superseded=tuple(
                    storage.fs_name(p) for p in storage.superseded_pages_paths(day, Dataset.RAW_MESSAGE_STORE)
                ),
            )
            write_raw_manifest(storage, day, Dataset.RAW_MESSAGE_STORE, updated)
            written.append(storage.raw_manifest_path(day, Dataset.RAW_MESSAGE_STORE))
    if not changed_parts:
        return written
    for task_id, parts in sorted(changed_parts.items()):
        marker = storage.export_task_manifest_path(day, task_id)
        if storage.exists(marker):
            manifest = ExportManifest.from_json(storage.fs.cat_file(marker))
            paths = [p.path for p in manifest.parts]
            updated = _updated_export(manifest, parts, _export_counts(storage, paths, limits))
            storage.write_export_task_manifest(day, updated)
            written.append(marker)
    # The partition's commit marker names the newest task: written after every task marker.
    with contextlib.suppress(FileNotFoundError):
        current = storage.read_export_manifest(day)
        if current.task_id in changed_parts:
            paths = [p.path for p in current.parts]
            updated = _updated_export(
                current, changed_parts[current.task_id], _export_counts(storage, paths, limits)
            )
            storage.write_export_manifest(day, updated)
            written.append(storage.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, day))
    return written


def _filter_table(
    storage: ArchiveStorage, dataset: Dataset, day: date, id_column: str, extension_id: int, ids: set[int]
) -> int:
    if not storage.exists(storage.parquet_path(dataset, day)):
        return 0
    table = storage.read_parquet(dataset, day)
    drop = _rows_to_drop(table, id_column, extension_id, ids)
    removed = int(pc.sum(pc.cast(drop, pa.int64())).as_py() or 0)
    if removed:
        storage.write_parquet(dataset, day, table.filter(pc.invert(drop)))
    return removed


def _erase_day(
    storage: ArchiveStorage,
    scan: _DayScan,
    extension_id: int,
    scope: dict[str, Any],
    operator: str,
    limits: ZipLimits,
    result: ErasureResult,
) -> DayOutcome:
    day = scan.day
    ids = scan.ids
    outcome = DayOutcome(day, messages=len(ids))
    day_scope = {**scope, "day": day.isoformat()}
    staged_hashes: dict[str, tuple[int, str]] = {}
    removed_pages: list[str] = []
    changed_parts: dict[str, dict[int, tuple[int, str]]] = {}
    for repair in scan.repairs:
        if repair.dataset == Dataset.RAW_MESSAGE_EXPORT and repair.task_id and repair.index is not None:
            changed_parts.setdefault(repair.task_id, {})[repair.index] = (repair.bytes, repair.sha256)
    with contextlib.ExitStack() as stack:
        # 1. Every new raw file, complete and hashed under a temp name (nothing visible yet).
        for hit in scan.raw:
            before = (storage.size(hit.path), storage.file_sha256(hit.path))
            if hit.kind == "superseded" and hit.remaining == 0:
                removed_pages.append(hit.path)
                outcome.files.append(
                    FileChange(relative_path(storage, hit.path), hit.kind, *before, None, None)
                )
                continue
            if hit.kind in ("pages", "superseded"):
                staged = stack.enter_context(
                    staged_pages(storage, hit.path, _pages_without(storage, hit.path, extension_id, ids))
                )
            else:
                staged = stack.enter_context(
                    staged_zip(
                        storage,
                        hit.path,
                        drop=lambda info, names=frozenset(hit.drop_names): info.filename in names,
                        replace=_json_replacements(storage, hit, extension_id, ids, limits),
                        limits=limits,
                    )
                )
                changed_parts.setdefault(str(hit.task_id), {})[int(hit.index or 0)] = (
                    staged.bytes,
                    staged.sha256,
                )
            staged_hashes[hit.path] = (staged.bytes, staged.sha256)
            outcome.files.append(
                FileChange(relative_path(storage, hit.path), hit.kind, *before, staged.bytes, staged.sha256)
            )
        for path, recorded in sorted(scan.attachment_files.items()):
            before = recorded or (storage.size(path), storage.file_sha256(path))
            outcome.files.append(FileChange(relative_path(storage, path), "attachment", *before, None, None))
        # 2. The intent, before anything changes: ids, and every file with its hash before and after.
        entry = audit.append(
            storage,
            command=COMMAND,
            operator=operator,
            action=ARCHIVE_INTENT,
            scope=day_scope,
            items=[
                {"id": str(i), "kind": scan.kinds.get(i) or "unknown", "day": day.isoformat()}
                for i in sorted(ids)
            ]
            + [f.item() for f in outcome.files],
            details={
                "manifest_repairs": [relative_path(storage, r.path) for r in scan.repairs],
                "index_entries": {d.value: len(k) for d, k in scan.index_keys.items()},
            },
        )
        result.audit_seqs.append(entry.seq)
        # 3. Typed rows first (nothing typed refers to the files after this), then the indexes, then files.
        outcome.message_rows_removed = _filter_table(storage, Dataset.MESSAGES, day, "id", extension_id, ids)
        outcome.attachment_rows_removed = _filter_table(
            storage, Dataset.MESSAGE_ATTACHMENTS, day, "message_id", extension_id, ids
        )
        for dataset, keys in scan.index_keys.items():
            path = storage.attachment_index_path(dataset, day)
            index = storage.read_json(path)
            storage.write_json(path, {k: v for k, v in index.items() if k not in set(keys)})
            outcome.index_entries_removed += len(keys)
        for path in scan.attachment_files:
            storage.remove(path)
        for folder in scan.content_dirs:
            remove_tree(storage, folder)
        # 4. Leaving the stack publishes every staged raw file (each one a rename or a move).
    for path in removed_pages:
        storage.remove(path)
    # 5. Manifests last.
    listing_changed = any(h.dataset == Dataset.RAW_MESSAGE_STORE for h in scan.raw) or any(
        r.dataset == Dataset.RAW_MESSAGE_STORE for r in scan.repairs
    )
    outcome.manifests = [
        relative_path(storage, p)
        for p in _write_manifests(storage, day, listing_changed, changed_parts, limits)
    ]
    for path, (size, sha256) in staged_hashes.items():
        check = storage.verify_file(path, size, sha256)
        if not check.ok:
            outcome.problems.append(f"{relative_path(storage, path)}: {check.describe()}")
    return outcome

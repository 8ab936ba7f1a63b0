"""After the re-write: the raw layers checked against their manifests, and the warehouse."""

from __future__ import annotations

import contextlib
import os
from datetime import date

from rc_pipeline.control.erase.scan import RAW_LAYERS
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.warehouse import MESSAGE_MART_SQL, MESSAGE_VIEWS, build_warehouse, query


def verify_message_raw(storage: ArchiveStorage, day: date) -> list[str]:
    """Problems of a day's raw message store: page file vs its manifest, every export part vs its
    task and partition manifest, every indexed attachment file vs its index entry. Empty when intact."""
    problems = []
    with contextlib.suppress(FileNotFoundError):
        manifest = storage.read_manifest(day, Dataset.RAW_MESSAGE_STORE)
        check = storage.verify_file(
            storage.raw_pages_path(day, Dataset.RAW_MESSAGE_STORE), manifest.bytes, manifest.sha256
        )
        if not check.ok:
            problems.append(f"listing pages: {check.describe()}")
        present = {storage.fs_name(p) for p in storage.superseded_pages_paths(day, Dataset.RAW_MESSAGE_STORE)}
        problems += [
            f"listing: superseded file {n} is named but missing"
            for n in manifest.superseded
            if n not in present
        ]
    exports = list(storage.committed_exports(day))
    with contextlib.suppress(FileNotFoundError):
        exports.append(storage.read_export_manifest(day))
    for export in exports:
        for part in export.parts:
            check = storage.verify_file(part.path, part.bytes, part.sha256)
            if not check.ok:
                problems.append(f"export task {export.task_id} part {part.index}: {check.describe()}")
    for dataset in RAW_LAYERS:
        path = storage.attachment_index_path(dataset, day)
        if not storage.exists(path):
            continue
        for key, value in storage.read_json(path).items():
            check = storage.verify_file(value.get("path"), value.get("bytes"), value.get("sha256"))
            if not check.ok:
                problems.append(f"{dataset.value} attachment {key}: {check.describe()}")
    return sorted(set(problems))


def _warehouse_file(storage: ArchiveStorage) -> str | None:
    """The local warehouse file when one exists (it is optional on remote roots)."""
    try:
        path = storage.warehouse_path
    except ValueError:
        return None
    return path if os.path.exists(path) else None


def _warehouse_holds(storage: ArchiveStorage, extension_id: int) -> bool:
    """Whether the warehouse's message views or marts (the marts are tables computed at the last
    rebuild) still hold rows of the extension. A warehouse that cannot be asked counts as holding them."""
    path = _warehouse_file(storage)
    if path is None:
        return False
    for name in (*MESSAGE_VIEWS, *MESSAGE_MART_SQL):
        try:
            _, rows = query(
                path, f'SELECT count(*) FROM "{name}" WHERE extension_id = {int(extension_id)}', storage
            )
        except Exception:
            return True
        if rows and rows[0][0]:
            return True
    return False


def _rebuild_warehouse(storage: ArchiveStorage) -> bool:
    """The warehouse's marts are tables computed from the messages: rebuilt so no count of the
    erased rows survives there. Only when a warehouse exists (it is optional on remote roots).

    Rebuilt whole into a new file, not refreshed: a refresh deletes rows inside a copy of the old
    file, whose freed blocks may still hold the erased rows' bytes."""
    if _warehouse_file(storage) is None:
        return False
    build_warehouse(storage, full=True)
    return True

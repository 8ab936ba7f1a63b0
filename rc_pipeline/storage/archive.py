"""`ArchiveStorage`: the archive root and every path, read and write under it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from rc_pipeline.storage.blobs import BlobPaths
from rc_pipeline.storage.capture_paths import CapturePaths
from rc_pipeline.storage.checksum import file_sha256
from rc_pipeline.storage.control_paths import ControlPaths
from rc_pipeline.storage.layout import (
    MESSAGE_CONTENT_DIR,
    RECORDINGS_DIR,
    TEMP_PREFIX,
    WAREHOUSE_FILE,
    Dataset,
    day_dirs,
)
from rc_pipeline.storage.message_paths import MessageStorePaths
from rc_pipeline.storage.raw import RawPartitions, page_line
from rc_pipeline.storage.tables import ParquetTables

# What the archive holds of a day, by side: the partitions (raw and typed) and the blob folders.
CALL_SIDE = (Dataset.RAW_CALL_LOG, Dataset.CALLS, Dataset.CALL_LEGS, Dataset.RECORDINGS)
MESSAGE_SIDE = (
    Dataset.RAW_MESSAGE_STORE,
    Dataset.RAW_MESSAGE_EXPORT,
    Dataset.RAW_MESSAGE_CAPTURE,
    Dataset.MESSAGES,
    Dataset.MESSAGE_ATTACHMENTS,
)

# `file_sha256` and `page_line` were defined here before the split; kept importable from here.
__all__ = ["CALL_SIDE", "MESSAGE_SIDE", "ArchiveStorage", "file_sha256", "page_line"]


class ArchiveStorage(RawPartitions, ParquetTables, BlobPaths, MessageStorePaths, ControlPaths, CapturePaths):
    """The archive at ``root`` (a local path or an fsspec URL such as ``s3://bucket/prefix``).

    All path decisions live here (see `rc_pipeline.storage.layout` for the tree). Paths
    returned are in the filesystem's own form: absolute local paths, or ``bucket/key``
    for object stores (use `url` for a protocol-qualified form).

    Each layer of the archive is its own module built on `StorageCore` (raw pages, Parquet
    tables, blobs, message store, control); this class only joins them and adds the warehouse location.
    """

    @property
    def warehouse_path(self) -> str:
        """Local path of the DuckDB warehouse: at the root for local archives, else as configured."""
        if self._warehouse_path:
            return str(Path(self._warehouse_path).expanduser().resolve())
        if not self.is_local:
            raise ValueError("a remote archive needs warehouse_path: DuckDB files must be local")
        return self.path(WAREHOUSE_FILE)

    def files_of_day(self, day: date, datasets: Iterable[Dataset]) -> list[str]:
        """Every file the archive holds of ``day`` for these datasets: the partitions' files (superseded
        pages and export zips included), and the day's recordings (with `Dataset.RECORDINGS`), captured
        call-log changes (with `Dataset.RAW_CALL_LOG`) and attachment files (with `Dataset.MESSAGES`).
        Temp files of crashed writers are left out. Sorted."""
        datasets = set(datasets)
        folders = [self.partition_dir(d, day) for d in datasets]
        if Dataset.RECORDINGS in datasets:
            folders.append(self.path(RECORDINGS_DIR, day_dirs(day)))
        if Dataset.RAW_CALL_LOG in datasets:
            folders.append(self.call_changes_dir(day))
        if Dataset.MESSAGES in datasets:
            folders.append(self.path(MESSAGE_CONTENT_DIR, day_dirs(day)))
        files: set[str] = set()
        for folder in folders:
            try:
                found = self.fs.find(folder)
            except FileNotFoundError:
                continue
            files.update(f for f in found if not any(p.startswith(TEMP_PREFIX) for p in f.split("/")))
        return sorted(files)

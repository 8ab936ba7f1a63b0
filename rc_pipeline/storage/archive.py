"""`ArchiveStorage`: the archive root and every path, read and write under it."""

from __future__ import annotations

from pathlib import Path

from rc_pipeline.storage.blobs import BlobPaths
from rc_pipeline.storage.capture_paths import CapturePaths
from rc_pipeline.storage.checksum import file_sha256
from rc_pipeline.storage.control_paths import ControlPaths
from rc_pipeline.storage.layout import WAREHOUSE_FILE
from rc_pipeline.storage.message_paths import MessageStorePaths
from rc_pipeline.storage.raw import RawPartitions, page_line
from rc_pipeline.storage.tables import ParquetTables

# `file_sha256` and `page_line` were defined here before the split; kept importable from here.
__all__ = ["ArchiveStorage", "file_sha256", "page_line"]


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

"""Archive storage: the layout, atomic writes, and the raw layer. No other module builds paths."""

from rc_pipeline.storage.archive import ArchiveStorage
from rc_pipeline.storage.atomic import atomic_open, atomic_write_bytes, staged_local_file
from rc_pipeline.storage.checksum import file_sha256
from rc_pipeline.storage.layout import Dataset, recording_extension
from rc_pipeline.storage.manifest import ExportManifest, ExportPart, RawManifest
from rc_pipeline.storage.raw import page_line
from rc_pipeline.storage.verify import FileCheck, verify_file

__all__ = [
    "ArchiveStorage",
    "Dataset",
    "ExportManifest",
    "ExportPart",
    "FileCheck",
    "RawManifest",
    "atomic_open",
    "atomic_write_bytes",
    "file_sha256",
    "page_line",
    "recording_extension",
    "staged_local_file",
    "verify_file",
]

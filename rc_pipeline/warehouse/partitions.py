"""What the archive holds now, partition by partition: how a refresh knows which days changed.

A partition's signature is what the filesystem says of its file without reading it: size, modification
time and identity (inode on local disks, ETag on object stores). Every Parquet write publishes a new
file (atomic replace, or one PUT), so a re-written day (a rebuild, an erasure) always gets a new
signature, and reading the signatures of years of partitions is one listing per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.layout import parse_partition_dir_name


@dataclass(frozen=True)
class Partition:
    """One partition file of a dataset as listed now."""

    dataset: str
    day: date
    path: str
    signature: str


def signature(info: dict[str, Any]) -> str:
    """Size, modification time and identity of a listed file, as one comparable string."""
    modified = info.get("mtime", info.get("LastModified", info.get("last_modified", "")))
    identity = info.get("ino", info.get("ETag", info.get("etag", "")))
    return f"{info.get('size')}|{modified}|{identity}"


def list_partitions(storage: ArchiveStorage, dataset: Dataset) -> dict[date, Partition]:
    """Every complete partition of ``dataset``, by day (temp files and odd directories are skipped)."""
    # Object-store filesystems cache listings per process (by directory, so all of it goes): another
    # process's writes must be seen.
    storage.fs.invalidate_cache()
    found = storage.fs.glob(storage.parquet_glob(dataset), detail=True)
    partitions: dict[date, Partition] = {}
    for path, info in found.items():
        directory = path.rstrip("/").rsplit("/", 2)[-2]
        day = parse_partition_dir_name(dataset, directory)
        if day is None:
            continue
        partitions[day] = Partition(dataset.value, day, path, signature(info))
    return partitions


@dataclass(frozen=True)
class Changes:
    """Days of one dataset whose partition is new, re-written or gone since the last refresh."""

    added: frozenset[date] = frozenset()
    rewritten: frozenset[date] = frozenset()
    removed: frozenset[date] = frozenset()

    @property
    def days(self) -> frozenset[date]:
        return self.added | self.rewritten | self.removed


def compare(recorded: dict[date, str], current: dict[date, Partition]) -> Changes:
    """What changed between the signatures a refresh recorded and the partitions listed now."""
    return Changes(
        added=frozenset(day for day in current if day not in recorded),
        rewritten=frozenset(
            day for day, part in current.items() if day in recorded and recorded[day] != part.signature
        ),
        removed=frozenset(day for day in recorded if day not in current),
    )

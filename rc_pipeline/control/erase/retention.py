"""Records retention overrides erasure: what an erasure would change that S3 Object Lock keeps.

On an S3 archive an erasure re-writes and removes objects. Where one of them is locked (a retention
date still ahead, or a legal hold), S3 keeps the locked version whatever is written over it: a
re-write only adds a version and a delete only a delete marker. An erasure that went ahead would say
"erased" while the person's records stay in the bucket, so it is refused before anything is sent or
written, naming the object, its lock and the reason. The retention duty (e.g. SEC 17a-4, FINRA 4511)
is a legal obligation that the GDPR's right to erasure yields to (art. 17(3)(b)).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime

from rc_pipeline.control.erase.scan import _DayScan
from rc_pipeline.message_store.captured import capture_files
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.worm import ObjectLock, bucket_has_object_lock, is_s3, version_locks

# Shown in full before "and N more": enough to act on, short enough for a terminal.
SHOWN = 5


class ErasureRetained(ValueError):
    """Objects the erasure would change are under S3 Object Lock: nothing is erased."""

    def __init__(self, extension_id: int, locked: list[ObjectLock], total: int) -> None:
        self.extension_id = extension_id
        self.locked = locked
        first = locked[0]
        super().__init__(
            f"erasure of extension {extension_id} refused: object {first.path} is under S3 Object Lock "
            f"({first.describe()}): records retention overrides erasure. {len(locked)} of the {total} "
            "object(s) it would re-write or remove are locked; nothing was deleted at the source or "
            "changed in the archive by this run. Erase once their retention has passed (and any legal "
            "hold is released)"
        )


def _day_objects(storage: ArchiveStorage, scan: _DayScan, extension_id: int) -> set[str]:
    """Every object erasing the person from ``scan.day`` would re-write or remove."""
    day = scan.day
    paths = {hit.path for hit in scan.raw} | set(scan.attachment_files) | {r.path for r in scan.repairs}
    for folder in scan.content_dirs:
        try:
            paths.update(storage.fs.find(folder))
        except FileNotFoundError:
            pass
    for dataset in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS):
        paths.add(storage.parquet_path(dataset, day))
    for dataset in scan.index_keys:
        paths.add(storage.attachment_index_path(dataset, day))
    for dataset in (Dataset.RAW_MESSAGE_STORE, Dataset.RAW_MESSAGE_EXPORT):
        paths.add(storage.raw_partition_manifest(dataset, day))
    return paths


def _capture_objects(storage: ArchiveStorage, extension_id: int) -> set[str]:
    """The capture layer's objects erasing the person would remove or re-write (see `erase_captured`)."""
    paths: set[str] = set()
    for day in storage.list_partitions(Dataset.RAW_MESSAGE_CAPTURE):
        mine = [f.path for f in capture_files(storage, day) if f.extension_id == int(extension_id)]
        if mine:
            paths.update(mine)
            paths.add(storage.capture_manifest_path(day))
    return paths


def locked_objects(
    storage: ArchiveStorage, paths: Iterable[str], now: datetime | None = None
) -> tuple[list[ObjectLock], int]:
    """Every version of ``paths`` S3 would refuse to delete now, and how many of the paths exist.

    Earlier versions count as much as the current one: a table rebuilt or a page re-fetched since
    still holds the person's records in the version it replaced."""
    now = now or datetime.now(UTC)
    locked, existing = [], 0
    for path in sorted(set(paths)):
        versions = version_locks(storage.fs, path)
        existing += bool(versions)
        locked += [
            dataclasses.replace(lock, path=storage.relative(path)) for lock in versions if lock.locked_at(now)
        ]
    return locked, existing


def refuse_retained(storage: ArchiveStorage, scans: dict, extension_id: int) -> list[ObjectLock]:
    """Raise `ErasureRetained` when an object the erasure would change is locked; returns [] otherwise.
    Only S3 can lock an object: any other archive, or a bucket created without Object Lock (asked
    first: a plain bucket needs no version listing, nor the permission for it), has nothing to check.
    When the bucket's configuration cannot be read, every version is checked."""
    if not is_s3(storage.fs):
        return []
    try:
        can_lock = bucket_has_object_lock(storage.fs, storage.root.split("/", 1)[0])
    except Exception:
        can_lock = True  # unknown: assume it can, and look at every version
    if not can_lock:
        return []
    paths = set().union(*(_day_objects(storage, s, extension_id) for s in scans.values())) if scans else set()
    paths |= _capture_objects(storage, extension_id)
    locked, existing = locked_objects(storage, paths)
    if locked:
        raise ErasureRetained(extension_id, locked, existing)
    return []


def retained(storage: ArchiveStorage, scans: dict, extension_id: int) -> list[str]:
    """The dry run's view: each locked object the erasure would change, as a line (none: [])."""
    try:
        refuse_retained(storage, scans, extension_id)
    except ErasureRetained as refused:
        lines = [f"{lock.path}: {lock.describe()}" for lock in refused.locked[:SHOWN]]
        if len(refused.locked) > SHOWN:
            lines.append(f"... and {len(refused.locked) - SHOWN} more")
        return lines
    return []

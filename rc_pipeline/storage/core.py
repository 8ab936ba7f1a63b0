"""`StorageCore`: the archive root and the basics every part of the storage layer builds on.

The other storage modules (raw partitions, Parquet tables, blobs, message store) each add their
paths as a subclass of this one, and `ArchiveStorage` combines them. They only ever import this
module, never each other or `archive`, so the package has no import cycle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import ChainMap
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from fsspec.core import url_to_fs

from rc_pipeline.storage.atomic import (
    atomic_open,
    atomic_write_bytes,
    create_exclusive,
    is_local,
    staged_local_file,
)
from rc_pipeline.storage.checksum import file_sha256
from rc_pipeline.storage.layout import PARTITION_FILE, Dataset, parse_partition_dir_name, partition_dir_name
from rc_pipeline.storage.modes import make_dirs
from rc_pipeline.storage.verify import FileCheck, verify_file
from rc_pipeline.storage.worm import (
    ObjectLock,
    WormPolicy,
    check_bucket,
    is_record,
    object_lock,
    set_legal_hold,
)


class StorageCore:
    """The archive at ``root`` (a local path or an fsspec URL such as ``s3://bucket/prefix``).

    Paths returned are in the filesystem's own form: absolute local paths, or ``bucket/key``
    for object stores (use `url` for a protocol-qualified form).
    """

    def __init__(self, root: str, warehouse_path: str | None = None, worm: WormPolicy | None = None) -> None:
        self.fs, root_path = url_to_fs(root)
        self.root = root_path.rstrip("/") or "/"
        self._warehouse_path = warehouse_path
        # Extra arguments of every upload to an object store; local writes take none.
        self.put_kwargs: dict[str, Any] = {}
        # WORM: every record lands with an Object Lock (see `put_kwargs_for`). Checked now, before
        # anything is written: a bucket that cannot lock fails here, not after years of unlocked records.
        self.worm = worm
        if worm is not None:
            check_bucket(self.fs, self.root, worm)

    def put_kwargs_for(self, path: str) -> Mapping[str, Any]:
        """The upload arguments of ``path``: with WORM, a record's carry its Object Lock."""
        if self.worm is not None and is_record(self.relative(path)):
            # A ChainMap reads the lock's date only when the upload takes its arguments.
            return ChainMap(self.worm.put_kwargs(), self.put_kwargs)  # type: ignore[arg-type]
        return self.put_kwargs

    # ------------------------------------------------------------------ basics
    @property
    def is_local(self) -> bool:
        """True when the archive is on the local filesystem (DuckDB and os can use its paths)."""
        return is_local(self.fs)

    def path(self, *parts: str) -> str:
        """Join ``parts`` under the root."""
        return "/".join([self.root, *(p.strip("/") for p in parts if p)])

    def url(self, path: str) -> str:
        """Protocol-qualified form of ``path`` (unchanged for local paths)."""
        return path if self.is_local else self.fs.unstrip_protocol(path)

    @staticmethod
    def fs_name(path: str) -> str:
        """Last component of ``path``."""
        return path.rstrip("/").rsplit("/", 1)[-1]

    def relative(self, path: str) -> str:
        """``path`` relative to the root (unchanged when it is not under it)."""
        prefix = self.root.rstrip("/") + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path

    def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""
        return bool(self.fs.exists(path))

    def size(self, path: str) -> int:
        """Size in bytes of the file at ``path``."""
        return int(self.fs.size(path))

    def file_sha256(self, path: str) -> str:
        """Hex sha256 of the file at ``path``."""
        return file_sha256(path, self.fs)

    def verify_file(
        self, path: str | None, expected_bytes: int | None, expected_sha256: str | None
    ) -> FileCheck:
        """Whether an archived file still has its recorded size and sha256 (see `verify_file`)."""
        return verify_file(path, expected_bytes, expected_sha256, self.fs)

    def remove(self, path: str) -> None:
        """Delete a file if it exists."""
        with contextlib.suppress(FileNotFoundError):
            if self.exists(path):
                self.fs.rm(path)

    def keep_as(self, source: str, target: str) -> None:
        """Keep the file at ``source`` under ``target`` too, before ``source`` is overwritten.

        Locally a rename. On an object store the bytes are uploaded again under ``target`` with its
        upload arguments, and ``source`` is left for the caller's next upload to overwrite: no delete
        (on a versioned bucket it would only add a delete marker). Not a server-side copy: that did not
        keep an Object Lock in tests against an S3 server (S3 wants a checksum header with a locked
        copy). Only a re-fetch that differs keeps a file this way, so the extra traffic is rare."""
        if self.is_local:
            self.fs.mv(source, target)
            return
        with staged_local_file(target, fs=self.fs, put_kwargs=self.put_kwargs_for(target)) as local:
            self.fs.get_file(source, str(local))

    # ------------------------------------------------------------ Object Lock
    def object_lock(self, path: str) -> ObjectLock:
        """What S3 says of ``path``'s lock (an S3 archive only; FileNotFoundError when absent)."""
        return object_lock(self.fs, path)

    def set_legal_hold(self, path: str, on: bool) -> None:
        """Turn the S3 legal hold of ``path``'s current version on or off (a WORM archive only)."""
        set_legal_hold(self.fs, path, on)

    def lock_problem(self, path: str, in_force_at: datetime | None = None) -> str | None:
        """Why ``path`` is not locked as the WORM policy requires (None: it is, or WORM is off).
        Working state (see `worm.UNLOCKED_PREFIXES`) is never locked and never a problem.

        With ``in_force_at`` the lock must also still hold at that moment: what a delete at the
        source needs (a lock that ran out protects nothing), not what verify asks of old records."""
        if self.worm is None or not is_record(self.relative(path)):
            return None
        try:
            lock = dataclasses.replace(self.object_lock(path), path=self.relative(path))
        except FileNotFoundError:
            return f"{self.relative(path)}: missing"
        problem = self.worm.problem(lock)
        if problem is None and in_force_at is not None and not lock.locked_at(in_force_at):
            return f"{lock.path}: {lock.describe()}, no longer in force"
        return problem

    # ------------------------------------------------------------ writes
    def make_dirs(self, path: str) -> None:
        """Create the directory ``path`` and its parents: owner-only (or group-readable) when local."""
        if self.is_local:
            make_dirs(path)
        else:
            self.fs.makedirs(path, exist_ok=True)

    @contextlib.contextmanager
    def atomic_open(self, path: str) -> Iterator[IO[bytes]]:
        """Binary writer that publishes ``path`` whole on success, leaves it untouched on error."""
        with atomic_open(path, "wb", fs=self.fs, put_kwargs=self.put_kwargs_for(path)) as handle:
            yield handle

    def atomic_write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically."""
        atomic_write_bytes(path, data, fs=self.fs, put_kwargs=self.put_kwargs_for(path))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Write ``path`` whole unless it exists (False then): see `atomic.create_exclusive`."""
        return create_exclusive(path, data, fs=self.fs, put_kwargs=self.put_kwargs_for(path))

    @contextlib.contextmanager
    def staged_file(self, path: str) -> Iterator[Path]:
        """Local path to fill; published to ``path`` on success (see `staged_local_file`)."""
        with staged_local_file(path, fs=self.fs, put_kwargs=self.put_kwargs_for(path)) as local:
            yield local

    # ------------------------------------------------------------ JSON files
    def write_json(self, path: str, value: Any) -> None:
        """Write ``value`` as stable JSON (sorted keys) atomically."""
        data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
        self.atomic_write_bytes(path, data)

    def read_json(self, path: str) -> Any:
        """Parse the JSON file at ``path`` (FileNotFoundError when absent)."""
        with self.fs.open(path, "rb") as handle:
            return json.loads(handle.read())

    # --------------------------------------------------------------- datasets
    def dataset_dir(self, dataset: Dataset | str) -> str:
        """Directory holding every partition of ``dataset``."""
        return self.path(Dataset(dataset).value)

    def partition_dir(self, dataset: Dataset | str, day: date) -> str:
        """Directory of one partition, e.g. ``.../parquet/calls/date=2024-05-01``."""
        dataset = Dataset(dataset)
        return self.path(dataset.value, partition_dir_name(dataset, day))

    def partition_file(self, dataset: Dataset | str, day: date) -> str:
        """The file whose presence makes a partition complete (the Parquet file, or the raw manifest)."""
        dataset = Dataset(dataset)
        return f"{self.partition_dir(dataset, day)}/{PARTITION_FILE[dataset]}"

    def list_partitions(self, dataset: Dataset | str) -> list[date]:
        """Days with a complete partition, sorted; half-written or temp directories are skipped."""
        dataset = Dataset(dataset)
        base = self.dataset_dir(dataset)
        try:
            entries = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        days = []
        for entry in entries:
            name = entry.rstrip("/").rpartition("/")[2]
            day = parse_partition_dir_name(dataset, name)
            if day is not None and self.exists(f"{base}/{name}/{PARTITION_FILE[dataset]}"):
                days.append(day)
        return sorted(days)

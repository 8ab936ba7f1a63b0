"""`ArchiveStorage`: the archive root and every path, read and write under it."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from rc_pipeline.storage.atomic import (
    atomic_open,
    atomic_write_bytes,
    is_local,
    staged_local_file,
    temp_sibling,
)
from rc_pipeline.storage.layout import (
    MESSAGE_CONTENT_DIR,
    PARTITION_FILE,
    RAW_DATASETS,
    RAW_MANIFEST_FILE,
    RAW_PAGES_FILE,
    RECORDINGS_DIR,
    TEMP_PREFIX,
    WAREHOUSE_FILE,
    Dataset,
    day_dirs,
    parse_partition_dir_name,
    partition_dir_name,
    recording_extension,
    safe_name,
)
from rc_pipeline.storage.manifest import RawManifest, iso
from rc_pipeline.storage.message_paths import MessageStorePaths

_HASH_CHUNK = 1 << 20
_READ_CHUNK = 1 << 24
# The fastest level: JSON pages compress well even so, and the raw writer must never be
# what slows a fetch down.
_GZIP_LEVEL = 1


class _HashingWriter(io.RawIOBase):
    """Passes bytes through to ``target`` while hashing them, so the file is never re-read."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.written += len(data)
        self._target.write(data)
        return len(data)


def file_sha256(path: str, fs: fsspec.AbstractFileSystem | None = None) -> str:
    """Hex sha256 of a file's bytes, streamed so large recordings do not load into memory."""
    fs = fs or fsspec.filesystem("file")
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def page_line(page: bytes | str) -> bytes:
    """One page as one NDJSON line.

    Pages are stored as received. The one exception: RingCentral pretty-prints its JSON, and
    a raw line break would split a page over several lines. In valid JSON a CR or LF can only
    be insignificant whitespace (inside strings they are escaped), so each becomes a space:
    same length, same JSON value, same bytes everywhere else.
    """
    data = page.encode() if isinstance(page, str) else bytes(page)
    if b"\n" in data or b"\r" in data:
        data = data.replace(b"\r", b" ").replace(b"\n", b" ")
    return data


def page_counts(line: bytes) -> tuple[int, int | None]:
    """(records on the page, ``paging.totalElements`` or None) of one page.

    Parsing the page is the price of counting records honestly rather than trusting a regex;
    the raw writer runs at API speed, so it is cheap by comparison.
    """
    page = json.loads(line)
    if not isinstance(page, dict):
        raise ValueError("a call-log page must be a JSON object")
    records = page.get("records")
    paging = page.get("paging") or {}
    reported = paging.get("totalElements") if isinstance(paging, dict) else None
    return (len(records) if isinstance(records, list) else 0), (
        int(reported) if isinstance(reported, int) else None
    )


class ArchiveStorage(MessageStorePaths):
    """The archive at ``root`` (a local path or an fsspec URL such as ``s3://bucket/prefix``).

    All path decisions live here (see `rc_pipeline.storage.layout` for the tree). Paths
    returned are in the filesystem's own form: absolute local paths, or ``bucket/key``
    for object stores (use `url` for a protocol-qualified form).
    """

    def __init__(self, root: str, warehouse_path: str | None = None) -> None:
        self.fs, root_path = url_to_fs(root)
        self.root = root_path.rstrip("/") or "/"
        self._warehouse_path = warehouse_path

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

    def exists(self, path: str) -> bool:
        """Whether a file exists at ``path``."""
        return bool(self.fs.exists(path))

    def size(self, path: str) -> int:
        """Size in bytes of the file at ``path``."""
        return int(self.fs.size(path))

    def file_sha256(self, path: str) -> str:
        """Hex sha256 of the file at ``path``."""
        return file_sha256(path, self.fs)

    @contextlib.contextmanager
    def atomic_open(self, path: str) -> Iterator[IO[bytes]]:
        """Binary writer that publishes ``path`` whole on success, leaves it untouched on error."""
        with atomic_open(path, "wb", fs=self.fs) as handle:
            yield handle

    def atomic_write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically."""
        atomic_write_bytes(path, data, fs=self.fs)

    @contextlib.contextmanager
    def staged_file(self, path: str) -> Iterator[Path]:
        """Local path to fill; published to ``path`` on success (see `staged_local_file`)."""
        with staged_local_file(path, fs=self.fs) as local:
            yield local

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

    def parquet_path(self, dataset: Dataset | str, day: date) -> str:
        """The Parquet file of one partition of a typed dataset."""
        dataset = Dataset(dataset)
        if dataset in RAW_DATASETS:
            raise ValueError(f"{dataset.value} is raw, not Parquet")
        return self.partition_file(dataset, day)

    def parquet_glob(self, dataset: Dataset | str) -> str:
        """Glob matching every partition file of a typed dataset (what DuckDB reads)."""
        dataset = Dataset(dataset)
        return f"{self.dataset_dir(dataset)}/*/{PARTITION_FILE[dataset]}"

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

    def read_parquet(self, dataset: Dataset | str, day: date) -> pa.Table:
        """One typed partition as an Arrow table (its schema is the one it was written with)."""
        with self.fs.open(self.parquet_path(dataset, day), "rb") as handle:
            return pq.read_table(handle)

    # ------------------------------------------------------------ raw layers
    def raw_pages_path(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> str:
        """The gzip NDJSON page file of a raw partition."""
        return f"{self.partition_dir(dataset, day)}/{RAW_PAGES_FILE}"

    def raw_manifest_path(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> str:
        """The manifest of a raw partition."""
        return f"{self.partition_dir(dataset, day)}/{RAW_MANIFEST_FILE}"

    def write_raw_pages(
        self,
        day: date,
        pages: Iterable[bytes | str],
        window_start: datetime | str,
        window_end: datetime | str,
        fetched_at: datetime | str | None = None,
        dataset: Dataset | str = Dataset.RAW_CALL_LOG,
    ) -> RawManifest:
        """Store a new fetch of ``day`` as the partition's current pages, with its manifest.

        A fetch that differs from the stored one does not erase it: the previous page file is kept
        beside the new one as ``pages.superseded-<fetched_at>.ndjson.gz``. RingCentral deletes
        records (retention, users), so a re-fetch can hold fewer calls than the archive already
        has; the archive is the system of record and must not shrink. An identical re-fetch only
        refreshes the manifest.

        Order matters for crash safety: the page file is built under a temp name, the old
        manifest is removed (the partition becomes incomplete), the old pages are set aside, the
        new page file is renamed in, and the new manifest is written last.
        """
        dataset = Dataset(dataset)
        pages_path = self.raw_pages_path(day, dataset)
        manifest_path = self.raw_manifest_path(day, dataset)
        counts: dict[str, int | None] = {"pages": 0, "reported": None, "received": 0}
        try:
            previous: RawManifest | None = self.read_manifest(day, dataset)
        except FileNotFoundError:
            previous = None

        def retract_old_manifest() -> None:
            # From here until the new manifest lands the partition reads as incomplete.
            if self.exists(manifest_path):
                self.fs.rm(manifest_path)
            if self.exists(pages_path) and (
                previous is None or previous.sha256 != hashing.digest.hexdigest()
            ):
                stamp = previous.fetched_at if previous else datetime.now(UTC).isoformat()
                self.fs.mv(pages_path, self.superseded_pages_path(day, stamp, dataset))

        with atomic_open(pages_path, "wb", fs=self.fs, before_publish=retract_old_manifest) as handle:
            # mtime=0: the gzip header otherwise embeds the write time and re-runs differ.
            with gzip.GzipFile(
                filename="",
                mode="wb",
                fileobj=(hashing := _HashingWriter(handle)),
                compresslevel=_GZIP_LEVEL,
                mtime=0,
            ) as gz:
                for page in pages:
                    line = page_line(page)
                    gz.write(line)
                    gz.write(b"\n")
                    received, reported = page_counts(line)
                    counts["pages"] += 1
                    counts["received"] += received
                    if counts["reported"] is None:
                        counts["reported"] = reported
        manifest = RawManifest(
            window_start=iso(window_start),
            window_end=iso(window_end),
            pages=counts["pages"],
            records_reported=counts["reported"],
            records_received=counts["received"],
            fetched_at=iso(fetched_at or datetime.now(UTC)),
            sha256=hashing.digest.hexdigest(),
            pages_file=RAW_PAGES_FILE,
            bytes=hashing.written,
            superseded=tuple(self.fs_name(p) for p in self.superseded_pages_paths(day, dataset)),
        )
        self.atomic_write_bytes(manifest_path, manifest.to_json())
        return manifest

    def superseded_pages_path(self, day: date, fetched_at: str, dataset: Dataset | str) -> str:
        stamp = re.sub(r"[^0-9A-Za-z]", "", fetched_at)
        return f"{self.partition_dir(dataset, day)}/pages.superseded-{stamp}.ndjson.gz"

    def superseded_pages_paths(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> list[str]:
        """Earlier fetches of a raw partition that differed from the current one, oldest first."""
        directory = self.partition_dir(dataset, day)
        if not self.exists(directory):
            return []
        names = [
            p for p in self.fs.ls(directory, detail=False) if "/pages.superseded-" in f"/{self.fs_name(p)}"
        ]
        return sorted(names, key=self.fs_name)

    @staticmethod
    def fs_name(path: str) -> str:
        return path.rstrip("/").rsplit("/", 1)[-1]

    def write_raw_call_log(
        self,
        day: date,
        pages: Iterable[bytes | str],
        window_start: datetime | str,
        window_end: datetime | str,
        fetched_at: datetime | str | None = None,
    ) -> RawManifest:
        """Replace the raw call-log partition of ``day`` (see `write_raw_pages`)."""
        return self.write_raw_pages(day, pages, window_start, window_end, fetched_at, Dataset.RAW_CALL_LOG)

    def read_manifest(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> RawManifest:
        """The manifest of a complete raw partition; FileNotFoundError if the partition is not complete."""
        with self.fs.open(self.raw_manifest_path(day, dataset), "rb") as handle:
            return RawManifest.from_json(handle.read())

    def read_raw_pages(
        self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG, *, all_fetches: bool = False
    ) -> Iterator[bytes]:
        """Each stored page line, without its newline, streamed from the gzip file(s).

        With ``all_fetches`` the superseded fetches come first (oldest first), then the current
        one, so a reader that keeps the last version of each record sees the newest.
        Only complete partitions are read: a missing manifest raises FileNotFoundError.
        """
        self.read_manifest(day, dataset)
        paths = [*self.superseded_pages_paths(day, dataset)] if all_fetches else []
        paths.append(self.raw_pages_path(day, dataset))
        for path in paths:
            yield from self._gzip_lines(path)

    def _gzip_lines(self, path: str) -> Iterator[bytes]:
        with self.fs.open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as gz:
            # Pages are megabytes: splitting big decompressed chunks beats readline's small buffer.
            pending = b""
            while chunk := gz.read(_READ_CHUNK):
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                yield from lines
            if pending:
                yield pending

    def read_raw_call_log_pages(self, day: date) -> Iterator[bytes]:
        """Every archived call-log page of ``day``, earlier differing fetches first (see `read_raw_pages`)."""
        return self.read_raw_pages(day, Dataset.RAW_CALL_LOG, all_fetches=True)

    def verify_raw_partition(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> bool:
        """True when the page file's sha256 still matches its manifest."""
        manifest = self.read_manifest(day, dataset)
        return self.file_sha256(self.raw_pages_path(day, dataset)) == manifest.sha256

    # ------------------------------------------------------------------ blobs
    def recording_path(self, partition_date: date, recording_id: str, content_type: str) -> str:
        """Final archive path of a call recording: ``recordings/YYYY/MM/DD/<id>.<mp3|wav>``."""
        name = f"{safe_name(str(recording_id), 'recording id')}.{recording_extension(content_type)}"
        return self.path(RECORDINGS_DIR, day_dirs(partition_date), name)

    @contextlib.contextmanager
    def recording_download(
        self, partition_date: date, recording_id: str, content_type: str
    ) -> Iterator[Path]:
        """Local path to download a recording into; on success it is published to `recording_path`.

        For local roots the path is a temp sibling of the final file (publication is a rename);
        for remote roots it is a local temp file that is uploaded with fsspec ``put``.
        """
        with self.staged_file(self.recording_path(partition_date, recording_id, content_type)) as local:
            yield local

    def recording_incoming_path(self, partition_date: date, recording_id: str) -> str:
        """Local path to download a recording into before its content type is known.

        Local roots: a temp-named file in the final directory, so `publish_recording` is one
        rename. Remote roots: a file in the local temp directory. The name is fixed per
        recording so a retried download overwrites its predecessor instead of piling up.
        """
        name = f"{TEMP_PREFIX}incoming-{safe_name(str(recording_id), 'recording id')}"
        if self.is_local:
            directory = self.path(RECORDINGS_DIR, day_dirs(partition_date))
        else:
            root_key = hashlib.sha256(self.url(self.root).encode()).hexdigest()[:16]
            directory = os.path.join(
                tempfile.gettempdir(), "rc-pipeline-incoming", root_key, day_dirs(partition_date)
            )
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, name)

    def publish_recording(
        self, incoming: str | os.PathLike[str], partition_date: date, recording_id: str, content_type: str
    ) -> str:
        """Move a downloaded recording from `recording_incoming_path` to its final path; returns it.

        The file is fsynced and renamed (local) or uploaded under a temp key and moved
        (remote). An unusable content type raises ValueError and discards the download.
        """
        incoming = os.fspath(incoming)
        try:
            final = self.recording_path(partition_date, recording_id, content_type)
            if self.is_local:
                with open(incoming, "rb+") as handle:
                    os.fsync(handle.fileno())
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(incoming, final)
            else:
                remote_tmp = temp_sibling(final)
                self.fs.put(incoming, remote_tmp)
                self.fs.mv(remote_tmp, final)
        finally:
            self.discard_incoming(incoming)
        return final

    def discard_incoming(self, incoming: str | os.PathLike[str]) -> None:
        """Remove a download that will not be published (a failed or abandoned fetch)."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(incoming)

    def message_attachment_path(
        self, partition_date: date, message_id: str | int, attachment_id: str | int, extension: str
    ) -> str:
        """Archive path of a message-store attachment: stable per message and attachment id."""
        message = safe_name(str(message_id), "message id")
        attachment = safe_name(str(attachment_id), "attachment id")
        ext = safe_name(extension.lstrip("."), "extension")
        return self.path(MESSAGE_CONTENT_DIR, day_dirs(partition_date), message, f"{attachment}.{ext}")

    # -------------------------------------------------------------- warehouse
    @property
    def warehouse_path(self) -> str:
        """Local path of the DuckDB warehouse: at the root for local archives, else as configured."""
        if self._warehouse_path:
            return str(Path(self._warehouse_path).expanduser().resolve())
        if not self.is_local:
            raise ValueError("a remote archive needs warehouse_path: DuckDB files must be local")
        return self.path(WAREHOUSE_FILE)

"""Raw partitions: API pages stored as received (gzip NDJSON) with their manifest."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import IO

from rc_pipeline.storage.atomic import atomic_open
from rc_pipeline.storage.checksum import HashingWriter
from rc_pipeline.storage.core import StorageCore
from rc_pipeline.storage.layout import (
    CAPTURE_MANIFEST_FILE,
    RAW_CHECKED_DIR,
    RAW_MANIFEST_FILE,
    RAW_PAGES_FILE,
    Dataset,
    partition_dir_name,
    safe_name,
)
from rc_pipeline.storage.manifest import RawManifest, iso

_READ_CHUNK = 1 << 24
# The fastest level: JSON pages compress well even so, and the raw writer must never be
# what slows a fetch down.
_GZIP_LEVEL = 1


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


def write_page_lines(
    handle: IO[bytes], pages: Iterable[bytes | str], counts: dict[str, int | None]
) -> HashingWriter:
    """Write ``pages`` into ``handle`` as the archive stores them (gzip NDJSON, one page a line) and
    count pages and records into ``counts``; returns the hasher of the bytes written.

    mtime=0 and no file name: the gzip header would otherwise embed the write time and re-runs differ.
    """
    hashing = HashingWriter(handle)
    with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, compresslevel=_GZIP_LEVEL, mtime=0) as gz:
        for page in pages:
            line = page_line(page)
            gz.write(line)
            gz.write(b"\n")
            received, reported = page_counts(line)
            counts["pages"] = int(counts["pages"] or 0) + 1
            counts["received"] = int(counts["received"] or 0) + received
            if counts["reported"] is None:
                counts["reported"] = reported
    return hashing


def _utc_sort_key(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


class _Unchanged(Exception):
    """Raised before publication when a re-fetch holds exactly the stored pages: nothing is published."""


class RawPartitions(StorageCore):
    """The raw layer under ``raw/``: the system of record, never appended and never shrunk."""

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
        *,
        window_is_fetch_time: bool = False,
    ) -> RawManifest:
        """Store a new fetch of ``day`` as the partition's current pages, with its manifest.

        A fetch that differs from the stored one does not erase it: the previous page file is kept
        beside the new one as ``pages.superseded-<fetched_at>.ndjson.gz``. RingCentral deletes
        records (retention, users), so a re-fetch can hold fewer calls than the archive already
        has; the archive is the system of record and must not shrink.

        An identical re-fetch (same pages byte for byte, same window) changes nothing in the
        partition: the page file and the manifest (its ``fetched_at`` included) stay as they were,
        mtimes too, and the time of the check goes to `raw_checked_path` instead; the stored
        manifest is returned. ``window_is_fetch_time`` says the window is only the moment of the
        fetch (a snapshot): then the pages alone decide.

        Order matters for crash safety: the page file is built under a temp name, the old
        manifest is removed (the partition becomes incomplete), the old pages are set aside, the
        new page file is renamed in, and the new manifest is written last.
        """
        dataset = Dataset(dataset)
        pages_path = self.raw_pages_path(day, dataset)
        manifest_path = self.raw_manifest_path(day, dataset)
        counts: dict[str, int | None] = {"pages": 0, "reported": None, "received": 0}
        checked_at = iso(fetched_at or datetime.now(UTC))
        try:
            previous: RawManifest | None = self.read_manifest(day, dataset)
        except FileNotFoundError:
            previous = None

        def unchanged() -> bool:
            if previous is None or previous.sha256 != hashing.digest.hexdigest():
                return False
            if not window_is_fetch_time and (previous.window_start, previous.window_end) != (
                iso(window_start),
                iso(window_end),
            ):
                return False
            return self.verify_file(pages_path, previous.bytes, previous.sha256).ok

        def retract_old_manifest() -> None:
            if unchanged():
                raise _Unchanged
            # From here until the new manifest lands the partition reads as incomplete.
            if self.exists(manifest_path):
                self.fs.rm(manifest_path)
            if self.exists(pages_path) and (
                previous is None or previous.sha256 != hashing.digest.hexdigest()
            ):
                stamp = previous.fetched_at if previous else datetime.now(UTC).isoformat()
                self.keep_as(pages_path, self.superseded_pages_path(day, stamp, dataset))

        try:
            with atomic_open(
                pages_path,
                "wb",
                fs=self.fs,
                before_publish=retract_old_manifest,
                put_kwargs=self.put_kwargs_for(pages_path),
            ) as handle:
                hashing = write_page_lines(handle, pages, counts)
        except _Unchanged:
            assert previous is not None
            self.write_json(
                self.raw_checked_path(day, dataset),
                {"checked_at": checked_at, "fetched_at": previous.fetched_at, "sha256": previous.sha256},
            )
            return previous
        manifest = RawManifest(
            window_start=iso(window_start),
            window_end=iso(window_end),
            pages=counts["pages"],
            records_reported=counts["reported"],
            records_received=counts["received"],
            fetched_at=checked_at,
            sha256=hashing.digest.hexdigest(),
            pages_file=RAW_PAGES_FILE,
            bytes=hashing.written,
            superseded=tuple(self.fs_name(p) for p in self.superseded_pages_paths(day, dataset)),
        )
        self.atomic_write_bytes(manifest_path, manifest.to_json())
        return manifest

    def raw_checked_path(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> str:
        """``state/raw_checked/<dataset>/date=D.json`` (e.g. ``call_log``): when a re-fetch last found the
        partition unchanged."""
        dataset = Dataset(dataset)
        name = dataset.value.removeprefix("raw/")
        return self.path(RAW_CHECKED_DIR, name, f"{partition_dir_name(dataset, day)}.json")

    def raw_last_fetch(self, day: date, dataset: Dataset | str = Dataset.RAW_CALL_LOG) -> str:
        """When the source last answered with this partition's pages: the manifest's ``fetched_at``,
        or a later identical re-fetch's time. FileNotFoundError if the partition is not complete."""
        manifest = self.read_manifest(day, dataset)
        try:
            checked = self.read_json(self.raw_checked_path(day, dataset))
        except FileNotFoundError:
            return manifest.fetched_at
        if not isinstance(checked, dict) or checked.get("sha256") != manifest.sha256:
            return manifest.fetched_at  # a check of an earlier content, superseded since
        return max(manifest.fetched_at, str(checked.get("checked_at") or ""), key=_utc_sort_key)

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
        """True when the page file still has the size and sha256 its manifest recorded."""
        manifest = self.read_manifest(day, dataset)
        return self.verify_file(self.raw_pages_path(day, dataset), manifest.bytes, manifest.sha256).ok

    # ------------------------------------------------------------ message capture (message-sync)
    def capture_file_path(self, day: date, extension_id: int, stamp: str) -> str:
        """One capture run's message-sync responses of one extension touching ``day``.

        ``stamp`` names the run (its UTC capture time); one file per run keeps every response ever
        received, and a run never appends to another's file.
        """
        ext = safe_name(str(int(extension_id)), "extension id")
        run = safe_name(stamp, "capture stamp")
        return f"{self.partition_dir(Dataset.RAW_MESSAGE_CAPTURE, day)}/extension={ext}/{run}.ndjson.gz"

    def capture_manifest_path(self, day: date) -> str:
        """``_captures.json`` of a capture partition: each capture file with its size and sha256."""
        return f"{self.partition_dir(Dataset.RAW_MESSAGE_CAPTURE, day)}/{CAPTURE_MANIFEST_FILE}"

    def write_capture_file(self, path: str, responses: Iterable[bytes]) -> tuple[int, str, int, int]:
        """Write message-sync responses as received (gzip NDJSON, one response a line), atomically.

        Returns (bytes, sha256, responses, records).
        """
        counts: dict[str, int | None] = {"pages": 0, "received": 0, "reported": None}
        with self.atomic_open(path) as handle:
            hashing = write_page_lines(handle, responses, counts)
        return (
            hashing.written,
            hashing.digest.hexdigest(),
            int(counts["pages"] or 0),
            int(counts["received"] or 0),
        )

    def read_capture_file(self, path: str) -> Iterator[bytes]:
        """The response lines of one capture file, without their newlines."""
        return self._gzip_lines(path)

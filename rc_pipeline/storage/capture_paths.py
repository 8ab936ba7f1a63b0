"""Paths of what is captured between the daily listings: call-log changes, active-call snapshots, and
the extract-sync state.

Each captured answer is one file, written whole under a temp name and renamed into place (never
appended to), so a file that exists is complete; there is no per-day manifest to keep in step.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from rc_pipeline.storage.core import StorageCore
from rc_pipeline.storage.layout import (
    ACTIVE_CALLS_DIR,
    CALL_LOG_CHANGES_DIR,
    CALL_LOG_SYNC_STATE_FILE,
    CALLS_BUILT_FROM_DIR,
    TEMP_PREFIX,
)

# The raw layer's own page writer: captured answers are stored exactly like listed pages.
from rc_pipeline.storage.raw import write_page_lines

CAPTURE_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"


def capture_stamp(moment: datetime) -> str:
    """``20261201T101500123456Z``: UTC, fixed width, so names sort in capture order."""
    return moment.astimezone(UTC).strftime(CAPTURE_STAMP_FORMAT)


_DAY_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class CapturePaths(StorageCore):
    """The raw capture layers (``raw/call_log_changes``, ``raw/active_calls``) and the sync state."""

    # ------------------------------------------------------------------ call-log changes
    def call_changes_dir(self, day: date) -> str:
        return self.path(CALL_LOG_CHANGES_DIR, f"date={day.isoformat()}")

    def call_changes_path(self, day: date, captured_at: datetime, sequence: int) -> str:
        """One extract-sync answer kept for ``day`` (the day some of its records started)."""
        return f"{self.call_changes_dir(day)}/changes-{capture_stamp(captured_at)}-{sequence:06d}.ndjson.gz"

    def write_call_changes(
        self, days: Iterable[date], raw: bytes, captured_at: datetime, sequence: int
    ) -> list[str]:
        """Keep one answer, exactly as received, under every day it holds records of; returns the paths."""
        written = []
        for day in sorted(set(days)):
            path = self.call_changes_path(day, captured_at, sequence)
            self._write_one_page(path, raw)
            written.append(path)
        return written

    def call_changes_paths(self, day: date) -> list[str]:
        """Every answer kept for ``day``, in capture order (temp files skipped)."""
        return self._files(self.call_changes_dir(day), "changes-")

    def read_call_changes(self, day: date) -> Iterator[bytes]:
        """Each kept answer of ``day`` (one JSON page per answer), oldest capture first."""
        for path in self.call_changes_paths(day):
            yield from self.read_capture_lines(path)

    def call_change_days(self) -> list[date]:
        """Days with at least one captured answer, sorted."""
        return self._days(CALL_LOG_CHANGES_DIR)

    def call_log_sync_state_path(self) -> str:
        return self.path(CALL_LOG_SYNC_STATE_FILE)

    def latest_call_change(self, day: date) -> str | None:
        """Name of the newest answer kept for ``day`` (names sort in capture order), None if none."""
        paths = self.call_changes_paths(day)
        return paths[-1].rsplit("/", 1)[-1] if paths else None

    def calls_built_from_path(self, day: date) -> str:
        return self.path(CALLS_BUILT_FROM_DIR, f"date={day.isoformat()}.json")

    def calls_built_from(self, day: date) -> str | None:
        """The newest captured answer the day's calls/legs tables were last built with (None: none)."""
        try:
            value = self.read_json(self.calls_built_from_path(day))
        except FileNotFoundError:
            return None
        return value.get("latest_capture") if isinstance(value, dict) else None

    def record_calls_built_from(self, day: date, latest_capture: str | None) -> None:
        """Written after the day's tables: what they include, so the sensor knows which days are behind."""
        self.write_json(self.calls_built_from_path(day), {"latest_capture": latest_capture})

    # ------------------------------------------------------------------ active calls
    def active_calls_dir(self, day: date) -> str:
        return self.path(ACTIVE_CALLS_DIR, f"date={day.isoformat()}")

    def write_active_calls_snapshot(self, day: date, taken_at: datetime, pages: Iterable[bytes]) -> str:
        """One snapshot (every page of one active-calls listing) as received; returns its path."""
        path = f"{self.active_calls_dir(day)}/snapshot-{capture_stamp(taken_at)}.ndjson.gz"
        with self.atomic_open(path) as handle:
            write_page_lines(handle, pages, {"pages": 0, "reported": None, "received": 0})
        return path

    def active_calls_snapshot_paths(self, day: date) -> list[str]:
        return self._files(self.active_calls_dir(day), "snapshot-")

    @staticmethod
    def active_calls_snapshot_time(path: str) -> datetime:
        """When a stored snapshot was taken (its name says it)."""
        stamp = path.rstrip("/").rsplit("/", 1)[-1].removeprefix("snapshot-").split(".", 1)[0]
        return datetime.strptime(stamp, CAPTURE_STAMP_FORMAT).replace(tzinfo=UTC)

    def active_calls_days(self) -> list[date]:
        return self._days(ACTIVE_CALLS_DIR)

    # ------------------------------------------------------------------ helpers
    def read_capture_lines(self, path: str) -> Iterator[bytes]:
        """The page lines of one captured file (answers are small: read whole)."""
        with self.fs.open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as gz:
            yield from (line for line in gz.read().split(b"\n") if line)

    def _write_one_page(self, path: str, raw: bytes) -> None:
        with self.atomic_open(path) as handle:
            write_page_lines(handle, [raw], {"pages": 0, "reported": None, "received": 0})

    def _files(self, directory: str, prefix: str) -> list[str]:
        # Written by a sensor while runs read them: never a cached listing.
        self.fs.invalidate_cache(directory)
        try:
            names = self.fs.ls(directory, detail=False)
        except FileNotFoundError:
            return []
        keep = [
            p
            for p in names
            if self.fs_name(p).startswith(prefix) and not self.fs_name(p).startswith(TEMP_PREFIX)
        ]
        return sorted(keep, key=self.fs_name)

    def _days(self, base: str) -> list[date]:
        directory = self.path(base)
        self.fs.invalidate_cache(directory)
        try:
            names = self.fs.ls(directory, detail=False)
        except FileNotFoundError:
            return []
        days = []
        for name in names:
            match = _DAY_DIR.match(self.fs_name(name))
            if match:
                days.append(date.fromisoformat(match.group(1)))
        return sorted(days)

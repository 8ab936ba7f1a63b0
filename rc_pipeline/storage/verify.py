"""Is an archived file still the one we recorded? The single answer every skip and check relies on.

Size is compared first because it costs one metadata call; the file is only hashed when the size
matches, since a same-length file with other bytes (bit rot, a truncated-then-padded copy) must
still count as damaged while RingCentral may hold the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import fsspec

from rc_pipeline.storage.checksum import file_sha256

Status = Literal["ok", "missing", "damaged"]

# Enough of a digest to tell two apart in a log line; the full values stay on the FileCheck.
_SHOWN_HEX = 12


@dataclass(frozen=True)
class FileCheck:
    """Outcome of `verify_file`; ``actual_sha256`` is None whenever hashing was not needed."""

    status: Status
    path: str | None
    expected_bytes: int | None
    expected_sha256: str | None
    actual_bytes: int | None = None
    actual_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """One line for logs and check metadata, e.g. ``damaged: 1,234 bytes, expected 1,300``."""
        if self.status == "missing":
            return f"missing: no file at {self.path}" if self.path else "missing: no path recorded"
        if self.actual_bytes != self.expected_bytes:
            return f"damaged: {_count(self.actual_bytes)} bytes, expected {_count(self.expected_bytes)}"
        if self.status == "damaged":
            return f"damaged: sha256 {_short(self.actual_sha256)} != {_short(self.expected_sha256)}"
        return f"ok: {_count(self.actual_bytes)} bytes, sha256 {_short(self.actual_sha256)}"


def _count(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _short(digest: str | None) -> str:
    if not digest:
        return "none"
    return digest if len(digest) <= _SHOWN_HEX else f"{digest[:_SHOWN_HEX]}.."


def verify_file(
    path: str | None,
    expected_bytes: int | None,
    expected_sha256: str | None,
    fs: fsspec.AbstractFileSystem | None = None,
) -> FileCheck:
    """Whether ``path`` still holds ``expected_bytes`` bytes with sha256 ``expected_sha256``."""
    fs = fs or fsspec.filesystem("file")
    missing = FileCheck("missing", path, expected_bytes, expected_sha256)
    if not path:
        return missing
    try:
        # One `info` call instead of exists + size: a round trip each on an object store.
        info = fs.info(path)
    except FileNotFoundError:
        return missing
    if info.get("type") != "file":
        return missing
    actual_bytes = int(info["size"])
    if actual_bytes != expected_bytes:
        return FileCheck("damaged", path, expected_bytes, expected_sha256, actual_bytes)
    try:
        actual_sha256 = file_sha256(path, fs)
    except FileNotFoundError:
        # Removed between the size check and the read.
        return missing
    status: Status = "ok" if actual_sha256 == expected_sha256 else "damaged"
    return FileCheck(status, path, expected_bytes, expected_sha256, actual_bytes, actual_sha256)

"""sha256 of archived bytes, the one fingerprint every manifest and index records."""

from __future__ import annotations

import hashlib
import io
from typing import IO

import fsspec

_HASH_CHUNK = 1 << 20


def file_sha256(path: str, fs: fsspec.AbstractFileSystem | None = None) -> str:
    """Hex sha256 of a file's bytes, streamed so large recordings do not load into memory."""
    fs = fs or fsspec.filesystem("file")
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class HashingWriter(io.RawIOBase):
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

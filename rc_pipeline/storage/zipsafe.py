"""Reading zip archives we did not make (RingCentral's message-store exports) without trusting them.

Entry names are never used as paths by the archive; even so every entry is vetted before anything is
read, because a zip that carries an absolute path, a `..` component or a symlink is not what
RingCentral produces and must not pass silently. Sizes are capped from the headers first (cheap) and
again while streaming (headers can lie), so a zip bomb stops at the cap instead of filling the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

_CHUNK = 1 << 20
# Below this size a high compression ratio is harmless (and JSON of a few KB reaches 20x or more).
_RATIO_FLOOR_BYTES = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """What one archive part may expand to."""

    # Uncompressed bytes of all entries of one part together (RingCentral caps a part at 1 GB of
    # attachments, stored; the default leaves ample headroom).
    max_total_bytes: int = 8 * 1024**3
    # Uncompressed / compressed size of an entry larger than 1 MiB. Audio, PDF and PNG hardly
    # compress; JSON reaches ~30x. 200x is a bomb.
    max_ratio: float = 200.0
    max_entries: int = 2_000_000
    # Uncompressed bytes of every part of one export together (a task may have many parts).
    max_export_bytes: int = 64 * 1024**3
    # A `message-store.json` entry is parsed in memory, so it gets a much smaller cap.
    max_json_bytes: int = 512 * 1024**2


class ZipSafetyError(ValueError):
    """A zip part we refuse to use. The message names the part and, when there is one, the entry."""

    def __init__(self, part: str, problem: str, entry: str | None = None) -> None:
        self.part = part
        self.entry = entry
        # The problem comes before the entry: an entry name can be long, and a shortened line must
        # still say what is wrong.
        where = f" (entry {entry!r})" if entry is not None else ""
        super().__init__(f"{part}: {problem}{where}")


class UnsafeZipEntry(ZipSafetyError):
    """Path traversal, absolute path, symlink, duplicate name, or size beyond the limits."""


class CorruptZip(ZipSafetyError):
    """Not a readable zip: truncated, bad central directory, or an entry failing its CRC."""


def entry_parts(name: str) -> tuple[str, ...]:
    """The components of a safe relative entry name; raises ValueError saying what is wrong."""
    if not name or "\0" in name:
        raise ValueError("empty name or NUL byte in the name")
    if "\\" in name:
        raise ValueError("backslash in the name (a Windows path could escape the directory)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError("absolute path")
    parts = PurePosixPath(name).parts
    if any(part == ".." for part in parts):
        raise ValueError("'..' component (path traversal)")
    return tuple(p for p in parts if p not in ("", "."))


def is_symlink(info: zipfile.ZipInfo) -> bool:
    """Whether the entry is a symbolic link (Unix mode bits in the external attributes)."""
    return stat.S_ISLNK(info.external_attr >> 16)


@contextlib.contextmanager
def open_zip(source: str | IO[bytes], part: str) -> Iterator[zipfile.ZipFile]:
    """Open a zip (a local path or a seekable file) for reading.

    A truncated or malformed file raises `CorruptZip` naming ``part``.
    """
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise CorruptZip(part, f"not a readable zip ({exc})") from None
    try:
        yield archive
    finally:
        archive.close()


def vetted_entries(archive: zipfile.ZipFile, part: str, limits: ZipLimits) -> list[zipfile.ZipInfo]:
    """Every file entry of ``archive`` after checking all of them; directories are left out.

    Raises `UnsafeZipEntry` for the first entry that breaks a rule, before anything is extracted.
    """
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise UnsafeZipEntry(part, f"{len(infos)} entries, more than the limit of {limits.max_entries}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    files = []
    for info in infos:
        try:
            parts = entry_parts(info.filename)
        except ValueError as exc:
            raise UnsafeZipEntry(part, str(exc), info.filename) from None
        if is_symlink(info):
            raise UnsafeZipEntry(part, "symbolic link", info.filename)
        if info.is_dir():
            continue
        if parts in seen:
            raise UnsafeZipEntry(
                part, "duplicate entry name (a second copy would replace the first)", info.filename
            )
        seen.add(parts)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeZipEntry(
                part,
                f"entries expand to more than {limits.max_total_bytes:,} bytes (zip bomb?)",
                info.filename,
            )
        if info.file_size > _RATIO_FLOOR_BYTES and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnsafeZipEntry(
                part,
                f"compression ratio {info.file_size / max(info.compress_size, 1):.0f}x exceeds "
                f"{limits.max_ratio:g}x (zip bomb?)",
                info.filename,
            )
        files.append(info)
    return files


def copy_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: IO[bytes], part: str, limit: int
) -> tuple[int, str]:
    """Stream one entry into ``out``; returns (bytes, sha256 hex).

    Stops with `UnsafeZipEntry` as soon as more than ``limit`` bytes (or more than the header
    declared) come out, and with `CorruptZip` when the data fails to inflate or its CRC.
    """
    digest = hashlib.sha256()
    written = 0
    ceiling = min(limit, info.file_size)
    try:
        with archive.open(info) as source:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > ceiling:
                    raise UnsafeZipEntry(
                        part,
                        f"expands beyond its declared {info.file_size:,} bytes or the limit",
                        info.filename,
                    )
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise CorruptZip(part, f"damaged data ({exc})", info.filename) from None
    return written, digest.hexdigest()


def read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, part: str, limit: int) -> bytes:
    """A whole (small) entry in memory, with the same checks as `copy_entry`."""
    buffer = io.BytesIO()
    copy_entry(archive, info, buffer, part, limit)
    return buffer.getvalue()

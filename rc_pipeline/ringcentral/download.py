"""Streaming downloads of binary content (recordings, attachments, export zips).

Memory stays constant: bytes go from the socket to disk in chunks while size and sha256 are computed
on the way. Bytes land in `.<name>.part` beside the destination and are renamed only once complete
and verified, so a partial file never sits at the final path. An interrupted transfer resumes with
`Range` (also across runs: a leftover `.part` is re-hashed and continued) when the server accepts
ranges, and restarts from zero when it does not.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from .errors import DownloadError, RingCentralError
from .session import ApiSession

log = logging.getLogger("rc_pipeline.ringcentral")

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    content_type: str | None
    resumes: int


def part_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.part")


def _rehash(path: Path) -> tuple[int, hashlib._Hash]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest


def download_to_file(
    session: ApiSession,
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    max_resumes: int = 5,
) -> DownloadResult:
    dest = Path(dest)
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = part_path(dest)
    lock = _exclusive_lock(dest)
    try:
        return _download(session, url, dest, part, expected_size, expected_sha256, max_resumes)
    finally:
        # Remove the lock file while still holding it, so the archive is not littered with them.
        _lock_path(dest).unlink(missing_ok=True)
        lock.close()


# A download in progress (and its lock) is readable by its owner only, whatever the umask: the
# archive gives the finished file its mode when it publishes it.
_PRIVATE_FILE = 0o600


def _private_open(part: Path, *, append: bool) -> BinaryIO:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(part, flags, _PRIVATE_FILE)
    os.fchmod(fd, _PRIVATE_FILE)
    return os.fdopen(fd, "ab" if append else "wb")


def _lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.lock")


def _exclusive_lock(dest: Path) -> BinaryIO:
    """Hold `.<name>.lock` exclusively: two runs archiving the same day must not append to one part file.

    flock is released by the kernel when the holder dies, so a crash leaves no stale lock behind.
    """
    fd = os.open(_lock_path(dest), os.O_RDWR | os.O_CREAT | os.O_APPEND, _PRIVATE_FILE)
    os.fchmod(fd, _PRIVATE_FILE)
    # open() by fd would name the handle by its number: the lock's path is what gets removed.
    handle = open(fd, "a+b", closefd=True)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DownloadError(f"another process is downloading {dest.name} right now") from None
    return handle


def _download(
    session: ApiSession,
    url: str,
    dest: Path,
    part: Path,
    expected_size: int | None,
    expected_sha256: str | None,
    max_resumes: int,
) -> DownloadResult:
    have, digest = _rehash(part) if part.exists() else (0, hashlib.sha256())
    total: int | None = None
    content_type: str | None = None
    interruptions = 0
    accepts_ranges = False
    label = f"GET {httpx.URL(session.url(url)).path}"

    while True:
        headers = {"Accept-Encoding": "identity", "Accept": "*/*"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with session.stream("GET", url, headers=headers) as response:
                if have and response.status_code == 206:
                    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                    if not match or int(match.group(1)) != have:
                        raise DownloadError("server answered a different range than asked", request=label)
                    total = None if match.group(3) == "*" else int(match.group(3))
                else:
                    # 200: the whole body (the server ignored Range, or nothing was downloaded yet).
                    if have:
                        log.info("%s: server ignored Range, restarting from zero", label)
                    have, digest = 0, hashlib.sha256()
                    length = response.headers.get("Content-Length")
                    total = int(length) if length is not None else None
                content_type = response.headers.get("Content-Type", content_type)
                accepts_ranges = response.headers.get("Accept-Ranges", "").lower() == "bytes" or (
                    response.status_code == 206
                )
                with _private_open(part, append=bool(have)) as fh:
                    try:
                        # Chunks as they arrive (no re-buffering): after a broken connection every
                        # byte received is on disk, so the resume asks only for what is missing.
                        for chunk in response.iter_raw():
                            fh.write(chunk)
                            digest.update(chunk)
                            have += len(chunk)
                            session.count_download(len(chunk))
                    finally:
                        fh.flush()
                        os.fsync(fh.fileno())
        except (httpx.TransportError, httpx.StreamError) as exc:
            interruptions += 1
            if interruptions > max_resumes:
                raise DownloadError(
                    f"transfer interrupted {interruptions} times ({type(exc).__name__}); "
                    f"{have} bytes kept in {part.name} for the next run",
                    request=label,
                ) from None
            if not accepts_ranges:
                have, digest = 0, hashlib.sha256()
                part.unlink(missing_ok=True)
            log.warning("%s: interrupted after %d bytes (%s), resuming", label, have, type(exc).__name__)
            continue
        except RingCentralError as exc:
            if exc.status == 416 and have:
                # The part on disk does not fit what the server has now: start again.
                part.unlink(missing_ok=True)
                have, digest = 0, hashlib.sha256()
                continue
            raise

        if total is not None and have != total:
            interruptions += 1
            if interruptions > max_resumes:
                raise DownloadError(f"received {have} of {total} bytes", request=label)
            continue
        break

    sha = digest.hexdigest()
    if expected_size is not None and have != expected_size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"size {have} differs from the expected {expected_size}", request=label)
    if expected_sha256 is not None and sha != expected_sha256:
        part.unlink(missing_ok=True)
        raise DownloadError("sha256 differs from the expected value", request=label)
    os.replace(part, dest)
    return DownloadResult(path=dest, size=have, sha256=sha, content_type=content_type, resumes=interruptions)

"""Atomic file publication: a reader sees the old file or the new one, never a partial one.

Local files are written to a sibling temp name, fsynced, then ``os.replace``d
(atomic on POSIX within a directory); files and directories are created owner-only (or
group-readable), whatever the umask (`rc_pipeline.storage.modes`). Remote (object store) files are staged in a
local temp file and then written to their final key in one upload: an object store
publishes a PUT (or a completed multipart upload) whole or not at all, so a temp key
and a copy would only double the traffic, and on a bucket with Object Lock leave a
locked temp object behind. ``put_kwargs`` go with that upload (e.g. the Object Lock
mode and retain-until date); local writes take none.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from rc_pipeline.storage.modes import make_dirs, open_new, secure
from rc_pipeline.storage.temps import owner_prefix


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """True when paths of ``fs`` are ordinary local paths usable by os and DuckDB."""
    return isinstance(fs, LocalFileSystem)


def temp_sibling(path: str) -> str:
    """A unique temp name in the same directory as ``path`` (same filesystem, so rename is atomic)."""
    head, _, name = path.rpartition("/")
    # The name says which process writes it, so a sweep can tell one left by a killed writer.
    return f"{head}/{owner_prefix()}{uuid.uuid4().hex[:16]}-{name}"


def _fsync_dir(directory: str) -> None:
    # The rename itself lives in the directory entry: without this a crash can lose it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _local_fs() -> fsspec.AbstractFileSystem:
    return fsspec.filesystem("file")


@contextlib.contextmanager
def atomic_open(
    path: str,
    mode: str = "wb",
    fs: fsspec.AbstractFileSystem | None = None,
    before_publish: Callable[[], None] | None = None,
    put_kwargs: Mapping[str, Any] | None = None,
) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing so that it appears whole or not at all.

    On exception the temp file is removed and any previous file at ``path`` is untouched.
    ``before_publish`` runs once the new content is complete and durable, just before the
    rename: the place to retract a commit marker that must not outlive the old file.
    """
    if mode not in {"wb", "w"}:
        raise ValueError("atomic_open only writes: mode must be 'wb' or 'w'")
    fs = fs or _local_fs()
    if is_local(fs):
        make_dirs(os.path.dirname(path))
        tmp = temp_sibling(path)
        try:
            with open_new(tmp, mode) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            if before_publish:
                before_publish()
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        _fsync_dir(os.path.dirname(path))
        return
    local_tmp = _local_staging_file(path)
    try:
        with open(local_tmp, mode) as handle:
            yield handle
        if before_publish:
            before_publish()
        upload_whole(fs, local_tmp, path, put_kwargs)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_tmp)


def _local_staging_file(path: str) -> str:
    fd, local_tmp = tempfile.mkstemp(prefix=owner_prefix(), suffix="-" + path.rpartition("/")[2])
    os.close(fd)
    return local_tmp


def upload_whole(
    fs: fsspec.AbstractFileSystem, local: str, path: str, put_kwargs: Mapping[str, Any] | None = None
) -> None:
    """Upload the local file ``local`` to ``path`` on a remote ``fs`` as one object.

    The final key is written directly: S3 makes a PUT (and a completed multipart upload) visible
    whole or not at all, and an upload that fails is never completed, so no reader sees part of it.
    """
    fs.put_file(local, path, **dict(put_kwargs or {}))


def atomic_write_bytes(
    path: str,
    data: bytes,
    fs: fsspec.AbstractFileSystem | None = None,
    put_kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically (see `atomic_open`)."""
    with atomic_open(path, "wb", fs=fs, put_kwargs=put_kwargs) as handle:
        handle.write(data)


@contextlib.contextmanager
def staged_local_file(
    path: str, fs: fsspec.AbstractFileSystem | None = None, put_kwargs: Mapping[str, Any] | None = None
) -> Iterator[Path]:
    """Yield a local path to fill (by any writer, e.g. an HTTP download); publish it to ``path`` on success.

    For a local ``fs`` the staging file is a temp sibling of ``path`` so publication is one
    ``os.replace``. For a remote ``fs`` it is a local temp file uploaded to the final key in one
    upload (`upload_whole`). Nothing is published, and the staging file is removed, on exception.
    """
    fs = fs or _local_fs()
    if is_local(fs):
        make_dirs(os.path.dirname(path))
        tmp = temp_sibling(path)
        try:
            yield Path(tmp)
            secure(tmp)  # filled by any writer: its mode is set here
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise
        _fsync_dir(os.path.dirname(path))
        return
    local_tmp = _local_staging_file(path)
    try:
        yield Path(local_tmp)
        upload_whole(fs, local_tmp, path, put_kwargs)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(local_tmp)


def create_exclusive(
    path: str,
    data: bytes,
    fs: fsspec.AbstractFileSystem | None = None,
    put_kwargs: Mapping[str, Any] | None = None,
) -> bool:
    """Publish ``data`` at ``path`` whole, only if nothing is there yet; False when ``path`` exists.

    What an append-only log needs from a filesystem that cannot append: two writers racing for the
    same name, exactly one wins and the loser learns it. Locally the bytes are written and fsynced
    under a temp name, then hard-linked into place (``link`` fails if the name exists). Elsewhere an
    exclusive create ("xb", a conditional PUT on object stores that support it).
    """
    fs = fs or _local_fs()
    if is_local(fs):
        make_dirs(os.path.dirname(path))
        tmp = temp_sibling(path)
        try:
            with open_new(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            _fsync_dir(os.path.dirname(path))
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
    try:
        with fs.open(path, "xb", **dict(put_kwargs or {})) as handle:
            handle.write(data)
    except FileExistsError:
        return False
    return True

"""Temporary files that name their writer, and the sweep that removes those a killed writer left.

A writer killed with SIGKILL (an OOM kill, a node lost, `kill -9`) runs no cleanup: its `.tmp-` files
(atomic writes, extraction staging, the warehouse's private build folder) stay beside the archive
forever, and a concurrent writer's temp files look the same. So every temp name carries its owner,
`.tmp-o<host>x<pid>-...` (host: 8 hex digits of a hash of the host name, this boot and this process-id
namespace: two containers with one host name but their own pids are two hosts here), and the sweep
removes only those whose owner is a process of this host that no longer runs, and only files this user
owns. Temp files of another host (a shared volume), of another user, and names without an owner are
left alone; one the sweep cannot remove is left too (it never stops the run that sweeps).

Interrupted downloads (`.<name>.part` with its `.<name>.lock`) are kept on purpose by the download
code: the next run continues them with a Range request. `sweep_partial_downloads` removes those no
process is downloading into (their lock is free); `rc-pipeline archive` calls it once its own
downloads are done, when a part left over can only belong to a download nobody will continue.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from rc_pipeline.storage.layout import TEMP_PREFIX

_OWNED = re.compile(re.escape(TEMP_PREFIX) + r"o([0-9a-f]{8})x(\d+)-")
_PART_SUFFIX = ".part"
_LOCK_SUFFIX = ".lock"


def _host_tag() -> str:
    # A pid only names a process within one boot and one pid namespace: both are part of the host.
    identity = [socket.gethostname()]
    with contextlib.suppress(OSError):
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            identity.append(fh.read().strip())
    with contextlib.suppress(OSError):
        identity.append(str(os.stat("/proc/self/ns/pid").st_ino))
    return hashlib.sha256("|".join(identity).encode()).hexdigest()[:8]


def owner_prefix() -> str:
    """The start of every temp name this process writes: `.tmp-o<host>x<pid>-`."""
    return f"{TEMP_PREFIX}o{_host_tag()}x{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def left_by_dead_writer(name: str) -> bool:
    """Whether ``name`` is a temp name whose writer, a process of this host, no longer runs."""
    match = _OWNED.match(name)
    if match is None or match.group(1) != _host_tag():
        return False
    pid = int(match.group(2))
    return pid != os.getpid() and not _alive(pid)


def _walk(folder: str) -> Iterator[tuple[str, list[str], list[str]]]:
    # Temp folders are removed whole, so the walk does not descend into one it removed.
    yield from os.walk(folder, onerror=lambda _e: None)


def _remove(path: str) -> bool:
    """Remove ``path`` if this user owns it; whether it is gone. Anything else (another user's file in
    a shared temp folder, a read-only folder) is left, and never stops the sweep."""
    try:
        if os.lstat(path).st_uid != os.geteuid():
            return False
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def sweep_dead_writers(folders: Iterable[str]) -> list[str]:
    """Remove every temp file or folder under ``folders`` left by a dead writer; what was removed."""
    removed = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for directory, subdirs, files in _walk(folder):
            for name in [*subdirs, *files]:
                if left_by_dead_writer(name) and _remove(os.path.join(directory, name)):
                    removed.append(os.path.join(directory, name))
            subdirs[:] = [d for d in subdirs if os.path.isdir(os.path.join(directory, d))]
    return removed


def sweep_partial_downloads(folders: Iterable[str]) -> list[str]:
    """Remove interrupted downloads (`.<name>.part` and `.<name>.lock`) nobody is downloading into.

    The download's own lock decides: it is taken here without waiting, so a download in progress in
    any process (its lock held) is left alone, and none can start on that file while it is removed.
    """
    removed = []
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for directory, _subdirs, files in _walk(folder):
            for name in files:
                if not (name.startswith(".") and name.endswith(_PART_SUFFIX)):
                    continue
                part = os.path.join(directory, name)
                lock = os.path.join(directory, name[: -len(_PART_SUFFIX)] + _LOCK_SUFFIX)
                if _remove_unlocked(part, lock):
                    removed.append(part)
    return removed


def _remove_unlocked(part: str, lock: str) -> bool:
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False  # a download in progress
            raise
        gone = _remove(part)
        _remove(lock)  # while still holding it, as the download itself does
        return gone
    finally:
        os.close(fd)


def sweep_archive_temporaries(storage: Any, *, partial_downloads: bool = False) -> list[str]:
    """Sweep what killed writers left for the archive ``storage``: under a local root, the whole tree;
    for a remote one, this machine's work folders of that root (remote roots never hold a temp key);
    and the temp files staged directly in the local temp directory. With ``partial_downloads``, also
    interrupted downloads nobody is continuing (see `sweep_partial_downloads`)."""
    folders = [storage.root] if storage.is_local else []
    folders += storage.local_work_dirs()
    removed = sweep_dead_writers(folders)
    removed += _sweep_top_level(tempfile.gettempdir())
    if partial_downloads:
        removed += sweep_partial_downloads(folders)
    return removed


def _sweep_top_level(folder: str) -> list[str]:
    """Dead writers' temp files directly in ``folder`` (the shared temp directory: not walked)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    for name in names:
        if left_by_dead_writer(name) and _remove(os.path.join(folder, name)):
            removed.append(os.path.join(folder, name))
    return removed

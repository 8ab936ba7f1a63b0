"""Who may read what the pipeline writes on local disk: the owner only, or the owner's group too.

Call recordings, messages and attachments are personal data: on a shared host the process umask
(022 by default) would make every file readable by every local user. Every local file and directory
the pipeline creates (archive, temporary and staged files, the warehouse, state and lease files) gets
its mode here, explicitly, whatever the umask: 0700/0600, or 0750/0640 with `RC_ARCHIVE_GROUP_READ`.
The process umask is never changed (it is process-wide, and downloads run in threads).
Object stores keep their own access rules (bucket policies, IAM): no mode applies there.
"""

from __future__ import annotations

import contextlib
import os
import stat

from rc_pipeline import settings


def group_read() -> bool:
    """Whether `RC_ARCHIVE_GROUP_READ` opens what is written to the owning group."""
    return bool(settings.read("RC_ARCHIVE_GROUP_READ"))


def file_mode() -> int:
    return 0o640 if group_read() else 0o600


def dir_mode() -> int:
    return 0o750 if group_read() else 0o700


def make_dirs(path: str | os.PathLike[str]) -> None:
    """``os.makedirs(path, exist_ok=True)``, every directory it creates with `dir_mode`.

    Directories that already exist keep their mode (an operator may have chosen one on purpose);
    only the ones created here are set.
    """
    path = os.fspath(path)
    if not path or os.path.isdir(path):
        return
    make_dirs(os.path.dirname(os.path.abspath(path)))
    mode = dir_mode()
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return  # created meanwhile by another writer
    # mkdir's mode is filtered by the umask. The set-group-ID bit a directory inherits from its parent
    # (how a group-shared archive root hands its group to everything below it) is kept.
    os.chmod(path, mode | (os.stat(path).st_mode & stat.S_ISGID))


def secure(path: str | os.PathLike[str]) -> None:
    """Give a file the pipeline just created `file_mode` (its creation mode was filtered by the umask)."""
    os.chmod(path, file_mode())


def open_new(path: str | os.PathLike[str], mode: str = "wb"):  # noqa: ANN201 - a file object
    """``open(path, mode)`` for writing, created with `file_mode` (the umask cannot widen it)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, file_mode())
    try:
        os.fchmod(fd, file_mode())
        return os.fdopen(fd, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise

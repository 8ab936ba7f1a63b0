"""Read-only SQL against the warehouse, for the CLI and notebooks."""

from __future__ import annotations

import os
from typing import Any

from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.warehouse.connect import connect


def query(
    path: str | os.PathLike[str], sql: str, storage: ArchiveStorage | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` on the warehouse at ``path``; returns (column names, rows).

    Opened read-only and closed at once, so it never holds a lock a rebuild would wait on.
    ``storage`` is the archive the views read: required for a remote archive (see `connect`).
    """
    connection = connect(path, storage, read_only=True)
    try:
        cursor = connection.execute(sql)
        columns = [column[0] for column in cursor.description or []]
        return columns, cursor.fetchall()
    finally:
        connection.close()

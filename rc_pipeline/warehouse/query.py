"""Read-only SQL against the warehouse, for the CLI and notebooks."""

from __future__ import annotations

import os
from typing import Any

import duckdb


def query(path: str | os.PathLike[str], sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` on the warehouse at ``path``; returns (column names, rows).

    Opened read-only and closed at once, so it never holds a lock a rebuild would wait on.
    """
    connection = duckdb.connect(str(path), read_only=True)
    try:
        cursor = connection.execute(sql)
        columns = [column[0] for column in cursor.description or []]
        return columns, cursor.fetchall()
    finally:
        connection.close()

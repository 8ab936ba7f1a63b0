"""What a warehouse file was built from, kept inside it (schema `refresh_state`).

Beside the marts, in the same file, so the two are swapped in together and can never disagree:
- `partitions`: the signature and row count of every partition the marts were computed from;
- `definition`: a hash of every view and mart definition (and the archive root they read);
- `mart_extensions`: the latest directory snapshot the marts' extension names were looked up in;
- the per-day partial aggregates of the marts that span days (`ExtensionMart.by_day_table`).
A file without them, or whose definition hash differs, is rebuilt whole.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

import duckdb

from rc_pipeline.warehouse.partitions import Partition

SCHEMA = "refresh_state"
# Bump when the layout of the state or the refresh logic changes: every file is then rebuilt once.
VERSION = "1"


def definition_hash(parts: list[str]) -> str:
    """sha256 of the definitions a warehouse was built with (views, marts, their refresh SQL)."""
    return hashlib.sha256(json.dumps([VERSION, *parts]).encode()).hexdigest()


@dataclass
class RecordedState:
    """The state read back from a warehouse file."""

    definition: str
    partitions: dict[str, dict[date, str]] = field(default_factory=dict)
    # Views to re-create: their dataset gained its first files or lost its last (see build).
    stale_views: int = 0


class StateUnreadable(Exception):
    """The file has no usable refresh state (absent, from an older version, or damaged)."""


def read_state(connection: duckdb.DuckDBPyConnection) -> RecordedState:
    """The recorded state of an open warehouse (StateUnreadable when there is none to trust)."""
    try:
        row = connection.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'definition'").fetchone()
        rows = connection.execute(f"SELECT dataset, day, signature FROM {SCHEMA}.partitions").fetchall()
        connection.execute(f"SELECT count(*) FROM {SCHEMA}.mart_extensions").fetchone()
    except duckdb.Error as exc:
        raise StateUnreadable(f"no refresh state in the file ({str(exc).splitlines()[0]})") from exc
    if row is None:
        raise StateUnreadable("the refresh state has no definition hash")
    state = RecordedState(definition=str(row[0]))
    for dataset, day, sig in rows:
        state.partitions.setdefault(dataset, {})[day] = sig
    return state


def create_state(connection: duckdb.DuckDBPyConnection, definition: str) -> None:
    """Empty state tables in a new file (a full build fills them)."""
    connection.execute(f"CREATE SCHEMA {SCHEMA}")
    connection.execute(f"CREATE TABLE {SCHEMA}.meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    connection.execute(f"INSERT INTO {SCHEMA}.meta VALUES ('definition', ?)", [definition])
    connection.execute(
        f"CREATE TABLE {SCHEMA}.partitions (dataset VARCHAR, day DATE, signature VARCHAR, rows BIGINT)"
    )


def record_partitions(
    connection: duckdb.DuckDBPyConnection,
    dataset: str,
    forget: set[date] | frozenset[date],
    partitions: list[Partition],
    urls: dict[str, str],
) -> None:
    """Forget the recorded days ``forget`` of ``dataset`` and record ``partitions`` (new or re-written).

    Row counts come from the files' Parquet footers (no data is read); ``urls`` maps a partition's
    path to the form DuckDB reads.
    """
    if forget:
        connection.execute(
            f"DELETE FROM {SCHEMA}.partitions WHERE dataset = ? AND day IN (SELECT unnest(?::DATE[]))",
            [dataset, sorted(forget)],
        )
    if not partitions:
        return
    by_url = {urls[p.path]: p for p in partitions}
    counts = dict(
        connection.execute(
            "SELECT file_name, num_rows FROM parquet_file_metadata(?)", [list(by_url)]
        ).fetchall()
    )
    connection.executemany(
        f"INSERT INTO {SCHEMA}.partitions VALUES (?, ?, ?, ?)",
        [[dataset, p.day, p.signature, int(counts.get(url, 0))] for url, p in by_url.items()],
    )


def row_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per dataset (its value) from the recorded partitions, and of the latest directory snapshot."""
    counts = {
        str(dataset): int(rows)
        for dataset, rows in connection.execute(
            f"SELECT dataset, sum(rows) FROM {SCHEMA}.partitions GROUP BY dataset"
        ).fetchall()
    }
    row = connection.execute(f"SELECT count(*) FROM {SCHEMA}.mart_extensions").fetchone()
    counts["extensions"] = int(row[0]) if row else 0
    return counts

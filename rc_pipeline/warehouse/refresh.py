"""Bring the marts of a warehouse file up to date for the partitions that changed, and only those.

Each day-grained mart (`DAILY_MARTS`) loses the rows of the changed days and gets them back from its
own SQL run over temporary views that read only those days' files; the marts spanning days
(`EXTENSION_MARTS`) do the same with their per-day partials and are then recombined from them (small);
extension names looked up in the latest directory snapshot are updated where the snapshot changed
them. The refresh state is updated in the same file, so a later refresh starts from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.warehouse import state
from rc_pipeline.warehouse.duckdb_types import quote_identifier
from rc_pipeline.warehouse.partitions import Changes, Partition
from rc_pipeline.warehouse.views import (
    DAILY_MARTS,
    EXTENSION_MARTS,
    mart_select,
    materialized,
    parquet_view_sql,
)

# What each view reads: view name -> (dataset, schema), as the warehouse declares them.
Sources = dict[str, tuple[Dataset, pa.Schema]]


@dataclass
class RefreshReport:
    """What a refresh recomputed."""

    days: set[date] = field(default_factory=set)
    extensions_changed: int = 0


def _days_of(inputs: tuple[str, ...], sources: Sources, changes: dict[Dataset, Changes]) -> set[date]:
    days: set[date] = set()
    for view in inputs:
        days |= changes[sources[view][0]].days
    return days


def _shadow_inputs(
    connection: duckdb.DuckDBPyConnection,
    inputs: tuple[str, ...],
    days: set[date],
    sources: Sources,
    current: dict[Dataset, dict[date, Partition]],
    url: Callable[[str], str],
) -> None:
    """Temporary views named like the inputs, over only ``days``' files (days removed have none)."""
    for view in inputs:
        dataset, schema = sources[view]
        files = [url(current[dataset][day].path) for day in sorted(days) if day in current[dataset]]
        connection.execute(parquet_view_sql(view, files, schema, temporary=True))


def _drop_shadows(connection: duckdb.DuckDBPyConnection, inputs: tuple[str, ...]) -> None:
    for view in inputs:
        connection.execute(f"DROP VIEW IF EXISTS temp.{quote_identifier(view)}")


def _replace_days(connection: duckdb.DuckDBPyConnection, table: str, select: str, days: set[date]) -> None:
    connection.execute(
        f"DELETE FROM {table} WHERE day IN (SELECT unnest(?::DATE[]))",
        [sorted(days)],
    )
    connection.execute(f"INSERT INTO {table} BY NAME {select}")


def refresh_marts(
    connection: duckdb.DuckDBPyConnection,
    storage: ArchiveStorage,
    sources: Sources,
    changes: dict[Dataset, Changes],
    current: dict[Dataset, dict[date, Partition]],
    mart_sql: dict[str, str],
) -> RefreshReport:
    """Recompute, in the open warehouse, what the changed partitions touch (see the module doc)."""
    report = RefreshReport()
    if changes[Dataset.EXTENSIONS].days:
        _refresh_latest_extensions(connection, storage, sources, current)
    _refresh(connection, storage, sources, changes, current, mart_sql, report)
    return report


def _refresh_latest_extensions(
    connection: duckdb.DuckDBPyConnection,
    storage: ArchiveStorage,
    sources: Sources,
    current: dict[Dataset, dict[date, Partition]],
) -> None:
    """The `extensions` table (the latest snapshot) from the newest snapshot file with rows.

    A full build keeps the newest of every snapshot ever taken (one a day: years of files); each
    snapshot file holds that day's directory alone (`snapshot_date` = its partition day), so the
    newest one with rows is the same table for the price of one file.
    """
    row = connection.execute(
        f"SELECT max(day) FROM {state.SCHEMA}.partitions WHERE dataset = ? AND rows > 0",
        [Dataset.EXTENSIONS.value],
    ).fetchone()
    newest = row[0] if row else None
    (schema,) = [schema for dataset, schema in sources.values() if dataset == Dataset.EXTENSIONS]
    files = [storage.url(current[Dataset.EXTENSIONS][newest].path)] if newest else []
    connection.execute(parquet_view_sql("latest_snapshot", files, schema, temporary=True))
    connection.execute("DELETE FROM extensions")
    connection.execute(
        "INSERT INTO extensions BY NAME SELECT * FROM latest_snapshot "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM latest_snapshot)"
    )
    connection.execute("DROP VIEW temp.latest_snapshot")


def _refresh(
    connection: duckdb.DuckDBPyConnection,
    storage: ArchiveStorage,
    sources: Sources,
    changes: dict[Dataset, Changes],
    current: dict[Dataset, dict[date, Partition]],
    mart_sql: dict[str, str],
    report: RefreshReport,
) -> None:
    # Marts reading the same inputs share one set of temporary views.
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, mart in (*DAILY_MARTS.items(), *EXTENSION_MARTS.items()):
        groups.setdefault(mart.inputs, []).append(name)
    spanning_stale: set[str] = set()
    for inputs, names in groups.items():
        days = _days_of(inputs, sources, changes)
        if not days:
            continue
        report.days |= days
        _shadow_inputs(connection, inputs, days, sources, current, storage.url)
        try:
            for name in names:
                if name in DAILY_MARTS:
                    _replace_days(connection, quote_identifier(name), mart_select(mart_sql[name]), days)
                else:
                    spanning = EXTENSION_MARTS[name]
                    _replace_days(
                        connection, f"{state.SCHEMA}.{spanning.by_day_table}", spanning.by_day_sql, days
                    )
                    spanning_stale.add(name)
        finally:
            _drop_shadows(connection, inputs)
    if changes[Dataset.EXTENSIONS].days:
        report.extensions_changed = _refresh_extension_names(connection, mart_sql, report)
        if report.extensions_changed:
            spanning_stale |= set(EXTENSION_MARTS)
    for name in sorted(spanning_stale):
        spanning = EXTENSION_MARTS[name]
        table = quote_identifier(name)
        connection.execute(f"DELETE FROM {table}")
        connection.execute(
            f"INSERT INTO {table} BY NAME "
            + spanning.from_days_sql.format(by_day=f"{state.SCHEMA}.{spanning.by_day_table}")
        )


def _refresh_extension_names(
    connection: duckdb.DuckDBPyConnection, mart_sql: dict[str, str], report: RefreshReport
) -> int:
    """Update the extension names the marts carry where the latest snapshot changed them; how many ids."""
    lookup = f"{state.SCHEMA}.mart_extensions"
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE new_extensions AS SELECT id, extension_number, name FROM extensions"
    )
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE changed_extensions AS
        SELECT DISTINCT id FROM (
            (SELECT * FROM {lookup} EXCEPT ALL SELECT * FROM new_extensions)
            UNION ALL
            (SELECT * FROM new_extensions EXCEPT ALL SELECT * FROM {lookup})
        )
        """
    )
    changed = connection.execute("SELECT count(*) FROM changed_extensions").fetchone()
    count = int(changed[0]) if changed else 0
    if count:
        duplicated = connection.execute(
            f"SELECT (SELECT count(*) <> count(DISTINCT id) FROM new_extensions) "
            f"OR (SELECT count(*) <> count(DISTINCT id) FROM {lookup})"
        ).fetchone()
        for name, mart in DAILY_MARTS.items():
            if not mart.extension_columns:
                continue
            if duplicated and duplicated[0]:
                # An id listed twice multiplies the joined rows: only the mart's own SQL gets that right.
                connection.execute(materialized(mart_sql[name]))
                continue
            assignments = ", ".join(
                f"{quote_identifier(column)} = u.{quote_identifier(source)}"
                for column, source in mart.extension_columns
            )
            connection.execute(
                f"""
                UPDATE {quote_identifier(name)} AS m SET {assignments}
                FROM (
                    SELECT c.id, n.* EXCLUDE (id)
                    FROM changed_extensions AS c LEFT JOIN new_extensions AS n ON n.id = c.id
                ) AS u
                WHERE m.extension_id = u.id
                """
            )
        connection.execute(f"DELETE FROM {lookup}")
        connection.execute(f"INSERT INTO {lookup} SELECT * FROM new_extensions")
    connection.execute("DROP TABLE IF EXISTS temp.new_extensions")
    connection.execute("DROP TABLE IF EXISTS temp.changed_extensions")
    return count

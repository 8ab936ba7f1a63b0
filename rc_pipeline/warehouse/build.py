"""Build or refresh the DuckDB analytics file beside its target and swap it in atomically.

A refresh copies the current file (it holds only views, small marts and the refresh state), updates
the copy for the partitions that changed since (see `refresh`), and swaps it in like a full build:
readers are never blocked and never see a half-updated file. No usable state (no file, an older
version, a damaged one) or a changed view/mart definition makes it a full build, as does `full=True`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.modes import make_dirs, secure
from rc_pipeline.storage.temps import owner_prefix
from rc_pipeline.transform.schemas import (
    ACTIVE_CALL_SNAPSHOTS_SCHEMA,
    CALL_LEGS_SCHEMA,
    CALLS_SCHEMA,
    EXTENSIONS_SCHEMA,
    MESSAGE_ATTACHMENTS_SCHEMA,
    MESSAGES_SCHEMA,
    RECORDINGS_MANIFEST_SCHEMA,
)
from rc_pipeline.warehouse import state
from rc_pipeline.warehouse.connect import connect
from rc_pipeline.warehouse.partitions import Partition, compare, list_partitions
from rc_pipeline.warehouse.refresh import refresh_marts
from rc_pipeline.warehouse.views import (
    DAILY_MARTS,
    EXTENSION_MARTS,
    LATEST_EXTENSIONS_SQL,
    MART_SQL,
    MESSAGE_MART_SQL,
    materialized,
    parquet_view_sql,
)

# View name -> (dataset it reads, explicit schema). Extensions are read as their history;
# `extensions` (the latest snapshot) is derived from it.
DATASET_VIEWS: dict[str, tuple[Dataset, pa.Schema]] = {
    "calls": (Dataset.CALLS, CALLS_SCHEMA),
    "call_legs": (Dataset.CALL_LEGS, CALL_LEGS_SCHEMA),
    "recordings": (Dataset.RECORDINGS, RECORDINGS_MANIFEST_SCHEMA),
    "extensions_history": (Dataset.EXTENSIONS, EXTENSIONS_SCHEMA),
}
# The message store, reported apart: an account may archive calls only (or messages only).
MESSAGE_VIEWS: dict[str, tuple[Dataset, pa.Schema]] = {
    "messages": (Dataset.MESSAGES, MESSAGES_SCHEMA),
    "message_attachments": (Dataset.MESSAGE_ATTACHMENTS, MESSAGE_ATTACHMENTS_SCHEMA),
}

# Written by a sensor between runs (opt-in, RC_ACTIVE_CALLS_SECONDS), so not an input that triggers a
# rebuild: the view reads the Parquet files at query time and sees new snapshots as they land.
SNAPSHOT_VIEWS: dict[str, tuple[Dataset, pa.Schema]] = {
    "active_call_snapshots": (Dataset.ACTIVE_CALL_SNAPSHOTS, ACTIVE_CALL_SNAPSHOTS_SCHEMA),
}


def input_datasets() -> tuple[Dataset, ...]:
    """Every dataset the warehouse reads: what must trigger a rebuild when it changes."""
    return tuple(dataset for dataset, _ in (*DATASET_VIEWS.values(), *MESSAGE_VIEWS.values()))


@dataclass(frozen=True)
class WarehouseStats:
    """What a warehouse build produced."""

    path: str
    views: tuple[str, ...]
    marts: tuple[str, ...]
    row_counts: dict[str, int] = field(default_factory=dict)
    empty_datasets: tuple[str, ...] = ()
    seconds: float = 0.0
    message_row_counts: dict[str, int] = field(default_factory=dict)
    message_marts: tuple[str, ...] = ()
    # "full", "incremental" or "unchanged" (nothing changed: the file was left as it was).
    mode: str = "full"
    # Why a full build (asked for, no usable state, definitions changed); empty otherwise.
    reason: str = ""
    days_refreshed: tuple[str, ...] = ()
    extensions_changed: int = 0
    copy_seconds: float = 0.0

    def describe(self) -> str:
        """One line saying what was done, e.g. for a log."""
        if self.mode == "full":
            return f"full rebuild ({self.reason}) in {self.seconds:.1f} s"
        if self.mode == "unchanged":
            return "unchanged: no partition changed since the last build"
        renamed = f", {self.extensions_changed} extensions renamed" if self.extensions_changed else ""
        days = len(self.days_refreshed)
        return f"refreshed {days} day{'' if days == 1 else 's'}{renamed} in {self.seconds:.1f} s"

    def metadata(self) -> dict[str, Any]:
        """Plain, JSON-ready summary (for run metadata and logs)."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "days_refreshed": len(self.days_refreshed),
            "days_refreshed_list": list(self.days_refreshed[:50]),
            "extensions_changed": self.extensions_changed,
            "copy_seconds": round(self.copy_seconds, 3),
            "path": self.path,
            "views": list(self.views),
            "marts": list(self.marts),
            "row_counts": dict(self.row_counts),
            "empty_datasets": list(self.empty_datasets),
            "message_row_counts": dict(self.message_row_counts),
            "message_marts": list(self.message_marts),
            "seconds": round(self.seconds, 3),
        }


def _glob_if_any(storage: ArchiveStorage, dataset: Dataset) -> str | None:
    """The dataset's glob in the form DuckDB reads (absolute path or URL), or None without files."""
    pattern = storage.parquet_glob(dataset)
    if not storage.fs.glob(pattern):
        return None
    return storage.url(pattern)


def _remove_quietly(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def _sources() -> dict[str, tuple[Dataset, pa.Schema]]:
    return {**DATASET_VIEWS, **MESSAGE_VIEWS}


def _mart_sql() -> dict[str, str]:
    return {**MART_SQL, **MESSAGE_MART_SQL}


def _definition(storage: ArchiveStorage) -> str:
    """Hash of every view and mart definition, with the archive location the views read."""
    parts = [materialized(LATEST_EXTENSIONS_SQL)]
    for view, (dataset, schema) in (*_sources().items(), *SNAPSHOT_VIEWS.items()):
        parts.append(parquet_view_sql(view, storage.url(storage.parquet_glob(dataset)), schema))
    parts += [f"{name}\n{sql}" for name, sql in sorted(_mart_sql().items())]
    parts += [f"{name}\n{mart!r}" for name, mart in sorted({**DAILY_MARTS, **EXTENSION_MARTS}.items())]
    return state.definition_hash(parts)


def _create_views(connection: duckdb.DuckDBPyConnection, storage: ArchiveStorage) -> None:
    """Every view over Parquet, and the `extensions` table (the latest directory snapshot)."""
    for view, (dataset, schema) in (*DATASET_VIEWS.items(), *MESSAGE_VIEWS.items(), *SNAPSHOT_VIEWS.items()):
        connection.execute(parquet_view_sql(view, _glob_if_any(storage, dataset), schema))
    # A table: as a view it read every daily snapshot ever taken at each query (years of files).
    connection.execute(materialized(LATEST_EXTENSIONS_SQL))


def _stale_views(connection: duckdb.DuckDBPyConnection, globs: dict[str, str | None]) -> list[str]:
    """CREATE statements of the views whose dataset gained its first files or lost its last since the
    file was built. The others are current (their SQL is in the definition hash), and re-binding a
    view over a glob reads every file's footer: years of partitions, for nothing."""
    statements = []
    for view, (_, schema) in (*_sources().items(), *SNAPSHOT_VIEWS.items()):
        glob = globs[view]
        stored = connection.execute(
            "SELECT sql FROM duckdb_views() WHERE view_name = ? AND schema_name = 'main'", [view]
        ).fetchone()
        if stored is None or ("read_parquet" in str(stored[0])) != (glob is not None):
            statements.append(parquet_view_sql(view, glob, schema))
    return statements


def _view_globs(
    storage: ArchiveStorage, current: dict[Dataset, dict[date, Partition]]
) -> dict[str, str | None]:
    """Each view's glob as DuckDB reads it, None for a dataset without files (listed ones not again)."""
    globs = {}
    for view, (dataset, _) in (*_sources().items(), *SNAPSHOT_VIEWS.items()):
        if dataset in current:
            globs[view] = storage.url(storage.parquet_glob(dataset)) if current[dataset] else None
        else:
            globs[view] = _glob_if_any(storage, dataset)
    return globs


def _urls(storage: ArchiveStorage, partitions: list[Partition]) -> dict[str, str]:
    return {p.path: storage.url(p.path) for p in partitions}


def _build_full(
    connection: duckdb.DuckDBPyConnection,
    storage: ArchiveStorage,
    definition: str,
    current: dict[Dataset, dict[date, Partition]],
) -> None:
    """Every mart from all history, and the refresh state saying what it was computed from."""
    for sql in _mart_sql().values():
        connection.execute(materialized(sql))
    state.create_state(connection, definition)
    for dataset, partitions in current.items():
        listed = list(partitions.values())
        state.record_partitions(connection, dataset.value, frozenset(), listed, _urls(storage, listed))
    connection.execute(
        f"CREATE TABLE {state.SCHEMA}.mart_extensions AS SELECT id, extension_number, name FROM extensions"
    )
    for spanning in EXTENSION_MARTS.values():
        connection.execute(f"CREATE TABLE {state.SCHEMA}.{spanning.by_day_table} AS {spanning.by_day_sql}")


def _read_recorded(
    globs: dict[str, str | None], target: Path, definition: str
) -> tuple[state.RecordedState | None, str]:
    """The target's refresh state, or None and why a full build is needed."""
    if not target.exists():
        return None, "no warehouse yet"
    try:
        connection = connect(target, read_only=True)
    except duckdb.Error as exc:
        return None, f"the warehouse file cannot be opened ({str(exc).splitlines()[0]})"
    try:
        recorded = state.read_state(connection)
        recorded.stale_views = len(_stale_views(connection, globs))
    except state.StateUnreadable as exc:
        return None, str(exc)
    finally:
        connection.close()
    if recorded.definition != definition:
        return None, "view or mart definitions changed"
    return recorded, ""


def build_warehouse(
    storage: ArchiveStorage, target_path: str | os.PathLike[str] | None = None, *, full: bool = False
) -> WarehouseStats:
    """Bring the warehouse at ``target_path`` (default: ``storage.warehouse_path``) up to date.

    Incremental when the file's refresh state can be trusted: only the partitions added, re-written
    or removed since are recomputed (see `refresh`); a full build otherwise, or when ``full``.
    Either way the new database is written under a temp name in the target's directory, closed,
    and then renamed over the target. Connections open on the old file keep reading the old
    inode untouched; new connections open the new file; nobody sees a half-built one.
    Views reference Parquet by absolute path (or URL), so the file works from any CWD.
    """
    started = time.monotonic()
    target = Path(target_path if target_path is not None else storage.warehouse_path).expanduser().resolve()
    make_dirs(target.parent)
    definition = _definition(storage)
    current = {dataset: list_partitions(storage, dataset) for dataset in input_datasets()}
    globs = _view_globs(storage, current)
    # A mart no refresh strategy covers could only go stale in a refresh: such a build is always full.
    unplanned = sorted(set(_mart_sql()) - set(DAILY_MARTS) - set(EXTENSION_MARTS))
    if full:
        recorded, reason = None, "full rebuild asked for"
    elif unplanned:
        recorded, reason = None, f"marts without a refresh strategy: {', '.join(unplanned)}"
    else:
        recorded, reason = _read_recorded(globs, target, definition)
    changes = {}
    if recorded is not None:
        changes = {d: compare(recorded.partitions.get(d.value, {}), current[d]) for d in current}
        if not any(c.days for c in changes.values()) and not recorded.stale_views:
            return _stats(storage, target, current, started, mode="unchanged", counts=None)
    # DuckDB creates its file (and WAL) with the umask's mode: it is built inside a private directory,
    # given its mode when closed, then renamed into place.
    private = target.with_name(f"{owner_prefix()}{uuid.uuid4().hex[:16]}")
    make_dirs(private)
    os.chmod(private, 0o700)
    temp = private / target.name
    copy_seconds = 0.0
    try:
        if recorded is not None:
            copy_started = time.monotonic()
            shutil.copyfile(target, temp)
            copy_seconds = time.monotonic() - copy_started
        connection = connect(temp, storage)
        try:
            if recorded is None:
                _create_views(connection, storage)
                _build_full(connection, storage, definition, current)
                report = None
            else:
                for statement in _stale_views(connection, globs):
                    connection.execute(statement)
                # The state first: the refresh finds the newest directory snapshot (with rows) there.
                for dataset, change in changes.items():
                    fresh = [current[dataset][day] for day in sorted(change.added | change.rewritten)]
                    state.record_partitions(
                        connection,
                        dataset.value,
                        change.rewritten | change.removed,
                        fresh,
                        _urls(storage, fresh),
                    )
                report = refresh_marts(connection, storage, _sources(), changes, current, _mart_sql())
            counts = state.row_counts(connection)
            connection.execute("CHECKPOINT")
        finally:
            connection.close()
        secure(temp)
        os.replace(temp, target)
    except BaseException:
        _remove_quietly(temp)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(private)
    if report is None:
        return _stats(storage, target, current, started, mode="full", counts=counts, reason=reason)
    return _stats(
        storage,
        target,
        current,
        started,
        mode="incremental",
        counts=counts,
        days=tuple(sorted(day.isoformat() for day in report.days)),
        extensions_changed=report.extensions_changed,
        copy_seconds=copy_seconds,
    )


def _stats(
    storage: ArchiveStorage,
    target: Path,
    current: dict[Dataset, dict[date, Partition]],
    started: float,
    *,
    mode: str,
    counts: dict[str, int] | None,
    reason: str = "",
    days: tuple[str, ...] = (),
    extensions_changed: int = 0,
    copy_seconds: float = 0.0,
) -> WarehouseStats:
    if counts is None:
        connection = connect(target, storage, read_only=True)
        try:
            counts = state.row_counts(connection)
        finally:
            connection.close()
    return WarehouseStats(
        path=str(target),
        views=(*DATASET_VIEWS, "extensions"),
        marts=tuple(MART_SQL),
        row_counts={view: counts.get(dataset.value, 0) for view, (dataset, _) in DATASET_VIEWS.items()}
        | {"extensions": counts.get("extensions", 0)},
        empty_datasets=tuple(view for view, (dataset, _) in DATASET_VIEWS.items() if not current[dataset]),
        seconds=time.monotonic() - started,
        message_row_counts={
            view: counts.get(dataset.value, 0) for view, (dataset, _) in MESSAGE_VIEWS.items()
        },
        message_marts=tuple(MESSAGE_MART_SQL),
        mode=mode,
        reason=reason,
        days_refreshed=days,
        extensions_changed=extensions_changed,
        copy_seconds=copy_seconds,
    )

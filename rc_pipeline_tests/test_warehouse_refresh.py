"""Incremental warehouse refresh: only changed partitions are recomputed, and the result is always
what a full rebuild gives (every mart, table contents and types)."""

from __future__ import annotations

import math
import os
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.schemas import (
    ACTIVE_CALL_SNAPSHOTS_SCHEMA,
    CALL_LEGS_SCHEMA,
    CALLS_SCHEMA,
    EXTENSIONS_SCHEMA,
    MESSAGES_SCHEMA,
    RECORDINGS_MANIFEST_SCHEMA,
)
from rc_pipeline.warehouse import MART_SQL, MESSAGE_MART_SQL, build_warehouse, query
from rc_pipeline.warehouse import build as build_module
from rc_pipeline.warehouse.views import DAILY_MARTS, EXTENSION_MARTS

FIRST = date(2024, 5, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(5)]
EXTENSION_IDS = [62000000001, 62000000002, 62000000003]
CALL_RESULTS = [("Inbound", "Accepted"), ("Inbound", "Missed"), ("Inbound", "Voicemail"),
                ("Outbound", "Call connected"), ("Outbound", "No Answer")]  # fmt: skip
MESSAGE_KINDS = [("VoiceMail", "Inbound"), ("Fax", "Inbound"), ("Fax", "Outbound"), ("SMS", "Outbound")]
ALL_MARTS = [*MART_SQL, *MESSAGE_MART_SQL]


def typed(schema: pa.Schema, n: int, columns: dict[str, list]) -> pa.Table:
    """A table of ``schema`` with ``columns`` given and every other column null."""
    arrays = [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_call_day(
    storage: ArchiveStorage, day: date, rng: random.Random, without: int | None = None
) -> None:
    """A random day of calls, legs and recordings (``without``: no calls of that extension)."""
    n = rng.randint(1, 8)
    ids = [f"C{day:%m%d}-{rng.randrange(10**6)}-{i}" for i in range(n)]
    picks = [rng.choice(CALL_RESULTS) for _ in ids]
    ext = [rng.choice([*EXTENSION_IDS, None]) for _ in ids]
    keep = [i for i in range(n) if without is None or ext[i] != without]
    recording = [f"R{cid}" if rng.random() < 0.5 else None for cid in ids]
    leg_recording = [f"L{cid}" if rng.random() < 0.3 else None for cid in ids]

    def pick(values):
        return [values[i] for i in keep]

    m = len(keep)
    calls = typed(
        CALLS_SCHEMA,
        m,
        {
            "id": pick(ids),
            "partition_date": [day] * m,
            "type": pick([rng.choice(["Voice", "Voice", "Fax"]) for _ in ids]),
            "direction": pick([d for d, _ in picks]),
            "result": pick([r for _, r in picks]),
            "duration_s": pick([rng.randint(0, 600) for _ in ids]),
            "extension_id": pick(ext),
            "recording_id": pick(recording),
            "deleted": pick([rng.choice([None, False, True]) if rng.random() < 0.2 else None for _ in ids]),
        },
    )
    legs = typed(
        CALL_LEGS_SCHEMA,
        m,
        {
            "call_id": pick(ids),
            "leg_index": [0] * m,
            "recording_id": pick(leg_recording),
            "partition_date": [day] * m,
        },
    )
    referenced = [r for r in pick(recording) + pick(leg_recording) if r]
    manifest = typed(
        RECORDINGS_MANIFEST_SCHEMA,
        len(referenced),
        {
            "recording_id": referenced,
            "status": [rng.choice(["verified", "verified", "failed", "downloaded"]) for _ in referenced],
            "partition_date": [day] * len(referenced),
        },
    )
    storage.write_parquet(Dataset.CALLS, day, calls)
    storage.write_parquet(Dataset.CALL_LEGS, day, legs)
    storage.write_parquet(Dataset.RECORDINGS, day, manifest)


def write_message_day(
    storage: ArchiveStorage, day: date, rng: random.Random, without: int | None = None
) -> None:
    n = rng.randint(1, 8)
    kinds = [rng.choice(MESSAGE_KINDS) for _ in range(n)]
    ext = [rng.choice([*EXTENSION_IDS, None]) for _ in range(n)]
    keep = [i for i in range(n) if without is None or ext[i] != without]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)

    def pick(values):
        return [values[i] for i in keep]

    m = len(keep)
    table = typed(
        MESSAGES_SCHEMA,
        m,
        {
            "id": pick([rng.randrange(10**9) for _ in range(n)]),
            "extension_id": pick(ext),
            "partition_date": [day] * m,
            "type": pick([k for k, _ in kinds]),
            "direction": pick([d for _, d in kinds]),
            "creation_time": pick([start + timedelta(minutes=rng.randrange(1440)) for _ in range(n)]),
            "read_status": pick([rng.choice(["Read", "Unread"]) for _ in range(n)]),
            "availability": pick([rng.choice([None, "Alive", "Alive", "Deleted"]) for _ in range(n)]),
            "fax_page_count": pick([rng.randint(1, 9) if k == "Fax" else None for k, _ in kinds]),
            "vm_duration_s": pick([rng.randint(1, 300) if k == "VoiceMail" else None for k, _ in kinds]),
        },
    )
    storage.write_parquet(Dataset.MESSAGES, day, table)


def write_directory(storage: ArchiveStorage, snapshot: date, rng: random.Random) -> None:
    """A directory snapshot: some extensions renamed or renumbered, one maybe gone."""
    listed = [e for e in EXTENSION_IDS if rng.random() < 0.9]
    table = typed(
        EXTENSIONS_SCHEMA,
        len(listed),
        {
            "id": listed,
            "extension_number": [str(100 + e % 10 + rng.choice([0, 0, 50])) for e in listed],
            "name": [f"Agent {e % 10}" + rng.choice(["", "", " (renamed)"]) for e in listed],
            "snapshot_date": [snapshot] * len(listed),
        },
    )
    storage.write_parquet(Dataset.EXTENSIONS, snapshot, table)


def remove_partition(storage: ArchiveStorage, dataset: Dataset, day: date) -> None:
    shutil.rmtree(storage.partition_dir(dataset, day), ignore_errors=True)


def mart_contents(path: str) -> dict[str, tuple[list, list]]:
    """Every mart's column types and rows (sorted; floats rounded past summation-order noise)."""
    out = {}
    connection = duckdb.connect(path, read_only=True)
    try:
        for mart in ALL_MARTS:
            types = connection.execute(f"SELECT column_name, column_type FROM (DESCRIBE {mart})").fetchall()
            rows = connection.execute(f"SELECT * FROM {mart}").fetchall()
            out[mart] = (types, sorted((tuple(_rounded(v) for v in row) for row in rows), key=repr))
    finally:
        connection.close()
    return out


def _rounded(value):
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 9)
    return value


def assert_same_as_full(storage: ArchiveStorage, incremental_path: str, tmp_path: Path) -> dict:
    full = build_warehouse(storage, tmp_path / f"full-{os.urandom(4).hex()}.duckdb", full=True)
    expected = mart_contents(full.path)
    assert mart_contents(incremental_path) == expected
    Path(full.path).unlink()
    return expected


def seeded_archive(root: Path, seed: int = 1) -> ArchiveStorage:
    storage = ArchiveStorage(str(root))
    rng = random.Random(seed)
    for day in DAYS[:3]:
        write_call_day(storage, day, rng)
        write_message_day(storage, day, rng)
    write_directory(storage, DAYS[0], rng)
    return storage


def test_every_mart_has_a_refresh_strategy():
    assert set(DAILY_MARTS) | set(EXTENSION_MARTS) == set(ALL_MARTS)
    assert not set(DAILY_MARTS) & set(EXTENSION_MARTS)


def test_each_kind_of_change_refreshes_only_its_days_and_equals_a_full_rebuild(tmp_path):
    storage = seeded_archive(tmp_path / "archive")
    target = storage.warehouse_path
    first = build_warehouse(storage)
    assert (first.mode, first.reason) == ("full", "no warehouse yet")
    rng = random.Random(7)
    steps = [
        ("new day", lambda: write_call_day(storage, DAYS[3], rng), {DAYS[3]}),
        ("re-written day", lambda: write_call_day(storage, DAYS[1], rng), {DAYS[1]}),
        ("messages of a day", lambda: write_message_day(storage, DAYS[3], rng), {DAYS[3]}),
        ("removed day", lambda: remove_partition(storage, Dataset.CALLS, DAYS[0]), {DAYS[0]}),
        ("removed messages", lambda: remove_partition(storage, Dataset.MESSAGES, DAYS[2]), {DAYS[2]}),
        ("recordings only", lambda: remove_partition(storage, Dataset.RECORDINGS, DAYS[1]), {DAYS[1]}),
    ]
    for what, change, days in steps:
        change()
        stats = build_warehouse(storage)
        assert stats.mode == "incremental", what
        assert set(stats.days_refreshed) == {d.isoformat() for d in days}, what
    assert_same_as_full(storage, target, tmp_path)
    # A new directory snapshot that renames extensions: names updated in every day's rows.
    renamed = typed(
        EXTENSIONS_SCHEMA,
        3,
        {
            "id": EXTENSION_IDS,
            "extension_number": ["901", "902", "903"],
            "name": ["New 1", "New 2", "New 3"],
            "snapshot_date": [DAYS[4]] * 3,
        },
    )
    storage.write_parquet(Dataset.EXTENSIONS, DAYS[4], renamed)
    stats = build_warehouse(storage)
    assert (stats.mode, stats.days_refreshed, stats.extensions_changed) == ("incremental", (), 3)
    marts = assert_same_as_full(storage, target, tmp_path)
    names = {row[3] for row in marts["mart_daily_call_volume"][1]} | {
        row[2] for row in marts["mart_unread_voicemails"][1]
    }
    assert names <= {"New 1", "New 2", "New 3", None} and names & {"New 1", "New 2", "New 3"}
    # Every mart is exercised (none is trivially equal because empty).
    assert all(rows for _, rows in marts.values()), [m for m, (_, rows) in marts.items() if not rows]
    # Nothing changed: the file is not touched at all (same inode, readers unaffected).
    inode = os.stat(target).st_ino
    stats = build_warehouse(storage)
    assert (stats.mode, os.stat(target).st_ino) == ("unchanged", inode)
    assert stats.row_counts["calls"] == query(target, "SELECT count(*) FROM calls")[1][0][0]
    assert stats.message_row_counts["messages"] == query(target, "SELECT count(*) FROM messages")[1][0][0]


def test_a_snapshot_listing_an_extension_twice_is_refreshed_as_a_rebuild_counts_it(tmp_path):
    storage = seeded_archive(tmp_path / "archive")
    build_warehouse(storage)
    twice = [EXTENSION_IDS[0], EXTENSION_IDS[0], EXTENSION_IDS[1]]
    snapshot = typed(
        EXTENSIONS_SCHEMA,
        3,
        {"id": twice, "name": ["One", "Also one", "Two"], "snapshot_date": [DAYS[4]] * 3},
    )
    storage.write_parquet(Dataset.EXTENSIONS, DAYS[4], snapshot)
    assert build_warehouse(storage).extensions_changed == len(EXTENSION_IDS)
    assert_same_as_full(storage, storage.warehouse_path, tmp_path)


def test_erasure_rewriting_many_days_is_refreshed(tmp_path):
    storage = seeded_archive(tmp_path / "archive")
    build_warehouse(storage)
    rng = random.Random(3)
    erased = EXTENSION_IDS[0]
    # As an erasure does: every day re-written without the extension's rows.
    for day in DAYS[:3]:
        write_call_day(storage, day, rng, without=erased)
        write_message_day(storage, day, rng, without=erased)
    stats = build_warehouse(storage)
    assert stats.mode == "incremental" and len(stats.days_refreshed) == 3
    assert_same_as_full(storage, storage.warehouse_path, tmp_path)
    for mart in (*MESSAGE_MART_SQL, "mart_daily_call_volume", "mart_missed_call_rate"):
        assert query(stats.path, f"SELECT count(*) FROM {mart} WHERE extension_id = {erased}")[1] == [(0,)]


def test_what_forces_a_full_rebuild(tmp_path, monkeypatch):
    storage = seeded_archive(tmp_path / "archive")
    path = build_warehouse(storage).path
    assert build_warehouse(storage, full=True).reason == "full rebuild asked for"
    # The mart SQL changed: the state cannot say what the new SQL would have given.
    changed = MART_SQL["mart_avg_talk_time"].replace("avg(duration_s)", "avg(duration_s) + 0")
    monkeypatch.setitem(build_module.MART_SQL, "mart_avg_talk_time", changed)
    stats = build_warehouse(storage)
    assert (stats.mode, stats.reason) == ("full", "view or mart definitions changed")
    assert build_warehouse(storage).mode == "unchanged"
    monkeypatch.setitem(build_module.MART_SQL, "mart_new", "CREATE OR REPLACE VIEW mart_new AS SELECT 1 AS x")
    stats = build_warehouse(storage)
    assert (stats.mode, stats.reason) == ("full", "marts without a refresh strategy: mart_new")
    monkeypatch.delitem(build_module.MART_SQL, "mart_new")
    # A file without the state (an older version's, or damaged) is rebuilt whole.
    connection = duckdb.connect(path)
    connection.execute("DROP SCHEMA refresh_state CASCADE")
    connection.close()
    stats = build_warehouse(storage)
    assert stats.mode == "full" and stats.reason.startswith("no refresh state")
    Path(path).write_bytes(b"not a duckdb file" * 100)
    stats = build_warehouse(storage)
    assert stats.mode == "full" and stats.reason.startswith("the warehouse file cannot be opened")
    assert_same_as_full(storage, path, tmp_path)


def test_a_failed_refresh_keeps_the_previous_warehouse(tmp_path, monkeypatch):
    storage = seeded_archive(tmp_path / "archive")
    path = build_warehouse(storage).path
    before = Path(path).read_bytes()
    write_call_day(storage, DAYS[3], random.Random(1))

    def broken(*args, **kwargs):
        raise RuntimeError("refresh failed half-way")

    monkeypatch.setattr(build_module, "refresh_marts", broken)
    with pytest.raises(RuntimeError, match="half-way"):
        build_warehouse(storage)
    assert Path(path).read_bytes() == before
    assert [p.name for p in Path(path).parent.glob(".tmp-*")] == []


# One step of a random history: (what, day index, seed).
_steps = st.tuples(
    st.sampled_from(
        ["calls", "messages", "remove calls", "remove legs", "remove messages", "directory", "erase"]
    ),
    st.integers(0, len(DAYS) - 1),
    st.integers(0, 10**6),
)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_steps, min_size=1, max_size=4))
def test_random_histories_refresh_to_what_a_full_rebuild_gives(tmp_path, history):
    root = tmp_path / os.urandom(4).hex()
    storage = seeded_archive(root / "archive", seed=len(history))
    build_warehouse(storage)
    for what, index, seed in history:
        rng, day = random.Random(seed), DAYS[index]
        if what == "calls":
            write_call_day(storage, day, rng)
        elif what == "messages":
            write_message_day(storage, day, rng)
        elif what == "directory":
            write_directory(storage, day, rng)
        elif what == "erase":
            for erased_day in storage.list_partitions(Dataset.CALLS):
                write_call_day(storage, erased_day, rng, without=EXTENSION_IDS[index % 3])
        else:
            dataset = {"calls": Dataset.CALLS, "legs": Dataset.CALL_LEGS, "messages": Dataset.MESSAGES}
            remove_partition(storage, dataset[what.split()[1]], day)
        assert build_warehouse(storage).mode in {"incremental", "unchanged"}
    assert_same_as_full(storage, storage.warehouse_path, root)
    shutil.rmtree(root)


def test_the_asset_refreshes_by_default_and_rebuilds_whole_when_configured(tmp_path):
    import dagster as dg

    from rc_pipeline.defs.resources import ArchiveResource
    from rc_pipeline.defs.warehouse.assets import build_warehouse_assets

    storage = seeded_archive(tmp_path / "archive")
    resources = {"archive": ArchiveResource(root=str(tmp_path / "archive"))}

    def run(**config) -> dict:
        run_config = {"ops": {"warehouse": {"config": config}}} if config else None
        result = dg.materialize(build_warehouse_assets(), resources=resources, run_config=run_config)
        (event,) = result.get_asset_materialization_events()
        return {k: v.value for k, v in event.materialization.metadata.items()}

    meta = run(full_rebuild=True)
    assert (meta["mode"], meta["reason"]) == ("full", "full rebuild asked for")
    write_call_day(storage, DAYS[3], random.Random(5))
    meta = run()
    assert (meta["mode"], meta["days_refreshed"], meta["days_refreshed_list"]) == (
        "incremental",
        1,
        [DAYS[3].isoformat()],
    )
    assert meta["seconds"] > 0


def test_cli_refreshes_the_warehouse_or_rebuilds_it_whole(tmp_path, monkeypatch, capsys):
    from rc_pipeline.cli import main

    storage = seeded_archive(tmp_path / "archive")
    monkeypatch.setenv("RC_ARCHIVE_ROOT", str(tmp_path / "archive"))
    monkeypatch.delenv("RC_WAREHOUSE_PATH", raising=False)
    assert main(["warehouse"]) == 0
    assert "full rebuild (no warehouse yet)" in capsys.readouterr().out
    write_message_day(storage, DAYS[4], random.Random(2))
    assert main(["warehouse"]) == 0
    assert "refreshed 1 day in" in capsys.readouterr().out
    assert main(["warehouse", "--full"]) == 0
    assert "full rebuild (full rebuild asked for)" in capsys.readouterr().out


def test_a_refresh_gives_views_their_first_files(tmp_path):
    storage = ArchiveStorage(str(tmp_path / "archive"))
    write_message_day(storage, DAYS[0], random.Random(1))
    path = build_warehouse(storage).path
    assert query(path, "SELECT count(*) FROM calls")[1] == [(0,)]
    write_call_day(storage, DAYS[0], random.Random(2))
    # Not an input of the marts: the view reads whatever snapshots exist at query time.
    taken = datetime(2024, 5, 1, 12, tzinfo=UTC)
    snapshot = typed(ACTIVE_CALL_SNAPSHOTS_SCHEMA, 1, {"snapshot_time": [taken], "partition_date": [DAYS[0]]})
    storage.write_parquet(Dataset.ACTIVE_CALL_SNAPSHOTS, DAYS[0], snapshot)
    stats = build_warehouse(storage)
    assert stats.mode == "incremental" and stats.empty_datasets == ("extensions_history",)
    assert query(path, "SELECT count(*) FROM calls")[1] == [(stats.row_counts["calls"],)]
    assert query(path, "SELECT count(*) FROM active_call_snapshots")[1] == [(1,)]

"""Scenario 5: the warehouse on a big archive: refresh after one day, full rebuild, analyst queries.

Generates `days` x `calls_per_day` calls (with ~2.5 legs each, a third recorded, recordings verified
in the manifest, 200 extensions, one directory snapshot per day as the daily job writes) as typed
Parquet in the archive layout, all but the newest day first. Builds the warehouse (full), then times
`build_warehouse`'s refresh after the newest day lands (with its directory snapshot) and after one
older day is re-written (as a re-archive or an erasure does), then a full rebuild of the same archive,
checks that the refreshed marts equal the rebuilt ones, and times three mart queries with
`rc_pipeline.warehouse.query` (what `rc-pipeline query` runs: a read-only connection per query) on
the refreshed file. Warm = after one untimed run.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.common import Result, median

EXTENSIONS = 200
FIRST_EXTENSION_ID = 62_000_000_000
QUERIES = {
    "daily volume by direction, all days": (
        "SELECT day, direction, sum(calls) AS calls, sum(talk_seconds) AS talk_seconds "
        "FROM mart_daily_call_volume GROUP BY ALL ORDER BY day, direction"
    ),
    "missed-call rate per extension, last 7 days": (
        "SELECT e.name, sum(m.missed_calls) AS missed, sum(m.inbound_calls) AS inbound, "
        "sum(m.missed_calls) / sum(m.inbound_calls) AS rate "
        "FROM mart_missed_call_rate m JOIN extensions e ON e.id = m.extension_id "
        "WHERE m.day >= current_date - 7 GROUP BY ALL ORDER BY rate DESC"
    ),
    "recording coverage per day, all days": "SELECT * FROM mart_recording_coverage ORDER BY day",
}
# (result, direction, weight): a realistic mix of answered, missed and voicemail.
RESULTS = [
    ("Accepted", "Inbound", 40),
    ("Missed", "Inbound", 10),
    ("Voicemail", "Inbound", 7),
    ("Hang Up", "Inbound", 3),
    ("Call connected", "Outbound", 30),
    ("No Answer", "Outbound", 7),
    ("Busy", "Outbound", 3),
]
LEG_TYPES = ["PstnToSip", "Accept", "FindMe", "FollowMe", "TransferCall", "ExtensionToExtension"]


def _labels(prefix: str, numbers: np.ndarray, width: int = 7) -> pa.Array:
    """prefix + zero-padded number, built in Arrow (9M Python f-strings would dominate the run)."""
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _pick(rng: np.random.Generator, values: list, n: int, weights: list[float] | None = None) -> pa.Array:
    p = None if weights is None else np.array(weights, dtype=float) / sum(weights)
    return pc.take(pa.array(values), pa.array(rng.choice(len(values), size=n, p=p)))


def _day_tables(day: date, n: int, seed: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    from rc_pipeline.transform.schemas import CALL_LEGS_SCHEMA, CALLS_SCHEMA, RECORDINGS_MANIFEST_SCHEMA

    rng = np.random.default_rng(seed)
    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    key = day.strftime("%Y%m%d")
    ids = _labels(f"C{key}", np.arange(n))
    start = base + np.sort(rng.integers(0, 86_400_000, n))
    outcome = rng.choice(len(RESULTS), size=n, p=np.array([w for *_, w in RESULTS]) / 100)
    result = pc.take(pa.array([r for r, _, _ in RESULTS]), pa.array(outcome))
    direction = pc.take(pa.array([d for _, d, _ in RESULTS]), pa.array(outcome))
    answered = np.isin(outcome, [0, 4])
    duration = np.where(
        answered, np.clip(rng.lognormal(4.3, 1.0, n), 5, 7200), rng.integers(0, 40, n)
    ).astype(np.int64)
    ext = FIRST_EXTENSION_ID + rng.integers(0, EXTENSIONS, n)
    recorded = answered & (rng.random(n) < 0.48)  # about a third of all calls
    rec_idx = np.flatnonzero(recorded)
    recording_id = pc.if_else(pa.array(recorded), _labels(f"R{key}", np.arange(n)), None)
    content_uri = pc.binary_join_element_wise(
        "https://media.ringcentral.com/restapi/v1.0/account/1/recording/", recording_id, "/content", ""
    )
    rec_type = pc.if_else(pc.is_valid(recording_id), _pick(rng, ["Automatic", "OnDemand"], n, [7, 3]), None)
    phones = pa.array([f"+1650555{i:04d}" for i in range(10_000)])
    external = pc.take(phones, pa.array(rng.integers(0, 10_000, n)))
    internal_num = pc.cast(pa.array(ext - FIRST_EXTENSION_ID + 100), pa.string())
    internal_name = _labels("Agent ", ext - FIRST_EXTENSION_ID, width=0)
    inbound = pc.equal(direction, "Inbound")
    legs_per_call = rng.choice([1, 2, 2, 3, 3, 4], size=n)
    leg_count = pa.array(legs_per_call.astype(np.int32))
    lmt = start + duration * 1000 + rng.integers(5_000, 60_000, n)
    ts = pa.timestamp("ms", tz="UTC")
    null_s = pa.nulls(n, pa.string())
    null_i = pa.nulls(n, pa.int64())
    ext_id_arr = pa.array(ext)
    calls_cols = {
        "id": ids,
        "session_id": pc.cast(pa.array(10_000_000_000 * (seed + 1) + np.arange(n)), pa.string()),
        "telephony_session_id": null_s,
        "partition_date": pa.repeat(pa.scalar(day, pa.date32()), n),
        "start_time": pa.array(start, ts),
        "duration_s": pa.array(duration),
        "duration_ms": pa.array(duration * 1000),
        "type": _pick(rng, ["Voice", "Fax"], n, [97, 3]),
        "direction": direction,
        "action": pc.if_else(inbound, "Phone Call", "VoIP Call"),
        "result": result,
        "reason": pc.if_else(pa.array(answered), "Accepted", "No Answer"),
        "reason_description": null_s,
        "internal_type": _pick(rng, ["LocalNumber", "LongDistance", "Usual"], n),
        "transport": _pick(rng, ["PSTN", "VoIP"], n, [8, 2]),
        "from_phone_number": pc.if_else(inbound, external, None),
        "from_extension_number": pc.if_else(inbound, None, internal_num),
        "from_extension_id": pc.if_else(inbound, null_i, ext_id_arr),
        "from_name": pc.if_else(inbound, None, internal_name),
        "from_location": pc.if_else(inbound, "San Mateo, CA", None),
        "to_phone_number": pc.if_else(inbound, None, external),
        "to_extension_number": pc.if_else(inbound, internal_num, None),
        "to_extension_id": pc.if_else(inbound, ext_id_arr, null_i),
        "to_name": pc.if_else(inbound, internal_name, None),
        "to_location": pc.if_else(inbound, None, "Denver, CO"),
        "extension_id": ext_id_arr,
        "recording_id": recording_id,
        "recording_type": rec_type,
        "recording_content_uri": content_uri,
        "short_recording": pa.nulls(n, pa.bool_()),
        "billing_cost_included": pa.array(np.zeros(n)),
        "billing_cost_purchased": pa.array(np.round(rng.random(n) * 0.1, 4)),
        "last_modified_time": pa.array(lmt, ts),
        "leg_count": leg_count,
        "deleted": pa.nulls(n, pa.bool_()),
    }
    calls = pa.Table.from_pydict(calls_cols, schema=CALLS_SCHEMA)

    parent = np.repeat(np.arange(n), legs_per_call)
    starts = np.cumsum(legs_per_call) - legs_per_call
    leg_index = np.arange(len(parent)) - starts[parent]
    m = len(parent)
    master = leg_index == 0
    take = pa.array(parent)
    leg_cols = {
        "call_id": pc.take(ids, take),
        "leg_index": pa.array(leg_index.astype(np.int32)),
        "leg_type": pc.if_else(pa.array(master), "PstnToSip", _pick(rng, LEG_TYPES, m)),
        "master": pa.array(master),
        "start_time": pa.array(start[parent] + leg_index * 1500, ts),
        "duration_s": pa.array(np.maximum(duration[parent] - leg_index, 0)),
        **{
            name: pc.take(calls_cols[name], take)
            for name in (
                "type",
                "direction",
                "action",
                "result",
                "reason",
                "from_phone_number",
                "from_extension_number",
                "from_extension_id",
                "from_name",
                "from_location",
                "to_phone_number",
                "to_extension_number",
                "to_extension_id",
                "to_name",
                "to_location",
            )
        },
        "extension_id": pa.array(
            np.where(master, ext[parent], FIRST_EXTENSION_ID + rng.integers(0, EXTENSIONS, m))
        ),
        # The master leg carries the call's recording, as RingCentral's Detailed view does.
        "recording_id": pc.if_else(pa.array(master), pc.take(recording_id, take), None),
        "recording_type": pc.if_else(pa.array(master), pc.take(rec_type, take), None),
        "recording_content_uri": pc.if_else(pa.array(master), pc.take(content_uri, take), None),
        "partition_date": pa.repeat(pa.scalar(day, pa.date32()), m),
    }
    legs = pa.Table.from_pydict(leg_cols, schema=CALL_LEGS_SCHEMA)

    k = len(rec_idx)
    rec_take = pa.array(rec_idx)
    manifest = pa.Table.from_pydict(
        {
            "recording_id": pc.take(recording_id, rec_take),
            "call_id": pc.take(ids, rec_take),
            "leg_index": pa.nulls(k, pa.int32()),
            "content_type": _pick(rng, ["audio/mpeg", "audio/wav"], k, [8, 2]),
            "bytes": pa.array(duration[rec_idx] * 4000),
            "sha256": _labels(f"{seed:032x}", rec_idx, width=32),
            "duration_s": pa.array(duration[rec_idx]),
            "path": pc.binary_join_element_wise(
                f"recordings/{day:%Y/%m/%d}/", pc.take(recording_id, rec_take), ".mp3", ""
            ),
            # A few failed downloads, so coverage is not trivially 100%.
            "status": pc.if_else(pa.array(rng.random(k) < 0.995), "verified", "failed"),
            "error": pa.nulls(k, pa.string()),
            "partition_date": pa.repeat(pa.scalar(day, pa.date32()), k),
        },
        schema=RECORDINGS_MANIFEST_SCHEMA,
    )
    return calls, legs, manifest


def _write_day(root: str, day: date, n: int, seed: int) -> int:
    from rc_pipeline.calls.tables import PARQUET_OPTIONS, ROW_GROUP_ROWS
    from rc_pipeline.storage import ArchiveStorage, Dataset

    storage = ArchiveStorage(root)
    tables = _day_tables(day, n, seed)
    for dataset, table in zip((Dataset.CALLS, Dataset.CALL_LEGS, Dataset.RECORDINGS), tables, strict=True):
        path = Path(storage.parquet_path(dataset, day))
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, **PARQUET_OPTIONS)
    return tables[0].num_rows


def _day_list(days: int) -> list[date]:
    """`days` days ending yesterday, newest last."""
    last = datetime.now(UTC).date() - timedelta(days=1)
    return [last - timedelta(days=n) for n in reversed(range(days))]


def _write_snapshot(root: Path, snapshot: date, template: pa.Table) -> None:
    """The directory as the daily snapshot job writes it: same extensions, that day's snapshot date."""
    from rc_pipeline.storage import ArchiveStorage, Dataset

    column = template.schema.get_field_index("snapshot_date")
    table = template.set_column(
        column, template.schema.field(column), pa.repeat(pa.scalar(snapshot, pa.date32()), template.num_rows)
    )
    ArchiveStorage(str(root)).write_parquet(Dataset.EXTENSIONS, snapshot, table)


def generate(root: Path, days: list[date], calls_per_day: int, workers: int = 2) -> int:
    """Typed Parquet for `days` (seed = position in the list), and one directory snapshot per day."""
    from rc_pipeline.transform.extensions import extensions_table
    from rc_pipeline.transform.sample_records import sample_extension_record

    with ProcessPoolExecutor(max_workers=workers) as pool:
        rows = sum(
            pool.map(_write_day, [str(root)] * len(days), days, [calls_per_day] * len(days), range(len(days)))
        )
    template = extensions_table([sample_extension_record(n) for n in range(EXTENSIONS)], days[0])
    for day in days:
        _write_snapshot(root, day, template)
    return rows


def _marts(path: str) -> dict[str, list]:
    """Every mart's rows, sorted, floats rounded past summation-order noise."""
    from rc_pipeline.warehouse import MART_SQL, MESSAGE_MART_SQL, query

    out = {}
    for mart in (*MART_SQL, *MESSAGE_MART_SQL):
        _, rows = query(path, f"SELECT * FROM {mart}")
        out[mart] = sorted(
            (tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows), key=repr
        )
    return out


def run(workdir: Path, *, days: int, calls_per_day: int, repeats: int, log=print) -> list[Result]:
    from rc_pipeline.storage import ArchiveStorage
    from rc_pipeline.transform.extensions import extensions_table
    from rc_pipeline.transform.sample_records import sample_extension_record
    from rc_pipeline.warehouse import build_warehouse, query

    scenario = "5 warehouse"
    root = workdir / "query-archive"
    storage = ArchiveStorage(str(root))
    day_list = _day_list(days)
    t0 = time.monotonic()
    rows = generate(root, day_list[:-1], calls_per_day)
    log(f"  generated {rows:,} calls over {days - 1} days in {time.monotonic() - t0:.0f} s")
    first = build_warehouse(storage)
    log(f"  first build ({first.describe()}): {first.row_counts}")

    # The newest day lands, with the day's directory snapshot, as the daily run writes them.
    _write_day(str(root), day_list[-1], calls_per_day, days - 1)
    template = extensions_table([sample_extension_record(n) for n in range(EXTENSIONS)], day_list[-1])
    _write_snapshot(root, day_list[-1], template)
    new_day = build_warehouse(storage)
    log(f"  after one new day: {new_day.describe()} (file copy {new_day.copy_seconds:.3f} s)")
    # An older day is re-written (new content), as a re-archive or an erasure does.
    changed = day_list[len(day_list) // 2]
    _write_day(str(root), changed, calls_per_day, 10 * days)
    changed_day = build_warehouse(storage)
    log(f"  after one changed day: {changed_day.describe()} (file copy {changed_day.copy_seconds:.3f} s)")
    full_path = workdir / "warehouse-full.duckdb"
    full = build_warehouse(storage, full_path, full=True)
    log(f"  full rebuild of the same archive: {full.describe()}")
    same = _marts(changed_day.path) == _marts(full.path)
    size_mib = os.path.getsize(changed_day.path) / 1024**2
    results = [
        Result(scenario, "calls in warehouse", changed_day.row_counts["calls"]),
        Result(scenario, "call legs in warehouse", changed_day.row_counts["call_legs"]),
        Result(scenario, "refresh after one new day (s)", round(new_day.seconds, 2), "<= 2",
               new_day.mode == "incremental" and new_day.seconds <= 2),
        Result(scenario, "refresh after one changed day (s)", round(changed_day.seconds, 2), "<= 2",
               changed_day.mode == "incremental" and changed_day.seconds <= 2),
        Result(scenario, f"full rebuild, {days} days (s)", round(full.seconds, 2)),
        Result(scenario, "warehouse file MiB (copied by a refresh)", round(size_mib, 1)),
        Result(scenario, "refreshed marts equal a full rebuild", "yes" if same else "no", "yes", same),
    ]  # fmt: skip
    Path(full.path).unlink()
    for name, sql in QUERIES.items():
        query(changed_day.path, sql, storage)  # warm-up: file cache and DuckDB's first plan
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            _, out = query(changed_day.path, sql, storage)
            times.append(time.perf_counter() - started)
        warm = median(times)
        log(f"  {name}: {len(out)} rows, median {warm:.3f} s, max {max(times):.3f} s")
        results.append(Result(scenario, f"{name} (s, warm median)", round(warm, 3), "< 1", warm < 1.0))
    return results

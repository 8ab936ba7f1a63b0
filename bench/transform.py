"""Scenario 3: raw call-log pages -> `calls` + `call_legs` Parquet, ours against DuckDB's read_json.

Both sides read the same gzip NDJSON raw partitions (the raw layer's own files) and write one Parquet
file per day and table with the same columns (CALLS_SCHEMA / CALL_LEGS_SCHEMA, legs unnested with their
index), zstd level 1, 128k-row groups. Each run is a fresh child process, so its peak RSS is its own;
runs alternate ours / DuckDB so machine noise falls on both.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from bench.common import Result, median, own_peak_rss_bytes, run_child
from rc_pipeline.transform.raw_shapes import RECORD_TYPE
from rc_pipeline.warehouse.duckdb_types import quote_identifier as qi
from rc_pipeline.warehouse.duckdb_types import quote_literal as ql

FIRST_DAY = date(2026, 1, 1)
GiB = 1024**3


def _generate_day(root: str, day: date, records: int, seed: int) -> int:
    from rc_pipeline.storage import ArchiveStorage
    from rc_pipeline.transform.sample_records import sample_call_log_pages

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    manifest = ArchiveStorage(root).write_raw_call_log(
        day, sample_call_log_pages(day, records, seed=seed), start, start + timedelta(days=1)
    )
    return manifest.records_received


def generate_raw(root: Path, days: int, per_day: int, workers: int = 2) -> list[date]:
    """Raw call-log partitions: `days` days of `per_day` Detailed records (sample_records.py shapes)."""
    day_list = [FIRST_DAY + timedelta(days=n) for n in range(days)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        counts = list(pool.map(_generate_day, [str(root)] * days, day_list, [per_day] * days, range(days)))
    if sum(counts) != days * per_day:
        raise RuntimeError(f"generated {sum(counts)} records, expected {days * per_day}")
    return day_list


# ---------------------------------------------------------------------------------------- DuckDB side


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{qi(f.name)} {_duck_type(f.type)}" for f in t) + ")"
    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}[t]


def _party(src: str, key: str, prefix: str) -> list[str]:
    p = f"{src}.{qi(key)}"
    return [
        f"{p}.phoneNumber AS {prefix}_phone_number",
        f"{p}.extensionNumber AS {prefix}_extension_number",
        f"TRY_CAST(trim({p}.extensionId) AS BIGINT) AS {prefix}_extension_id",
        f"{p}.name AS {prefix}_name",
        f"{p}.location AS {prefix}_location",
    ]


def _recording(src: str) -> list[str]:
    return [
        f"{src}.recording.id AS recording_id",
        f"{src}.recording.type AS recording_type",
        f"{src}.recording.contentUri AS recording_content_uri",
    ]


def duckdb_sql(pages_file: str, day: date, calls_out: str, legs_out: str) -> list[str]:
    """DuckDB statements for one day: parse once into a temp table, then COPY both tables."""
    options = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 131072"
    records_type = _duck_type(pa.list_(RECORD_TYPE))
    d = f"DATE {ql(day.isoformat())}"
    calls = [
        "r.id AS id",
        "r.sessionId AS session_id",
        "r.telephonySessionId AS telephony_session_id",
        f"{d} AS partition_date",
        "CAST(r.startTime AS TIMESTAMPTZ) AS start_time",
        "r.duration AS duration_s",
        "r.durationMs AS duration_ms",
        "r.type AS type",
        "r.direction AS direction",
        "r.action AS action",
        "r.result AS result",
        "r.reason AS reason",
        "r.reasonDescription AS reason_description",
        "r.internalType AS internal_type",
        "r.transport AS transport",
        *_party("r", "from", "from"),
        *_party("r", "to", "to"),
        "r.extension.id AS extension_id",
        *_recording("r"),
        "r.shortRecording AS short_recording",
        "r.billing.costIncluded AS billing_cost_included",
        "r.billing.costPurchased AS billing_cost_purchased",
        "CAST(r.lastModifiedTime AS TIMESTAMPTZ) AS last_modified_time",
        "CAST(len(r.legs) AS INTEGER) AS leg_count",
        "r.deleted AS deleted",
    ]
    legs = [
        "call_id",
        "CAST(leg_index AS INTEGER) AS leg_index",
        "l.legType AS leg_type",
        "l.master AS master",
        "CAST(l.startTime AS TIMESTAMPTZ) AS start_time",
        "l.duration AS duration_s",
        "l.type AS type",
        "l.direction AS direction",
        "l.action AS action",
        "l.result AS result",
        "l.reason AS reason",
        *_party("l", "from", "from"),
        *_party("l", "to", "to"),
        "l.extension.id AS extension_id",
        *_recording("l"),
        f"{d} AS partition_date",
    ]
    return [
        "CREATE OR REPLACE TEMP TABLE r AS SELECT unnest(records) AS r FROM read_json("
        f"{ql(pages_file)}, format = 'newline_delimited', compression = 'gzip', "
        f"maximum_object_size = 268435456, columns = {{'records': {ql(records_type)}}})",
        f"COPY (SELECT {', '.join(calls)} FROM r WHERE r.id IS NOT NULL) TO {ql(calls_out)} ({options})",
        "COPY (SELECT " + ", ".join(legs) + " FROM (SELECT r.id AS call_id, unnest(r.legs) AS l, "
        "unnest(range(len(r.legs))) AS leg_index FROM r WHERE r.id IS NOT NULL)) "
        f"TO {ql(legs_out)} ({options})",
    ]


# ------------------------------------------------------------------------------------- child process


def child(kind: str, root: str, out: str, days: list[str]) -> dict:
    """One timed transform of every day (run in its own process by `python -m bench.transform`)."""
    import pyarrow.parquet as pq

    from rc_pipeline.calls.tables import write_calls_and_legs
    from rc_pipeline.storage import ArchiveStorage, Dataset

    raw = ArchiveStorage(root)
    target = ArchiveStorage(out)
    day_dates = [date.fromisoformat(d) for d in days]
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect()
    started = time.perf_counter()
    records = 0
    for day in day_dates:
        if kind == "ours":
            stats = write_calls_and_legs(raw.read_raw_call_log_pages(day), day, target)
            records += stats.records_read
        else:
            calls_out = target.parquet_path(Dataset.CALLS, day)
            legs_out = target.parquet_path(Dataset.CALL_LEGS, day)
            Path(calls_out).parent.mkdir(parents=True, exist_ok=True)
            Path(legs_out).parent.mkdir(parents=True, exist_ok=True)
            for sql in duckdb_sql(raw.raw_pages_path(day), day, calls_out, legs_out):
                con.execute(sql)
            records += con.execute("SELECT count(*) FROM r").fetchone()[0]
    seconds = time.perf_counter() - started
    calls = sum(pq.ParquetFile(target.parquet_path(Dataset.CALLS, d)).metadata.num_rows for d in day_dates)
    legs = sum(pq.ParquetFile(target.parquet_path(Dataset.CALL_LEGS, d)).metadata.num_rows for d in day_dates)
    return {
        "kind": kind,
        "seconds": seconds,
        "records": records,
        "calls": calls,
        "legs": legs,
        "peak_rss_bytes": own_peak_rss_bytes(),
    }


# ------------------------------------------------------------------------------------------ scenario


def run(workdir: Path, *, days: int, per_day: int, runs: int, log=print) -> list[Result]:
    scenario = "3 transform"
    root = workdir / "raw-archive"
    t0 = time.monotonic()
    day_list = generate_raw(root, days, per_day)
    total = days * per_day
    log(f"  generated {total:,} records in {days} raw partitions in {time.monotonic() - t0:.0f} s")
    timings: dict[str, list[float]] = {"ours": [], "duckdb": []}
    rss: dict[str, list[int]] = {"ours": [], "duckdb": []}
    shapes: dict[str, tuple[int, int]] = {}
    # `runs` runs alternating ours, DuckDB, ours, ... so slow phases of the machine fall on both sides.
    sequence = [("ours", "duckdb")[n % 2] for n in range(max(runs, 2))]
    for n, kind in enumerate(sequence):
        out = workdir / f"out-{kind}"
        shutil.rmtree(out, ignore_errors=True)
        args = ["-m", "bench.transform", kind, str(root), str(out), *[d.isoformat() for d in day_list]]
        result = run_child(args, timeout=1200)
        if result.returncode != 0:
            raise RuntimeError(f"{kind} transform failed:\n{result.stderr[-3000:]}")
        report = result.last_json()
        timings[kind].append(report["seconds"])
        rss[kind].append(result.peak_rss_bytes())
        shapes[kind] = (report["calls"], report["legs"])
        log(
            f"  run {n + 1} {kind:>6}: {report['seconds']:.1f} s, {report['calls']:,} calls, "
            f"{report['legs']:,} legs, peak RSS {result.peak_rss_bytes() / 2**20:.0f} MiB"
        )
        shutil.rmtree(out, ignore_errors=True)
    if shapes["ours"] != shapes["duckdb"]:
        raise RuntimeError(f"the two sides wrote different row counts: {shapes}")
    ours, duck = median(timings["ours"]), median(timings["duckdb"])
    ratio = ours / duck
    peak = max(rss["ours"])
    return [
        Result(scenario, "records", total),
        Result(scenario, "legs", shapes["ours"][1]),
        Result(scenario, "ours records/s (median)", round(total / ours)),
        Result(scenario, "duckdb records/s (median)", round(total / duck)),
        Result(scenario, "time ratio ours/duckdb", round(ratio, 3), "<= 1.2", ratio <= 1.2),
        Result(scenario, "ours peak RSS MiB", round(peak / 2**20), "<= 1024", peak <= GiB),
        Result(scenario, "duckdb peak RSS MiB", round(max(rss["duckdb"]) / 2**20)),
    ]


if __name__ == "__main__":
    kind, root_arg, out_arg, *day_args = sys.argv[1:]
    print(json.dumps(child(kind, root_arg, out_arg, day_args)))

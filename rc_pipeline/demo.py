"""`rc-pipeline demo`: archive a simulated account end to end, then query the warehouse.

Starts the embedded RingCentral simulator (a small account with 8 days of history), archives the last
7 complete days into the archive root (default `data/`) with the same Dagster jobs the UI runs,
rebuilds the DuckDB warehouse, and prints the per-day summary and two analyst queries.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta

from rc_pipeline.settings import MessageStoreSettings, PipelineSettings
from rc_pipeline.simulator import SimulatorConfig, start_simulator

EXAMPLE_QUERIES = {
    "Calls per day and direction": (
        "SELECT day, direction, sum(calls) AS calls, sum(talk_seconds) AS talk_seconds "
        "FROM mart_daily_call_volume GROUP BY ALL ORDER BY day, direction"
    ),
    "Recording coverage per day": "SELECT * FROM mart_recording_coverage ORDER BY day",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rc-pipeline demo", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7, help="complete days to archive (default 7)")
    parser.add_argument("--calls-per-day", type=int, default=60)
    parser.add_argument("--extensions", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--root",
        default="data",
        help="archive root for the demo (default data/; RC_ARCHIVE_ROOT is ignored so a demo can never "
        "write simulated days into a real archive)",
    )
    parser.add_argument(
        "--rate-limit-scale",
        type=float,
        default=0.05,
        help="simulator rate-limit windows as a fraction of RingCentral's 60 s (default 0.05: 3 s windows)",
    )
    args = parser.parse_args(argv)

    config = SimulatorConfig(
        seed=args.seed,
        extensions=args.extensions,
        calls_per_day=args.calls_per_day,
        days=args.days + 1,
        rate_limit_scale=args.rate_limit_scale,
    )
    print(
        f"Starting the embedded RingCentral simulator: {args.extensions} extensions, {args.calls_per_day} calls/day.\n"
        f"Rate-limit windows are scaled x{args.rate_limit_scale} so the demo takes minutes: with RingCentral's "
        "real limits (Heavy: 10 requests per 60 s) every recording download costs 6 s."
    )
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=args.days), today - timedelta(days=1)
    with start_simulator(config) as sim:
        from rc_pipeline.backfill import format_summary, run_archive
        from rc_pipeline.definitions import build_definitions
        from rc_pipeline.defs.resources import close_shared_clients, simulator_resources

        # Settings and resources are handed to the definitions, not read from RC_*: a real account's
        # environment must never leak into the demo (simulated days are UTC days), nor the demo into it.
        defs = build_definitions(
            demo_pipeline_settings(start),
            resources=simulator_resources(sim, args.root),
            messages=MessageStoreSettings(),
        )
        summaries = run_archive(defs, start, end)
        close_shared_clients()

    print()
    print(format_summary(summaries))
    from rc_pipeline.storage import ArchiveStorage
    from rc_pipeline.warehouse import query

    storage = ArchiveStorage(args.root)
    path = storage.warehouse_path
    print(f'\nWarehouse: {path}  (try: rc-pipeline query "SELECT * FROM calls LIMIT 5")')
    for title, sql in EXAMPLE_QUERIES.items():
        columns, rows = query(path, sql, storage)
        print(f"\n{title}:\n  {sql}")
        print(render_table(columns, rows))
    return 1 if any(s.failures for s in summaries) else 0


def demo_pipeline_settings(start: date) -> PipelineSettings:
    """The demo's partitions: UTC days from ``start`` (the simulator's days), default schedule."""
    return PipelineSettings.from_env({"RC_TIMEZONE": "UTC", "RC_START_DATE": start.isoformat()})


def render_table(columns: list[str], rows: list[tuple], limit: int = 40) -> str:
    shown = [["" if v is None else str(v) for v in row] for row in rows[:limit]]
    widths = [max([len(c), *(len(r[i]) for r in shown)]) for i, c in enumerate(columns)]
    line = lambda cells: "  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(columns), "  " + "  ".join("-" * w for w in widths), *(line(r) for r in shown)]
    if len(rows) > limit:
        out.append(f"  ... {len(rows) - limit} more rows")
    return "\n".join(out)

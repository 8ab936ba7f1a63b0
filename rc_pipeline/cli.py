"""The `rc-pipeline` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path


def _simulator(argv: list[str]) -> int:
    from rc_pipeline.simulator.__main__ import main as simulator_main

    return simulator_main(argv)


def _demo(argv: list[str]) -> int:
    from rc_pipeline.demo import main as demo_main

    return demo_main(argv)


def days_parser(command: str, description: str) -> argparse.ArgumentParser:
    """A command over an inclusive range of days (--start, --end)."""
    parser = argparse.ArgumentParser(prog=f"rc-pipeline {command}", description=description)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    return parser


def _archive(argv: list[str]) -> int:
    parser = days_parser(
        "archive",
        "Archive every day from --start to --end (inclusive), deadline first (the days whose recordings "
        "RingCentral deletes soonest first, days already past that deadline last), in this process, with "
        "the same Dagster jobs the UI runs; then snapshot the directory and refresh the warehouse. "
        "RingCentral settings come from RC_* environment variables.",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's INFO log of every step")
    parser.add_argument(
        "--full-warehouse",
        action="store_true",
        help="rebuild the warehouse from all history (default: refresh the days that changed)",
    )
    args = parser.parse_args(argv)
    from rc_pipeline.backfill import format_summary, run_archive
    from rc_pipeline.days import days_between
    from rc_pipeline.definitions import build_definitions
    from rc_pipeline.settings import Settings, ringcentral_settings

    # Fail before any run starts, naming what is wrong, rather than inside the first Dagster step.
    days_between(args.start, args.end)
    ringcentral_settings()
    settings = Settings.from_env()
    summaries = run_archive(
        build_definitions(settings.pipeline, messages=settings.messages),
        args.start,
        args.end,
        show_progress=not args.no_progress,
        log_level="INFO" if args.verbose else "WARNING",
        announce=print,
        full_warehouse=args.full_warehouse,
    )
    print(format_summary(summaries))
    return 1 if any(s.failures for s in summaries) else 0


def _verify(argv: list[str]) -> int:
    parser = days_parser(
        "verify",
        "Re-run every completeness and integrity check for each day from --start to --end, "
        "reading only the archive (no RingCentral request): counts, ids, windows, file sizes and sha256. "
        "Run it before deleting anything at the source.",
    )
    args = parser.parse_args(argv)
    from rc_pipeline.backfill import format_verification, partition_keys, run_verify
    from rc_pipeline.definitions import build_definitions

    days = partition_keys(args.start, args.end)
    text, passed = format_verification(days, run_verify(build_definitions(), days))
    print(text)
    return 0 if passed else 1


def _query(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline query", description="Run SQL against the DuckDB warehouse."
    )
    parser.add_argument("sql", help='e.g. "SELECT * FROM mart_daily_call_volume LIMIT 10"')
    parser.add_argument("--warehouse", help="path of warehouse.duckdb (default: the archive root's)")
    parser.add_argument("--limit", type=int, default=100, help="rows to print (default 100)")
    args = parser.parse_args(argv)
    import duckdb

    from rc_pipeline.defs.resources import archive_storage_from_env
    from rc_pipeline.demo import render_table
    from rc_pipeline.warehouse import query

    # The archive the views read: a remote one is reached through its own filesystem (see connect).
    storage = archive_storage_from_env()
    path = args.warehouse or storage.warehouse_path
    if not os.path.exists(path):
        print(
            f"rc-pipeline query: no warehouse at {path}; run `rc-pipeline archive` (or `make demo`) first",
            file=sys.stderr,
        )
        return 2
    try:
        columns, rows = query(path, args.sql, storage)
    except duckdb.Error as exc:
        print(f"rc-pipeline query: {exc}", file=sys.stderr)
        if "httpfs" in str(exc):
            # The views read an object store this process was not pointed at: nothing is downloaded
            # to reach it, the archive's own filesystem is used instead.
            print(
                "rc-pipeline query: the warehouse reads an archive on an object store; set RC_ARCHIVE_ROOT "
                "to that archive (and its AWS_* credentials/endpoint) so its filesystem can be used",
                file=sys.stderr,
            )
        return 2
    print(render_table(columns, rows, limit=args.limit))
    print(f"({len(rows)} rows)")
    return 0


def _warehouse(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline warehouse",
        description="Bring the DuckDB warehouse up to date with the archive: recompute the days whose "
        "partitions changed since its last build (new, re-written or removed), or all history with --full.",
    )
    parser.add_argument("--full", action="store_true", help="rebuild every mart from all history")
    args = parser.parse_args(argv)
    from rc_pipeline.defs.resources import archive_storage_from_env
    from rc_pipeline.warehouse import build_warehouse

    storage = archive_storage_from_env()
    stats = build_warehouse(storage, storage.warehouse_path, full=args.full)
    print(f"{stats.path}: {stats.describe()}")
    return 0


def _plan(argv: list[str]) -> int:
    from rc_pipeline.plan import main as plan_main

    return plan_main(argv)


def _risk(argv: list[str]) -> int:
    from rc_pipeline.risk.command import risk_command

    return risk_command(argv)


def _ui(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline ui",
        description="Start the simulator and `dg dev` (the Dagster UI) wired to it (Ctrl-C stops both).",
    )
    parser.add_argument("--port", type=int, default=3000, help="Dagster UI port (default 3000)")
    parser.add_argument("--calls-per-day", type=int, default=60)
    parser.add_argument("--days", type=int, default=30, help="days of simulated history (default 30)")
    parser.add_argument("--rate-limit-scale", type=float, default=0.1)
    args = parser.parse_args(argv)
    from datetime import UTC, datetime, timedelta

    from rc_pipeline.process_group import run_process_group
    from rc_pipeline.simulator import SimulatorConfig, start_simulator

    config = SimulatorConfig(
        calls_per_day=args.calls_per_day, days=args.days, rate_limit_scale=args.rate_limit_scale
    )
    with start_simulator(config) as sim:
        env = dict(os.environ)
        env.update(
            RC_SERVER_URL=sim.base_url,
            RC_MEDIA_URL=sim.media_url,
            RC_CLIENT_ID=sim.client_id,
            RC_CLIENT_SECRET=sim.client_secret,
            RC_JWT=sim.jwt,
        )
        env.setdefault(
            "RC_START_DATE", (datetime.now(UTC).date() - timedelta(days=args.days - 1)).isoformat()
        )
        print(
            f"Simulator at {sim.base_url} (media {sim.media_url}), rate-limit windows x{args.rate_limit_scale}."
        )
        print(f"Dagster UI: http://127.0.0.1:{args.port}  (Ctrl-C stops both)")
        # Its own process group: Ctrl-C or SIGTERM stops dg dev and everything it started (webserver,
        # daemon, code servers), then the simulator as this block ends.
        return run_process_group(dg_command("dev", "--port", str(args.port)), dg_environment(env))


def dg_command(*args: str) -> list[str]:
    """`dg` from the running interpreter's environment: no activated venv needed."""
    return [str(Path(sys.executable).with_name("dg")), *args]


def dg_environment(env: dict[str, str]) -> dict[str, str]:
    # dg compares the activated venv with the project's and warns when they differ; the interpreter
    # running this command is the one to use, activated or not.
    return {**env, "VIRTUAL_ENV": sys.prefix}


def _control(name: str) -> Callable[[list[str]], int]:
    """A control-at-the-source command, imported only when used."""

    def run(argv: list[str]) -> int:
        from rc_pipeline.control import commands

        return int(getattr(commands, f"{name}_command")(argv))

    return run


COMMANDS = {
    "simulator": (_simulator, "run the local RingCentral simulator"),
    "archive": (_archive, "archive a date range (backfill) in this process"),
    "verify": (_verify, "re-run every check of a date range against the archive alone"),
    "query": (_query, "run SQL against the DuckDB warehouse"),
    "warehouse": (_warehouse, "refresh the DuckDB warehouse for the days that changed (--full: all history)"),
    "risk": (_risk, "what RingCentral deletes within days, and whether it is archived (exit 1 if not)"),
    "plan": (_plan, "estimate a backfill's requests and least time, and whether daily archiving keeps up"),
    "demo": (_demo, "archive a simulated account end to end and query it"),
    "ui": (_ui, "start the simulator and the Dagster UI wired to it"),
    "hold": (_control("hold"), "place, list and release legal holds"),
    "purge": (_control("purge"), "delete at the source what the archive provably holds (dry run by default)"),
    "restore": (_control("restore"), "bring trashed messages back, as an audit entry names them"),
    "audit": (_control("audit"), "list or verify the audit trail of every change at the source"),
    "retention": (_control("retention"), "show RingCentral's retention and what the archive covers; set it"),
    "messages": (_control("messages"), "mark messages read or unread at the source (audited)"),
    "erase": (_control("erase"), "erase one person's messages at the source and from the archive (GDPR)"),
}


def load_dotenv_file() -> None:
    """Read `.env` from the working directory, as `dagster dev` does; real environment variables win."""
    from dotenv import load_dotenv

    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    load_dotenv_file()
    parser = argparse.ArgumentParser(
        prog="rc-pipeline",
        description="Archive RingCentral call logs, recordings and messages before retention deletes them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        parser.error(f"unknown command {command!r}")
    from rc_pipeline.ringcentral.errors import RingCentralError

    try:
        return COMMANDS[command][0](rest)
    except ValueError as exc:
        # Settings and input errors: say what was wrong, without a traceback.
        print(f"rc-pipeline {command}: {exc}", file=sys.stderr)
        return 2
    except RingCentralError as exc:
        # What RingCentral answered (a missing permission, a refused request), not a traceback.
        print(f"rc-pipeline {command}: RingCentral refused: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

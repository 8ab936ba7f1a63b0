"""`rc-pipeline risk`: what RingCentral deletes within the horizon, and whether the archive holds it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime

from rc_pipeline.control.cli_support import account_client, archive
from rc_pipeline.risk.assess import assess_risk
from rc_pipeline.risk.report import format_report, report_json
from rc_pipeline.settings import SETTINGS, PipelineSettings, read

# Exit codes: 0 nothing at risk unarchived, 1 something is (or a day of the window is not archived).
AT_RISK_EXIT = 1


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-05-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone; add Z or an offset")
    return moment


def _horizon(text: str) -> int:
    setting = SETTINGS["RC_RISK_HORIZON_DAYS"]
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not setting.low <= days <= setting.high:
        raise argparse.ArgumentTypeError(f"{days} is outside {setting.low:g}..{setting.high:g} days")
    return days


def risk_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline risk",
        description=(
            "List what RingCentral deletes within the horizon (recordings at 90 days or 30 on HIPAA "
            "accounts and beyond 100,000; voicemail beyond 200 per box; sent faxes at 30 days; fax and "
            "voicemail at the message store's retention period; SMS beyond 5,000 per folder; the call "
            "log at 12 months), per data type and extension, and how much of it the archive holds "
            "archived and verified (files re-hashed). Reads the archive and spends Light requests only "
            "(retention settings, each mailbox's message store). Exit code 0 when nothing at risk is "
            "missing from the archive, 1 when some item at risk is not archived and verified or a day of "
            "the at-risk window inside the archive's range is not archived, 2 on bad input."
        ),
    )
    parser.add_argument(
        "--horizon",
        type=_horizon,
        default=None,
        metavar="DAYS",
        help="days ahead to look (default RC_RISK_HORIZON_DAYS, 7)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument(
        "--at",
        type=_moment,
        default=None,
        metavar="TIME",
        help="assess as of this moment, ISO 8601 with a timezone (default: now)",
    )
    args = parser.parse_args(list(argv))
    horizon = args.horizon if args.horizon is not None else read("RC_RISK_HORIZON_DAYS")
    pipeline = PipelineSettings.from_env()
    with account_client() as client:
        report = assess_risk(
            archive(),
            client,
            now=args.at or datetime.now(UTC),
            horizon_days=horizon,
            tz=pipeline.timezone,
            start_date=date.fromisoformat(pipeline.start_date),
            progress=None if args.json else lambda text: print(text, file=sys.stderr),
        )
    print(json.dumps(report_json(report), indent=2, sort_keys=True) if args.json else format_report(report))
    return 0 if report.ok else AT_RISK_EXIT

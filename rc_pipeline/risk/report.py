"""A risk report as people read it (a Markdown table) and as programs read it (JSON)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from rc_pipeline.control.retention import format_days
from rc_pipeline.risk.model import RiskReport

COLUMNS = ("data type", "extension", "at risk", "archived+verified", "NOT archived", "earliest deadline")


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def table(report: RiskReport) -> str:
    """One row per data type and mailbox with something at risk, then a total row."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in report.rows():
        lines.append(
            f"| {row.data_type} | {'-' if row.extension_id is None else row.extension_id} | {row.at_risk} "
            f"| {row.archived} | {row.not_archived} | {when(row.earliest_deadline)} |"
        )
    counts = report.counts()
    lines.append(
        f"| **total** | | {counts['at_risk']} | {counts['archived_verified']} | {counts['not_archived']} "
        f"| {when(report.earliest_deadline)} |"
    )
    return "\n".join(lines)


def unknown_lines(report: RiskReport) -> list[str]:
    """The at-risk days the archive does not hold, per data type, split by before/after its first day."""
    groups: dict[tuple[str, bool], list] = defaultdict(list)
    for unknown in report.unknown_days:
        groups[unknown.data_type, unknown.before_start].append(unknown)
    lines = []
    for (data_type, before_start), days in sorted(groups.items()):
        estimates = [d.estimate for d in days if d.estimate is not None]
        estimate = (
            f"about {sum(estimates)} item(s), estimated from archived days" if estimates else "count unknown"
        )
        where = (
            "before the archive's first day (not counted as a failure)" if before_start else "NOT archived"
        )
        lines.append(
            f"- {data_type}: day(s) {format_days(d.day for d in days)} {where}; {estimate}; "
            f"deadline from {when(min(d.deadline for d in days))}"
        )
    return lines


def format_report(report: RiskReport) -> str:
    account = report.account
    period = account.retention_period_days
    head = (
        f"Retention risk from {when(report.now)} to {when(report.horizon_end)} ({report.horizon_days} day(s)); "
        f"HIPAA {'on' if account.hipaa else 'off'}, message store retention "
        f"{'unknown' if period is None else f'{period} days'}."
    )
    parts = [head, "", table(report)]
    unknown = unknown_lines(report)
    if unknown:
        parts += ["", "Days of the at-risk window the archive does not hold:", *unknown]
    requests = ", ".join(f"{n} {group}" for group, n in sorted(report.source_requests.items())) or "none"
    gone = f"; {len(report.mailboxes_gone)} gone at the source" if report.mailboxes_gone else ""
    parts += ["", f"Source reads: {requests} request(s); {report.mailboxes_listed} mailbox(es) listed{gone}."]
    parts += [f"Note: {note}." for note in report.notes]
    if report.ok:
        parts.append("OK: everything RingCentral drops within the horizon is archived and verified.")
    else:
        counts = report.counts()
        parts.append(
            f"AT RISK: {counts['not_archived']} item(s) not archived and verified"
            + (
                f", {counts['unknown_days_in_archive_range']} day(s) not archived"
                if report.failing_unknown_days
                else ""
            )
            + f"; earliest deadline {when(report.earliest_unarchived)}."
        )
    return "\n".join(parts)


def report_json(report: RiskReport) -> dict[str, Any]:
    """Everything the report says, stable keys; unarchived items listed whole (archived ones counted)."""
    return {
        "now": _iso(report.now),
        "horizon_days": report.horizon_days,
        "horizon_end": _iso(report.horizon_end),
        "hipaa": report.account.hipaa,
        "retention_period_days": report.account.retention_period_days,
        "ok": report.ok,
        "counts": report.counts(),
        "earliest_deadline": _iso(report.earliest_deadline),
        "earliest_unarchived_deadline": _iso(report.earliest_unarchived),
        "rows": [
            {
                "data_type": r.data_type,
                "extension_id": r.extension_id,
                "at_risk": r.at_risk,
                "archived_verified": r.archived,
                "not_archived": r.not_archived,
                "earliest_deadline": _iso(r.earliest_deadline),
                "earliest_unarchived_deadline": _iso(r.earliest_unarchived),
            }
            for r in report.rows()
        ],
        "unknown_days": [
            {
                "data_type": d.data_type,
                "day": d.day.isoformat(),
                "deadline": _iso(d.deadline),
                "estimate": d.estimate,
                "before_archive_start": d.before_start,
            }
            for d in report.unknown_days
        ],
        "not_archived": [
            {
                "data_type": i.data_type,
                "id": i.id,
                "extension_id": i.extension_id,
                "day": i.day.isoformat(),
                "deadline": _iso(i.deadline),
                "rule": i.rule,
                "problem": i.problem,
            }
            for i in report.unarchived
        ],
        "notes": report.notes,
        "mailboxes_listed": report.mailboxes_listed,
        "mailboxes_gone": report.mailboxes_gone,
        "source_requests": report.source_requests,
    }

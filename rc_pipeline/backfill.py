"""`rc-pipeline archive`: run the archive job for a range of days in this process.

It executes the very jobs the Dagster UI runs (same assets, same checks), one partition at a time in
order, then snapshots the directory and rebuilds the warehouse once, and reports per day.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
from tqdm import tqdm

from rc_pipeline.defs.names import CALL_LEGS, CALLS, EXTENSIONS, RECORDINGS, WAREHOUSE


@dataclass
class DaySummary:
    day: str
    calls: int = 0
    legs: int = 0
    recordings: int = 0
    bytes: int = 0
    api_requests: int = 0
    failures: list[str] = field(default_factory=list)


def days_between(start: date, end: date) -> list[str]:
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def open_instance() -> dg.DagsterInstance:
    """The DAGSTER_HOME instance when there is one (runs show up in the UI), else a throwaway one."""
    home = os.environ.get("DAGSTER_HOME")
    if home and os.path.isdir(home):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _summarise(day: str, result: dg.ExecuteInProcessResult) -> DaySummary:
    summary = DaySummary(day=day)
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        if mat.asset_key == CALLS:
            summary.calls = int(meta.get("dagster/row_count", 0))
        elif mat.asset_key == CALL_LEGS:
            summary.legs = int(meta.get("dagster/row_count", 0))
        elif mat.asset_key == RECORDINGS:
            summary.recordings = int(meta.get("dagster/row_count", 0))
            summary.bytes = int(meta.get("bytes_total", 0))
        summary.api_requests += int(meta.get("api_requests", 0) or 0)
    for failure in result.get_step_failure_events():
        summary.failures.append(
            f"{failure.step_key}: {failure.event_specific_data.error.message.strip()[:200]}"
        )
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            summary.failures.append(f"check {evaluation.check_name} failed")
    return summary


def run_archive(
    defs: dg.Definitions,
    start: date,
    end: date,
    *,
    instance: dg.DagsterInstance | None = None,
    show_progress: bool = True,
    log_level: str = "WARNING",
) -> list[DaySummary]:
    from rc_pipeline.definitions import ARCHIVE_JOB, SNAPSHOT_JOB

    days = days_between(start, end)
    instance = instance or open_instance()
    archive_job = defs.resolve_job_def(ARCHIVE_JOB)
    snapshot_job = defs.resolve_job_def(SNAPSHOT_JOB)
    # The progress bar and summary are the CLI's output; Dagster's console log shows only problems
    # unless asked (every event is still stored in the instance for the UI).
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    snapshot_job.execute_in_process(instance=instance, asset_selection=[EXTENSIONS], run_config=run_config)
    summaries: list[DaySummary] = []
    bar = tqdm(days, desc="archiving", unit="day", disable=not show_progress)
    for day in bar:
        bar.set_postfix_str(day)
        result = archive_job.execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False, run_config=run_config
        )
        summaries.append(_summarise(day, result))
    snapshot_job.execute_in_process(instance=instance, asset_selection=[WAREHOUSE], run_config=run_config)
    return summaries


def format_summary(summaries: list[DaySummary]) -> str:
    header = (
        f"{'day':<10}  {'calls':>7}  {'legs':>7}  {'recordings':>10}  {'bytes':>12}  {'API req':>7}  failures"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        lines.append(
            f"{s.day:<10}  {s.calls:>7}  {s.legs:>7}  {s.recordings:>10}  {s.bytes:>12,}  {s.api_requests:>7}  "
            f"{'; '.join(s.failures) or '-'}"
        )
    total = DaySummary(
        day="total",
        calls=sum(s.calls for s in summaries),
        legs=sum(s.legs for s in summaries),
        recordings=sum(s.recordings for s in summaries),
        bytes=sum(s.bytes for s in summaries),
        api_requests=sum(s.api_requests for s in summaries),
    )
    failed_days = sum(1 for s in summaries if s.failures)
    lines.append("-" * len(header))
    lines.append(
        f"{total.day:<10}  {total.calls:>7}  {total.legs:>7}  {total.recordings:>10}  {total.bytes:>12,}  "
        f"{total.api_requests:>7}  {failed_days} day(s) with failures"
    )
    return "\n".join(lines)

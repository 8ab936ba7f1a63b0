"""The daily schedule: yesterday's partition plus a lookback, because RingCentral edits recent records."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from .config import PipelineConfig


def partitions_to_archive(now: datetime, config: PipelineConfig) -> list[str]:
    """Yesterday (in the account's timezone) and the `lookback_days` before it, oldest first.

    Recordings attach to calls after they are first listed and records keep changing for a while, so
    re-archiving the last few days is what keeps the archive complete.
    """
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    first = date.fromisoformat(config.start_date)
    days = [today - timedelta(days=n) for n in range(config.lookback_days + 1, 0, -1)]
    return [d.isoformat() for d in days if d >= first]


def lookback_schedule(
    name: str,
    job: dg.JobDefinition | Any,
    config: PipelineConfig,
    *,
    minute: int,
    run_key_prefix: str,
    what: str,
) -> dg.ScheduleDefinition:
    """A daily schedule requesting yesterday and the lookback days before it, one run per partition."""

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=f"{minute} {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        # On as soon as the code location loads: archiving exists to beat a deletion deadline.
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"At {config.schedule_hour:02d}:{minute:02d} {config.timezone}: archive {what} of yesterday and "
            f"re-archive the {config.lookback_days} days before it."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        now = context.scheduled_execution_time
        tick = now.astimezone(ZoneInfo(config.timezone)).date().isoformat()
        keys = partitions_to_archive(now, config)
        return [
            dg.RunRequest(
                run_key=f"{run_key_prefix}{key}@{tick}",
                partition_key=key,
                tags={"rc_pipeline/scheduled_on": tick, "rc_pipeline/lookback": str(key != keys[-1]).lower()},
            )
            for key in keys
        ]

    return _schedule


def build_daily_schedule(job: dg.JobDefinition | Any, config: PipelineConfig) -> dg.ScheduleDefinition:
    return lookback_schedule("daily_archive", job, config, minute=0, run_key_prefix="", what="the call side")


def build_snapshot_schedule(job: dg.JobDefinition | Any, config: PipelineConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="daily_directory_snapshot",
        job=job,
        cron_schedule=f"30 {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Snapshot the extension directory once a day (history is kept per snapshot date).",
    )

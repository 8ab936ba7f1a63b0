"""Daily schedules over yesterday plus a lookback (RingCentral edits recent records), shared by the
call side and the message store."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.settings import PipelineSettings

# Dagster's run queue starts higher `dagster/priority` first: yesterday's capture is the one nothing
# else has archived yet, so it never waits behind the lookback days' re-archiving.
YESTERDAY_PRIORITY = 10
LOOKBACK_PRIORITY = 0


def partitions_to_archive(now: datetime, config: PipelineSettings) -> list[str]:
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
    config: PipelineSettings,
    *,
    minute: int,
    run_key_prefix: str,
    what: str,
    day_tag: str | None = None,
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
            f"re-archive the {config.lookback_days} days before it; yesterday's run has the higher "
            "dagster/priority, so it never queues behind them."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        now = context.scheduled_execution_time
        tick = now.astimezone(ZoneInfo(config.timezone)).date().isoformat()
        keys = partitions_to_archive(now, config)
        # Oldest first in the list, but the queue starts the highest priority first: yesterday.
        return [lookback_run_request(run_key_prefix, key, keys[-1], tick, day_tag) for key in keys]

    return _schedule


def lookback_run_request(
    run_key_prefix: str, key: str, yesterday: str, tick: str, day_tag: str | None = None
) -> dg.RunRequest:
    """One day of a daily schedule's tick: yesterday with the higher dagster/priority, so the day
    nothing has archived yet never queues behind re-archiving. ``day_tag`` names the day in a tag
    (a run concurrency limit per day)."""
    return dg.RunRequest(
        run_key=f"{run_key_prefix}{key}@{tick}",
        partition_key=key,
        tags={
            "rc_pipeline/scheduled_on": tick,
            "rc_pipeline/lookback": str(key != yesterday).lower(),
            "dagster/priority": str(YESTERDAY_PRIORITY if key == yesterday else LOOKBACK_PRIORITY),
            **({day_tag: key} if day_tag else {}),
        },
    )

"""The daily message-store schedule: the same days as the call archive (yesterday plus the lookback)."""

from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from .config import PipelineConfig
from .schedules import partitions_to_archive


def build_message_schedule(job: dg.JobDefinition | Any, config: PipelineConfig) -> dg.ScheduleDefinition:
    # Quarter past the call archive, so the two do not compete for the API pool at the same minute.
    @dg.schedule(
        name="daily_message_archive",
        job=job,
        cron_schedule=f"15 {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        description=(
            f"At {config.schedule_hour:02d}:15 {config.timezone}: archive yesterday's message store and "
            f"re-archive the {config.lookback_days} days before it (messages change state after arrival)."
        ),
    )
    def daily_message_archive(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        now = context.scheduled_execution_time
        tick = now.astimezone(ZoneInfo(config.timezone)).date().isoformat()
        return [
            dg.RunRequest(
                run_key=f"messages-{key}@{tick}", partition_key=key, tags={"rc_pipeline/scheduled_on": tick}
            )
            for key in partitions_to_archive(now, config)
        ]

    return daily_message_archive

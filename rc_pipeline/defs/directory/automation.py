"""The daily directory snapshot (and warehouse rebuild) schedule."""

from typing import Any

import dagster as dg

from rc_pipeline.settings import PipelineSettings

from ..names import DIRECTORY_SNAPSHOT_SCHEDULE


def build_snapshot_schedule(job: dg.JobDefinition | Any, config: PipelineSettings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=DIRECTORY_SNAPSHOT_SCHEDULE,
        job=job,
        cron_schedule=f"30 {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Snapshot the extension directory once a day (history is kept per snapshot date).",
    )

"""The daily schedule of the risk report: yesterday's partition, after the day's archive runs."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.settings import PipelineSettings

from ..names import RISK_SCHEDULE

# After the call side (:00), the message store (:15) and the control snapshot (:40).
RISK_MINUTE = 55


def build_risk_schedule(job: dg.JobDefinition | Any, config: PipelineSettings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=RISK_SCHEDULE,
        job=job,
        cron_schedule=f"{RISK_MINUTE} {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Report what RingCentral deletes next and whether the archive holds it, once a day.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(config.timezone)).date()
        key = (today - timedelta(days=1)).isoformat()
        return dg.RunRequest(run_key=f"risk-{key}", partition_key=key)

    return _schedule

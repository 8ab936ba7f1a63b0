"""The daily call-side schedule: yesterday plus the lookback days before it."""

from typing import Any

import dagster as dg

from rc_pipeline.settings import PipelineSettings

from ..lookback import lookback_schedule
from ..names import CALL_DAY_TAG, DAILY_ARCHIVE_SCHEDULE


def build_daily_schedule(job: dg.JobDefinition | Any, config: PipelineSettings) -> dg.ScheduleDefinition:
    return lookback_schedule(
        DAILY_ARCHIVE_SCHEDULE,
        job,
        config,
        minute=0,
        run_key_prefix="",
        what="the call side",
        day_tag=CALL_DAY_TAG,
    )

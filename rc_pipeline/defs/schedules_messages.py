"""The daily message-store schedule: the same days as the call archive (yesterday plus the lookback)."""

from typing import Any

import dagster as dg

from .config import PipelineConfig
from .schedules import lookback_schedule


def build_message_schedule(job: dg.JobDefinition | Any, config: PipelineConfig) -> dg.ScheduleDefinition:
    # Quarter past the call archive, so the two do not compete for the API pool at the same minute;
    # messages change state after arrival, hence the same lookback.
    return lookback_schedule(
        "daily_message_archive", job, config, minute=15, run_key_prefix="messages-", what="the message store"
    )

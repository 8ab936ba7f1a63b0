"""The one daily partitioning of the archive, in the account's timezone."""

from __future__ import annotations

from datetime import date

import dagster as dg

from rc_pipeline.days import DayWindow
from rc_pipeline.settings import PipelineSettings


def daily_partitions(config: PipelineSettings) -> dg.DailyPartitionsDefinition:
    # end_offset=0: today's partition opens only after the day ends (calls keep arriving until then).
    return dg.DailyPartitionsDefinition(start_date=config.start_date, timezone=config.timezone, end_offset=0)


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> DayWindow:
    # The time window comes from Dagster's partition definition in the configured timezone; string
    # dates would make every DST day 24 h and lose or double an hour of calls.
    window = context.partition_time_window
    return DayWindow(day=date.fromisoformat(context.partition_key), start=window.start, end=window.end)

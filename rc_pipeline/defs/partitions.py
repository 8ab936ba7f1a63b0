"""The one daily partitioning of the archive, in the account's timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg

from rc_pipeline.settings import PipelineSettings


def daily_partitions(config: PipelineSettings) -> dg.DailyPartitionsDefinition:
    # end_offset=0: today's partition opens only after the day ends (calls keep arriving until then).
    return dg.DailyPartitionsDefinition(start_date=config.start_date, timezone=config.timezone, end_offset=0)


@dataclass(frozen=True)
class PartitionWindow:
    """A partition's day and its absolute [start, end) window (23 h or 25 h on DST days)."""

    day: date
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        # Python subtracts two datetimes sharing a tzinfo by wall clock (always 24 h); compare instants.
        return (self.end.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds() / 3600


def partition_window(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> PartitionWindow:
    # The time window comes from Dagster's partition definition in the configured timezone; string
    # dates would make every DST day 24 h and lose or double an hour of calls.
    window = context.partition_time_window
    return PartitionWindow(day=date.fromisoformat(context.partition_key), start=window.start, end=window.end)

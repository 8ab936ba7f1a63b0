"""Days as the archive partitions them: a calendar day in the account's timezone, as an absolute
[start, end) window (23 or 25 hours on DST days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class DayWindow:
    """A partition's day and its absolute [start, end) window."""

    day: date
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        # Python subtracts two datetimes sharing a tzinfo by wall clock (always 24 h); compare instants.
        return (self.end.astimezone(UTC) - self.start.astimezone(UTC)).total_seconds() / 3600


def day_window(day: date, timezone: str) -> DayWindow:
    """The window of a calendar day in ``timezone``."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tz)
    return DayWindow(day, start.astimezone(UTC), end.astimezone(UTC))


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end`` inclusive; ValueError naming both when end is before start."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]

"""Loss forecast: how many recordings RingCentral deletes before the archive reaches them.

RingCentral deletes an automatic recording ``deadline_days`` after its call started (90 days, 30 on
HIPAA accounts) and, beyond 100,000 recordings per account, the oldest first. The archive downloads
at most a budget of recordings a day (the Heavy requests the plan leaves for them). When the budget is
smaller than the volume, some recordings are deleted before their turn; which ones depends on the
order the archive works in.

The forecast is a day-by-day simulation, exact for whole numbers: every run day first loses the
recordings whose deadline has passed, then spends its budget on the waiting recordings in the given
order. Runs happen early in the day (the schedule archives yesterday at night): recordings of call
day ``d`` can be downloaded on run days ``d + 1`` .. ``d + deadline_days`` and are deleted during day
``d + deadline_days`` (each at its call's time of day), after that day's run. Deadline-first (earliest deadline first,
skipping the ones already gone) saves the most recordings any order can save with the same budgets
(unit-size work with release days and deadlines, served greedily by deadline, is optimal); newest
first is the order of a job that starts with yesterday and works backwards.

The deletion rules themselves (deadlines, limits) are `rc_pipeline.risk.rules`. No Dagster here:
`rc-pipeline plan`, the recordings asset and the benchmarks import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from rc_pipeline.risk.rules import RECORDINGS_ACCOUNT_LIMIT

# service-info lists this feature, enabled, on a HIPAA account (recordings kept 30 days, not 90).
HIPAA_FEATURE = "HipaaCompliance"

# Daily running is simulated until its loss per day is steady, but never longer than this (a volume a
# hair above the budget takes years to lose its first recording).
MAX_DAILY_SPAN = 3 * 365

DEADLINE_FIRST = "deadline"
NEWEST_FIRST = "newest"
ORDERS = (DEADLINE_FIRST, NEWEST_FIRST)


def is_hipaa(service_info: Mapping[str, Any]) -> bool:
    """Whether service-info lists the HipaaCompliance feature as enabled."""
    features = service_info.get("serviceFeatures") or []
    return any(
        isinstance(f, Mapping) and f.get("featureName") == HIPAA_FEATURE and f.get("enabled") is True
        for f in features
    )


def effective_deadline_days(
    deadline_days: int, recordings_per_day: float, account_limit: float = RECORDINGS_ACCOUNT_LIMIT
) -> int:
    """Days a recording survives on this account: the time limit, or fewer when the account cap is
    reached first (with ``recordings_per_day`` new ones a day the cap holds ``limit / rate`` days)."""
    if recordings_per_day <= 0 or math.isinf(account_limit):
        return deadline_days
    return max(1, min(deadline_days, math.floor(account_limit / recordings_per_day)))


@dataclass(frozen=True)
class LossForecast:
    """What a run of days does to the recordings of ``arrivals`` (call day -> recordings)."""

    order: str
    budget_per_day: int | None
    deadline_days: int
    first_run: date
    total: int
    saved: int
    # Deleted before the archive reached them, by call day (days with no loss left out).
    lost_by_day: dict[date, int] = field(default_factory=dict)
    # Still waiting when the simulation stopped at ``last_run`` (neither saved nor lost yet).
    pending: int = 0
    # The day RingCentral first deletes recordings the archive has not reached (after that day's run).
    first_loss: date | None = None
    # The last run day that downloaded anything.
    last_download: date | None = None

    @property
    def lost(self) -> int:
        return sum(self.lost_by_day.values())

    def lost_between(self, first: date, last: date) -> int:
        """Lost recordings of the call days ``first``..``last``."""
        return sum(n for day, n in self.lost_by_day.items() if first <= day <= last)

    def to_json(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "budget_per_day": self.budget_per_day,
            "deadline_days": self.deadline_days,
            "first_run": self.first_run.isoformat(),
            "total": self.total,
            "saved": self.saved,
            "lost": self.lost,
            "pending": self.pending,
            "first_loss": self.first_loss.isoformat() if self.first_loss else None,
            "last_download": self.last_download.isoformat() if self.last_download else None,
            "lost_by_day": {d.isoformat(): n for d, n in sorted(self.lost_by_day.items())},
        }


def simulate_loss(
    arrivals: Mapping[date, int],
    *,
    first_run: date,
    budget_per_day: int | None,
    deadline_days: int,
    order: str = DEADLINE_FIRST,
    overhead: int = 0,
    last_run: date | None = None,
) -> LossForecast:
    """Run the days from ``first_run`` and count what is saved and what RingCentral deletes first.

    ``arrivals`` maps a call day to its number of recordings; ``budget_per_day`` is how many a run
    day may download (None: unlimited); ``overhead`` requests come out of the first days' budgets
    before any recording (a backfill's call-log pages and exports). Without ``last_run`` the days
    run until every recording is saved or lost.
    """
    if order not in ORDERS:
        raise ValueError(f"order {order!r} is not one of {ORDERS}")
    if deadline_days < 1:
        raise ValueError(f"deadline_days must be at least 1, got {deadline_days}")
    if budget_per_day is not None and budget_per_day < 0:
        raise ValueError(f"budget_per_day must not be negative, got {budget_per_day}")
    waiting = {day: int(n) for day, n in arrivals.items() if n > 0}
    total = sum(waiting.values())
    lost: dict[date, int] = {}
    saved, first_loss, last_download = 0, None, None
    owed = max(0, int(overhead))
    end = last_run or (max(waiting) + timedelta(days=deadline_days + 1) if waiting else first_run)
    day = first_run
    while day <= end and waiting:
        # What RingCentral deleted since the last run: call days whose deadline day has passed.
        for call_day in sorted(d for d in waiting if d + timedelta(days=deadline_days) < day):
            lost[call_day] = lost.get(call_day, 0) + waiting.pop(call_day)
            first_loss = first_loss or call_day + timedelta(days=deadline_days)
        budget = math.inf if budget_per_day is None else budget_per_day
        paid = min(owed, budget)
        owed -= int(paid)
        budget -= paid
        ready = sorted((d for d in waiting if d < day), reverse=order == NEWEST_FIRST)
        for call_day in ready:
            if budget <= 0:
                break
            take = int(min(budget, waiting[call_day]))
            waiting[call_day] -= take
            budget -= take
            saved += take
            last_download = day
            if not waiting[call_day]:
                del waiting[call_day]
        day += timedelta(days=1)
    # Deleted during the last run day, after its run: lost too (what a run after it would find gone).
    for call_day in sorted(d for d in waiting if d + timedelta(days=deadline_days) <= end):
        lost[call_day] = lost.get(call_day, 0) + waiting.pop(call_day)
        first_loss = first_loss or call_day + timedelta(days=deadline_days)
    return LossForecast(
        order=order,
        budget_per_day=budget_per_day,
        deadline_days=deadline_days,
        first_run=first_run,
        total=total,
        saved=saved,
        lost_by_day=lost,
        pending=sum(waiting.values()),
        first_loss=first_loss,
        last_download=last_download,
    )


@dataclass(frozen=True)
class RecordingForecast:
    """The plan's forecast: a backfill of [start, end] started on ``today`` with the daily runs
    beside it, and daily running alone once caught up."""

    recordings_per_day: int
    budget_per_day: int
    deadline_days: int
    # RingCentral's time limit (90 or 30 days); ``deadline_days`` is shorter when the account cap
    # (100,000) fills first.
    time_limit_days: int
    # Already past their deadline on ``today``: gone before any run, whatever the order.
    already_deleted: int
    backfill: LossForecast
    backfill_newest_first: LossForecast
    daily: LossForecast
    start: date
    end: date

    @property
    def backfill_lost(self) -> int:
        return self.backfill.lost_between(self.start, self.end)

    @property
    def new_days_lost(self) -> int:
        """Recordings of the days after the range lost while the backfill works (deadline first)."""
        return self.backfill.lost - self.backfill_lost

    @property
    def backfill_lost_newest_first(self) -> int:
        return self.backfill_newest_first.lost_between(self.start, self.end)

    @property
    def daily_lost_per_day(self) -> int:
        """Recordings lost each day once daily running is in its steady state."""
        if not self.daily.lost_by_day:
            return 0
        return self.daily.lost_by_day[max(self.daily.lost_by_day)]

    def to_json(self) -> dict[str, Any]:
        return {
            "recordings_per_day": self.recordings_per_day,
            "budget_per_day": self.budget_per_day,
            "deadline_days": self.deadline_days,
            "time_limit_days": self.time_limit_days,
            "already_deleted": self.already_deleted,
            "backfill_lost": self.backfill_lost,
            "new_days_lost_during_backfill": self.new_days_lost,
            "backfill_lost_newest_first": self.backfill_lost_newest_first,
            "backfill_first_loss": self.backfill.first_loss.isoformat() if self.backfill.first_loss else None,
            "daily_lost_per_day": self.daily_lost_per_day,
            "daily_first_loss": self.daily.first_loss.isoformat() if self.daily.first_loss else None,
        }


def forecast_recordings(
    *,
    start: date,
    end: date,
    today: date,
    recordings_per_day: float,
    budget_per_day: int,
    deadline_days: int,
    backfill_overhead: int = 0,
    account_limit: float = RECORDINGS_ACCOUNT_LIMIT,
) -> RecordingForecast:
    """Forecast the loss of backfilling [start, end] from ``today`` and of daily running.

    The backfill competes with the daily runs for the same budget: the new days (from yesterday on)
    arrive while it works. Daily running alone is simulated long enough to reach its steady loss per
    day (the backlog fills first).
    """
    per_day = round(recordings_per_day)
    days = effective_deadline_days(deadline_days, recordings_per_day, account_limit)
    # Call days whose deadline day is before today: deleted before the first run.
    gone = (today - timedelta(days=days + 1)) if per_day else start
    range_days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    alive = {d: per_day for d in range_days if d > gone}
    already = per_day * sum(1 for d in range_days if d <= gone)
    horizon = max(end, today) + timedelta(days=days + 1)
    new_days = {
        today - timedelta(days=1) + timedelta(days=n): per_day
        for n in range((horizon - today).days + 1)
        if today - timedelta(days=1) + timedelta(days=n) > end
    }
    kw = dict(first_run=today, budget_per_day=budget_per_day, deadline_days=days, last_run=horizon)
    backfill = simulate_loss({**alive, **new_days}, overhead=backfill_overhead, **kw)
    newest = simulate_loss({**alive, **new_days}, overhead=backfill_overhead, order=NEWEST_FIRST, **kw)
    # Daily running from an empty backlog: it grows by (volume - budget) a day and the first loss comes
    # once it holds a deadline's worth of budget, then the loss per day is steady.
    span = 2 * days + 1
    if per_day > budget_per_day:
        span += math.ceil(days * budget_per_day / (per_day - budget_per_day))
    span = min(span, MAX_DAILY_SPAN)
    daily_days = {today - timedelta(days=1) + timedelta(days=n): per_day for n in range(span + 1)}
    daily = simulate_loss(
        daily_days,
        first_run=today,
        budget_per_day=budget_per_day,
        deadline_days=days,
        last_run=today + timedelta(days=span),
    )
    return RecordingForecast(
        recordings_per_day=per_day,
        budget_per_day=budget_per_day,
        deadline_days=days,
        time_limit_days=deadline_days,
        already_deleted=already,
        backfill=backfill,
        backfill_newest_first=newest,
        daily=daily,
        start=start,
        end=end,
    )

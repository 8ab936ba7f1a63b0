"""Recordings and call log records at risk, from the archived call days (the source's are Heavy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rc_pipeline.days import DayWindow, day_window, days_between
from rc_pipeline.risk import rules
from rc_pipeline.risk.lookup import ArchiveLookup
from rc_pipeline.risk.model import AtRisk, RiskReport, UnknownDay
from rc_pipeline.risk.rules import count_deadlines
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.recordings import has_deadline, recordings_referenced

# An unknown day's items are estimated from the archived days of its window, else from this many of
# the archive's latest days.
ESTIMATE_DAYS = 7


@dataclass(frozen=True)
class ArchivedCall:
    id: str
    start: datetime
    extension_id: int | None


@dataclass(frozen=True)
class CallDay:
    """An archived day of calls: each call, and each recording with its call's start and owner."""

    calls: list[ArchivedCall]
    recordings: list[tuple[str, ArchivedCall, int | None]]

    @classmethod
    def read(cls, storage: ArchiveStorage, window: DayWindow) -> CallDay:
        calls_table = storage.read_parquet(Dataset.CALLS, window.day)
        legs = storage.read_parquet(Dataset.CALL_LEGS, window.day)
        calls = {
            r["id"]: ArchivedCall(r["id"], r["start_time"] or window.start, r["extension_id"])
            for r in calls_table.select(["id", "start_time", "extension_id"]).to_pylist()
        }
        by_leg = {
            (r["call_id"], r["leg_index"]): r["extension_id"]
            for r in legs.select(["call_id", "leg_index", "extension_id"]).to_pylist()
        }
        recordings = []
        for ref in recordings_referenced(calls_table, legs):
            if not has_deadline(ref):
                continue  # on-demand recordings: no time limit deletes them (API notes, retention)
            call = calls.get(ref.call_id)
            if call is None:
                continue  # an orphan leg: the day's own check reports it
            owner = call.extension_id if ref.leg_index is None else by_leg.get((ref.call_id, ref.leg_index))
            recordings.append((ref.recording_id, call, owner))
        return cls(list(calls.values()), recordings)


def _window_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    """The archive days (in ``zone``) that hold some instant of [start, end)."""
    return days_between(
        start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
    )


def _estimate(counts: Sequence[int]) -> int | None:
    return round(sum(counts) / len(counts)) if counts else None


class CallSide:
    """Recordings and call log records at risk, from the archived call days."""

    def __init__(self, report: RiskReport, storage: ArchiveStorage, lookup: ArchiveLookup, tz: str,
                 start_date: date | None) -> None:  # fmt: skip
        self.report, self.storage, self.lookup, self.tz = report, storage, lookup, tz
        self.zone = ZoneInfo(tz)
        self.start_date = start_date
        self.archived_days = set(storage.list_partitions(Dataset.CALLS))
        self._days: dict[date, CallDay] = {}
        # Where each recording the account limit pushes out was archived: (day, mailbox).
        self._located: dict[str, tuple[date, int | None]] = {}

    def day(self, day: date) -> CallDay:
        if day not in self._days:
            self._days[day] = CallDay.read(self.storage, day_window(day, self.tz))
        return self._days[day]

    def _unknown(self, data_type: str, days: list[date], retention: timedelta, estimate: int | None) -> None:
        for day in days:
            deadline = max(self.report.now, day_window(day, self.tz).start + retention)
            before = self.start_date is not None and day < self.start_date
            self.report.unknown_days.append(UnknownDay(data_type, day, deadline, estimate, before))

    def assess(self, data_type: str, retention_days: int, limit: int | None = None) -> None:
        """Items of ``data_type`` (recording or call_log) whose deadline falls in [now, now + horizon)."""
        report = self.report
        retention = timedelta(days=retention_days)
        first, last = report.now - retention, report.horizon_end - retention
        window = _window_days(first, last, self.zone)
        by_count: dict[str, datetime] = {}
        if limit is not None:
            by_count = self._over_count_limit(first, limit)
        counts, unknown = [], []
        for day in window:
            if day not in self.archived_days:
                unknown.append(day)
                continue
            entries = self._entries(data_type, self.day(day))
            counts.append(len(entries))
            for key, call, extension_id in entries:
                deadline, rule = call.start + retention, "time"
                pushed_out = by_count.pop(key, None)
                if pushed_out is not None and pushed_out < deadline:
                    deadline, rule = pushed_out, "count"
                if report.now <= deadline < report.horizon_end:
                    self._add(data_type, key, extension_id, day, deadline, rule)
        for key, deadline in by_count.items():
            # Beyond the count limit, from days older than the time window.
            if deadline < report.horizon_end:
                day, extension_id = self._located[key]
                self._add(data_type, key, extension_id, day, deadline, "count")
        if unknown and not counts:
            # Nothing archived in the window to go by: the archive's latest days instead.
            recent = sorted(self.archived_days)[-ESTIMATE_DAYS:]
            counts = [len(self._entries(data_type, self.day(d))) for d in recent]
        self._unknown(data_type, unknown, retention, _estimate(counts))

    def _entries(self, data_type: str, day: CallDay) -> list[tuple[str, ArchivedCall, int | None]]:
        if data_type == rules.RECORDING:
            return day.recordings
        return [(c.id, c, c.extension_id) for c in day.calls]

    def _add(self, data_type: str, key: str, extension_id: int | None, day: date, deadline: datetime,
             rule: str) -> None:  # fmt: skip
        problem = self.lookup.recording_problem(day, key) if data_type == rules.RECORDING else None
        self.report.items.append(AtRisk(data_type, key, extension_id, day, deadline, problem, rule))

    def _over_count_limit(self, first: datetime, limit: int) -> dict[str, datetime]:
        """Recordings the account limit pushes out (oldest first), from every archived day still kept."""
        today = self.report.now.astimezone(self.zone).date()
        box = []
        for day in sorted(d for d in self.archived_days if first.astimezone(self.zone).date() <= d <= today):
            for key, call, extension_id in self.day(day).recordings:
                if call.start >= first:
                    box.append((call.start, key))
                    self._located[key] = (day, extension_id)
        return count_deadlines(box, limit, self.report.now, self.report.horizon_days)

"""Late changes and new calls without re-listing whole days: `call-log-extract-sync` into a raw capture layer.

RingCentral lists call records by *modification* time through extract-sync (up to 1,000 a request,
Heavy). A pass starts with FSync from the start of the lookback the first time, then issues ISync with
the stored token while `syncInfo.newerRecordsExist` says more is waiting; a "full sync required"
answer (CLG-101..105, `SyncRequired`) starts a new FSync from the last successful sync. Every answer is
kept as received under each day its records started (``raw/call_log_changes/date=D/``), then the new
token is stored: a crash in between re-fetches the same changes next time, which the tables absorb
(the newest `lastModifiedTime` of each call wins, as with a superseded listing).

A day's `calls` and `call_legs` are built from the day's listed pages plus every captured record that
started inside the day's window (`rc_pipeline.calls.captured`), so re-materialising a changed day is a rebuild from
raw, with no call-log listing request; and a call captured within minutes stays archived even if
RingCentral deletes it before the day is listed. No Dagster here: the sensor, the benchmarks and the
tests run the same code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rc_pipeline.days import day_window
from rc_pipeline.ringcentral.errors import SyncRequired
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.transform.columns import parse_iso

# FSyncs one pass may start (the first, and one after a "full sync required"): a token refused again right
# after a fresh FSync is a fault to surface, not to loop on.
MAX_FULL_SYNCS_PER_PASS = 2
RESYNC_OVERLAP = timedelta(minutes=1)
# How far back a forced FSync may start: RingCentral's sync endpoints refuse a `dateFrom` older than
# 30 days (API notes, call log), so a token that expired after a long outage restarts at the edge (a
# day's margin); days older than that are covered by their listings, not by the sync.
OLDEST_RESYNC = timedelta(days=29)
# Records per FSync answer: RingCentral's maximum (the default is 250), so a pass costs as few Heavy
# requests as the number of changes allows; ISync answers keep the FSync's size.
FSYNC_RECORD_COUNT = 1000


@dataclass(frozen=True)
class SyncState:
    """What the next pass continues from; kept in the archive (``state/call_log_sync.json``)."""

    sync_token: str | None = None
    # syncTime of the newest answer.
    sync_time: str | None = None
    # Where a forced FSync starts again: the syncTime of a pass that finished, or the newest
    # lastModifiedTime received while newer records were still waiting (those are not all before syncTime).
    resume_from: str | None = None
    full_syncs: int = 0
    # Answers kept so far: numbers the capture files, so two answers never share a name.
    answers: int = 0
    updated_at: str | None = None

    @staticmethod
    def load(storage: ArchiveStorage) -> SyncState:
        try:
            value = storage.read_json(storage.call_log_sync_state_path())
        except FileNotFoundError:
            return SyncState()
        if not isinstance(value, dict):
            raise ValueError(f"{storage.call_log_sync_state_path()} is not a JSON object")
        known = set(SyncState.__dataclass_fields__)
        return SyncState(**{k: v for k, v in value.items() if k in known})

    def save(self, storage: ArchiveStorage) -> None:
        storage.write_json(storage.call_log_sync_state_path(), asdict(self))


@dataclass
class ChangesResult:
    """What one pass captured."""

    changed_days: set[date] = field(default_factory=set)
    answers: int = 0
    records: int = 0
    full_syncs: int = 0
    # False when the pass stopped at its time budget with newer records still waiting at RingCentral.
    complete: bool = True
    sync_token: str | None = None
    records_by_day: dict[date, int] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            "changed_days": sorted(d.isoformat() for d in self.changed_days),
            "answers": self.answers,
            "records": self.records,
            "full_syncs": self.full_syncs,
            "complete": self.complete,
        }


def record_day(record: dict[str, Any], tz: ZoneInfo) -> date | None:
    """The partition day a call record belongs to: its `startTime` in the archive's timezone."""
    started = parse_iso(record.get("startTime"))
    return started.astimezone(tz).date() if started is not None else None


def lookback_start(now: datetime, timezone: str, lookback_days: int) -> datetime:
    """Start of the oldest day the daily schedule still re-lists: where the first FSync begins."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    return day_window(today - timedelta(days=lookback_days + 1), timezone).start


def _answer(client: Any, **kwargs: Any) -> tuple[bytes, dict[str, Any]]:
    """One extract-sync answer as (bytes as received, parsed body)."""
    page = client.extract_sync_call_log_page(**kwargs)
    return page.raw, page.body


def capture_call_changes(
    client: Any,
    storage: ArchiveStorage,
    *,
    timezone: str,
    lookback_days: int,
    now: datetime | None = None,
    budget_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
) -> ChangesResult:
    """Run one extract-sync pass: store each answer as received, keep the token, return the changed days.

    ``now`` places the first FSync (the start of the lookback before it); ``budget_seconds`` stops a
    long pass between answers (the token is stored after each, so the next pass carries on).
    """
    say = log or (lambda _m: None)
    tz = ZoneInfo(timezone)
    started = time.monotonic()
    state = SyncState.load(storage)
    result = ChangesResult()
    moment = now or datetime.now(UTC)
    token = state.sync_token
    sync_type = "ISync" if token else "FSync"
    date_from = None if token else lookback_start(moment, timezone, lookback_days)
    while True:
        try:
            if sync_type == "FSync":
                say(f"extract-sync: FSync from {date_from.isoformat() if date_from else 'the default'}")
                raw, body = _answer(
                    client, sync_type="FSync", date_from=date_from, record_count=FSYNC_RECORD_COUNT
                )
                result.full_syncs += 1
            else:
                raw, body = _answer(client, sync_type="ISync", sync_token=token)
        except SyncRequired as exc:
            if sync_type == "FSync" or result.full_syncs >= MAX_FULL_SYNCS_PER_PASS:
                raise
            # The token is no longer accepted: start again from the last answer we have (or the lookback).
            resume = parse_iso(state.resume_from) or lookback_start(moment, timezone, lookback_days)
            # A minute's overlap: a record twice is absorbed by the tables, a record missed is lost.
            resume -= RESYNC_OVERLAP
            if resume < moment - OLDEST_RESYNC:
                say(
                    f"extract-sync: {resume.isoformat()} is beyond the sync's 30 days; FSync from 29 days ago"
                )
                resume = moment - OLDEST_RESYNC
            say(f"extract-sync: full sync required ({exc}); FSync again from {resume.isoformat()}")
            sync_type, token, date_from = "FSync", None, resume
            continue
        sync_info = body.get("syncInfo") or {}
        records = [r for r in body.get("records") or [] if isinstance(r, dict)]
        days = {d for d in (record_day(r, tz) for r in records) if d is not None}
        captured_at = parse_iso(sync_info.get("syncTime")) or datetime.now(UTC)
        if not days:
            # Kept all the same (every answer is part of the record), under the day it was taken.
            days = {captured_at.astimezone(tz).date()}
        storage.write_call_changes(days, raw, captured_at, state.answers)
        for record in records:
            day = record_day(record, tz)
            if day is not None:
                result.records_by_day[day] = result.records_by_day.get(day, 0) + 1
        if records:
            result.changed_days |= {d for d in days if d in result.records_by_day}
        result.records += len(records)
        result.answers += 1
        token = sync_info.get("syncToken")
        if not token:
            raise ValueError("extract-sync answered without syncInfo.syncToken; nothing stored as synced")
        newest = max((t for t in (parse_iso(r.get("lastModifiedTime")) for r in records) if t), default=None)
        if sync_info.get("newerRecordsExist"):
            resume_from = newest.isoformat() if newest else state.resume_from
        else:
            resume_from = sync_info.get("syncTime") or state.resume_from
        state = SyncState(
            sync_token=token,
            sync_time=sync_info.get("syncTime") or state.sync_time,
            resume_from=resume_from,
            full_syncs=state.full_syncs + (1 if sync_type == "FSync" else 0),
            answers=state.answers + 1,
            updated_at=datetime.now(UTC).isoformat(),
        )
        state.save(storage)
        say(f"extract-sync: {sync_type} answer with {len(records)} record(s)")
        if not sync_info.get("newerRecordsExist"):
            break
        sync_type = "ISync"
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            result.complete = False
            break
    result.sync_token = token
    return result

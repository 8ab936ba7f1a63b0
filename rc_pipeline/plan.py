"""Capacity planning: how many requests a backfill needs, how long it must take, and whether daily
archiving keeps up, from the account's own volume and the rate limits it announces.

The arithmetic is the one the benchmarks hold the pipeline to (`bench/`): an archived day costs
``max(1, ceil(calls / 1000))`` call-log pages (perPage=1000), one request per recording, and one
message-store export (create, at least one status poll, the archive list, at least one archive part);
a directory snapshot costs ``ceil(extensions / 1000)`` extension pages; a run logs in once. Every
group has its own sliding window, so the least time a workload can take is the slowest group's.

Measuring the volume is cheap on purpose: RingCentral's call log does not always report totals, so a
few sample days are read (at most ``max_pages_per_day`` Heavy requests each) and a day that has more
pages than that is extrapolated from the span of the day its pages covered (the call log lists
newest first). No Dagster here: `rc-pipeline plan` and the benchmarks import it directly.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rc_pipeline.days import day_window
from rc_pipeline.forecast import (
    RecordingForecast,
    forecast_recordings,
    is_hipaa,
)
from rc_pipeline.ringcentral.paging import MAX_PER_PAGE
from rc_pipeline.ringcentral.throttle import DEFAULT_LIMITS, floor_seconds
from rc_pipeline.risk.rules import (
    FAX_RECEIVED,
    FAX_SENT,
    RECORDING_RETENTION_DAYS,
    VOICEMAIL,
    AccountRetention,
    recording_retention_days,
)
from rc_pipeline.transform.columns import parse_iso
from rc_pipeline.transform.messages import attachments_of

DAY_SECONDS = 86_400.0
# Requests of one message-store export task when it goes as well as it can: create, one status poll
# that finds it Completed, the archive list, archive 0 (the message JSON). Attachment archives add one
# each; a task that is not done at the first poll adds polls.
EXPORT_REQUESTS_PER_TASK = 4
# call-log-extract-sync answers hold up to 1,000 records (FSync recordCount; ISync as RingCentral sizes them).
SYNC_RECORDS_PER_ANSWER = 1000
GROUPS = ("Heavy", "Medium", "Light", "Auth")


# ---------------------------------------------------------------------------------------- arithmetic


def call_log_pages(records: float) -> int:
    """Pages (perPage=1000) needed to list ``records`` calls of one day: an empty day still costs one."""
    return max(1, math.ceil(records / MAX_PER_PAGE - 1e-9))


def change_sync_requests_per_day(
    calls_per_day: float, recordings_per_day: float, capture_minutes: int | None
) -> int:
    """Heavy requests a day of call-log-extract-sync passes: one a day by default, one every
    ``capture_minutes`` with capture on. A pass costs one answer per 1,000 records (at least one, even
    when nothing changed); a day's records are each call once, plus once more for a recording attached
    after the call was first seen."""
    passes = math.ceil(1440 / capture_minutes) if capture_minutes else 1
    per_pass = (calls_per_day + recordings_per_day) / passes
    return passes * max(1, math.ceil(per_pass / SYNC_RECORDS_PER_ANSWER - 1e-9))


def active_call_requests_per_day(seconds: float | None) -> int:
    """Heavy requests a day of active-call snapshots (one each); 0 when off."""
    return math.ceil(DAY_SECONDS / seconds) if seconds else 0


def extension_pages(extensions: int) -> int:
    return max(1, math.ceil(extensions / MAX_PER_PAGE))


def sustained_seconds(requests: float, limit: int, window: float) -> float:
    """Time ``requests`` occupy at the group's sustained rate (requests / limit x window)."""
    return requests / limit * window if requests > 0 else 0.0


@dataclass(frozen=True)
class GroupLimit:
    limit: int
    window: float
    announced: bool = False

    def describe(self) -> str:
        return f"{self.limit}/{self.window:g} s" + ("" if self.announced else " (RingCentral default)")


@dataclass(frozen=True)
class Volume:
    """What the account holds for the planned range, measured or estimated."""

    days: int
    calls_per_day: float
    recordings_per_day: float
    extensions: int
    sampled_days: int = 0
    estimated: bool = False
    requests_used: dict[str, int] = field(default_factory=dict)
    # Automatic recordings a day: the ones RingCentral's time limit deletes (None: all of them).
    automatic_recordings_per_day: float | None = None
    # Listing path: message attachments a day (one Medium request each), and those of faxes and
    # voicemail, which a time limit deletes (None: not measured).
    attachments_per_day: float | None = None
    deadline_attachments_per_day: float | None = None


@dataclass(frozen=True)
class GroupNeed:
    group: str
    requests: int
    limit: int
    window: float
    min_seconds: float


@dataclass(frozen=True)
class Plan:
    start: date
    end: date
    timezone: str
    volume: Volume
    limits: dict[str, GroupLimit]
    lookback_days: int
    include_messages: bool
    backfill: list[GroupNeed]
    backfill_breakdown: dict[str, int]
    daily: list[GroupNeed]
    daily_breakdown: dict[str, int]
    capture_minutes: int | None = None
    active_calls_seconds: float | None = None
    # What RingCentral deletes before the archive reaches it (None: no run day given to forecast from).
    forecast: RecordingForecast | None = None
    # Listing path: the same forecast for fax and voicemail attachments on the Medium budget.
    attachment_forecast: RecordingForecast | None = None
    capture: CaptureCost | None = None

    @property
    def backfill_seconds(self) -> float:
        return max((g.min_seconds for g in self.backfill), default=0.0)

    @property
    def daily_seconds(self) -> float:
        return max((g.min_seconds for g in self.daily), default=0.0)

    @property
    def keeps_up(self) -> bool:
        return self.daily_seconds <= DAY_SECONDS

    @property
    def bottleneck(self) -> str:
        return max(self.daily, key=lambda g: g.min_seconds).group if self.daily else "Heavy"

    def max_recordings_per_day(self) -> int:
        """Recordings a day can add before the Heavy budget no longer fits in 24 hours."""
        heavy = self.limits["Heavy"]
        per_day = heavy.limit * DAY_SECONDS / heavy.window
        other = sum(
            self.daily_breakdown.get(kind, 0)
            for kind in ("call_log_pages", "export_requests", "change_sync", "active_calls")
        )
        return max(0, int(per_day - other))

    def max_attachments_per_day(self) -> int:
        """Attachments a day can download on the listing path: the Medium budget (one request each)
        less the directory snapshot's extension pages."""
        medium = self.limits["Medium"]
        return max(
            0, int(medium.limit * DAY_SECONDS / medium.window) - self.daily_breakdown["extension_pages"]
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            backfill_seconds=self.backfill_seconds,
            daily_seconds=self.daily_seconds,
            keeps_up=self.keeps_up,
            bottleneck=self.bottleneck,
            max_recordings_per_day=self.max_recordings_per_day(),
            forecast=self.forecast.to_json() if self.forecast else None,
            attachment_forecast=self.attachment_forecast.to_json() if self.attachment_forecast else None,
        )
        return out


def workload(
    days: int,
    calls_per_day: float,
    recordings_per_day: float,
    extensions: int,
    *,
    include_messages: bool = True,
    snapshots: int = 1,
    logins: int = 1,
) -> dict[str, int]:
    """Least requests to archive ``days`` days of this volume, by kind."""
    pages = days * call_log_pages(calls_per_day) if days else 0
    return {
        "call_log_pages": pages,
        "recordings": round(days * recordings_per_day),
        "export_requests": days * EXPORT_REQUESTS_PER_TASK if include_messages else 0,
        "extension_pages": snapshots * extension_pages(extensions),
        "logins": logins,
    }


@dataclass(frozen=True)
class CaptureCost:
    """What capturing messages through message-sync costs (Light), at the configured cadence.

    Each capture asks every extension's message-sync once (more when a mailbox changed a lot); with
    `RC_CAPTURE_MINUTES` off it still runs once a day. Attachments of captured messages are one Medium
    request each on top (the export path would otherwise take them from its zips).
    """

    minutes: int | None
    extensions: int
    captures_per_day: float
    light_per_day: int
    light_share_of_day: float
    # Least time one capture takes in the Light group: it must be shorter than the cadence.
    seconds_per_capture: float

    @property
    def keeps_cadence(self) -> bool:
        return self.minutes is None or self.seconds_per_capture <= self.minutes * 60

    def describe(self) -> str:
        cadence = f"every {self.minutes} min" if self.minutes else "once a day (RC_CAPTURE_MINUTES off)"
        text = (
            f"Message capture {cadence}: {self.light_per_day:,} Light requests/day "
            f"({self.captures_per_day:,.0f} capture(s) x {self.extensions:,} extensions' message-sync, "
            f"{self.light_share_of_day:.1%} of the Light budget); one capture needs at least "
            f"{human_seconds(self.seconds_per_capture)}; plus 1 Medium request per attachment of a captured "
            "message (MMS, voicemail, fax)."
        )
        if not self.keeps_cadence:
            text += f" It CANNOT keep its cadence: raise RC_CAPTURE_MINUTES to at least {math.ceil(self.seconds_per_capture / 60)}."
        return text


def capture_cost(extensions: int, minutes: int | None, light: GroupLimit) -> CaptureCost:
    """The message capture's Light budget at ``minutes`` between captures (None: the daily capture only)."""
    per_day = DAY_SECONDS / (minutes * 60) if minutes else 1.0
    requests = math.ceil(per_day * extensions)
    return CaptureCost(
        minutes=minutes,
        extensions=extensions,
        captures_per_day=per_day,
        light_per_day=requests,
        light_share_of_day=sustained_seconds(requests, light.limit, light.window) / DAY_SECONDS,
        seconds_per_capture=sustained_seconds(extensions, light.limit, light.window),
    )


def requests_by_group(breakdown: Mapping[str, int]) -> dict[str, int]:
    """Which throttling group each kind of request spends (from the spec: `rc_pipeline/apispec`)."""
    return {
        "Heavy": breakdown.get("call_log_pages", 0)
        + breakdown.get("recordings", 0)
        + breakdown.get("export_requests", 0)
        + breakdown.get("change_sync", 0)
        + breakdown.get("active_calls", 0),
        "Medium": breakdown.get("extension_pages", 0),
        "Light": breakdown.get("message_sync_requests", 0),
        "Auth": breakdown.get("logins", 0),
    }


def _needs(
    by_group: Mapping[str, int], limits: Mapping[str, GroupLimit], timer: Callable[[int, int, float], float]
) -> list[GroupNeed]:
    out = []
    for group in GROUPS:
        n = by_group.get(group, 0)
        if not n:
            continue
        lim = limits[group]
        out.append(GroupNeed(group, n, lim.limit, lim.window, timer(n, lim.limit, lim.window)))
    return out


def make_plan(
    volume: Volume,
    limits: Mapping[str, GroupLimit],
    start: date,
    end: date,
    *,
    timezone: str = "UTC",
    lookback_days: int = 2,
    include_messages: bool = True,
    capture_minutes: int | None = None,
    active_calls_seconds: float | None = None,
    today: date | None = None,
    deadline_days: int = RECORDING_RETENTION_DAYS,
    attachment_deadline_days: int | None = None,
) -> Plan:
    """The plan for archiving [start, end] and then every new day, from a volume and the limits.

    With ``today`` (the day the backfill starts) it forecasts the recordings lost on the way, with
    the budget the plan leaves for recordings and RingCentral's deadline (``deadline_days``).
    """
    limits = {g: limits.get(g) or GroupLimit(*DEFAULT_LIMITS[g]) for g in GROUPS}
    backfill = workload(
        volume.days,
        volume.calls_per_day,
        volume.recordings_per_day,
        volume.extensions,
        include_messages=include_messages,
    )
    # Every day the schedule archives yesterday and re-lists `lookback_days` days before it (records
    # change after first listing); recordings already archived are skipped, so only new ones cost.
    relisted = 1 + lookback_days
    # The message capture (message-sync, at least once a day) reports late changes of earlier days, so
    # the message store exports yesterday only; a lookback day is exported again only when the capture
    # cannot vouch for it (`rc_pipeline.message_store.coverage`).
    capture = capture_cost(volume.extensions, capture_minutes, limits["Light"]) if include_messages else None
    daily = {
        "call_log_pages": relisted * call_log_pages(volume.calls_per_day),
        "recordings": round(volume.recordings_per_day),
        "export_requests": EXPORT_REQUESTS_PER_TASK if include_messages else 0,
        "message_sync_requests": capture.light_per_day if capture else 0,
        # Late changes and new calls (call-log-extract-sync), daily or every RC_CAPTURE_MINUTES.
        "change_sync": change_sync_requests_per_day(
            volume.calls_per_day, volume.recordings_per_day, capture_minutes
        ),
        "active_calls": active_call_requests_per_day(active_calls_seconds),
        "extension_pages": extension_pages(volume.extensions),
        "logins": 1,
    }
    plan = Plan(
        start=start,
        end=end,
        timezone=timezone,
        volume=volume,
        limits=dict(limits),
        lookback_days=lookback_days,
        include_messages=include_messages,
        backfill=_needs(requests_by_group(backfill), limits, floor_seconds),
        backfill_breakdown=backfill,
        daily=_needs(requests_by_group(daily), limits, sustained_seconds),
        daily_breakdown=daily,
        capture_minutes=capture_minutes,
        active_calls_seconds=active_calls_seconds,
        capture=capture,
    )
    if today is None:
        return plan
    forecast = forecast_recordings(
        start=start,
        end=end,
        today=today,
        recordings_per_day=(
            volume.recordings_per_day
            if volume.automatic_recordings_per_day is None
            else volume.automatic_recordings_per_day
        ),
        budget_per_day=plan.max_recordings_per_day(),
        deadline_days=deadline_days,
        # The backfill's own call-log pages and exports spend the same Heavy budget first.
        backfill_overhead=backfill["call_log_pages"] + backfill["export_requests"],
    )
    attachments = None
    if volume.deadline_attachments_per_day is not None and attachment_deadline_days:
        attachments = forecast_recordings(
            start=start,
            end=end,
            today=today,
            recordings_per_day=volume.deadline_attachments_per_day,
            budget_per_day=plan.max_attachments_per_day(),
            deadline_days=attachment_deadline_days,
            account_limit=math.inf,
        )
    return replace(plan, forecast=forecast, attachment_forecast=attachments)


# ------------------------------------------------------------------------------------------ output


def human_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.1f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def format_plan(plan: Plan) -> str:
    v = plan.volume
    how = (
        f"estimated from {v.sampled_days} sampled day(s)"
        if v.estimated
        else f"measured on {v.sampled_days} day(s)"
    )
    lines = [
        f"Capacity plan for {plan.start} .. {plan.end} ({v.days} days, partitions in {plan.timezone})",
        f"Volume ({how}): {v.calls_per_day:,.0f} calls/day, {v.recordings_per_day:,.0f} recordings/day, "
        f"{v.extensions:,} extensions",
        "Rate limits: "
        + ", ".join(
            f"{g} {plan.limits[g].describe()}"
            for g in GROUPS
            if plan.limits[g].announced or any(n.group == g for n in plan.backfill)
        ),
        "",
        "Backfill (least requests; least time = the slowest group, each group has its own window)",
        f"  {'group':<7} {'requests':>10} {'limit':>16} {'least time':>12}",
    ]
    for g in plan.backfill:
        lines.append(
            f"  {g.group:<7} {g.requests:>10,} {plan.limits[g.group].describe():>16} "
            f"{human_seconds(g.min_seconds):>12}"
        )
    b = plan.backfill_breakdown
    lines += [
        f"  = {b['call_log_pages']:,} call-log pages + {b['recordings']:,} recordings"
        + (f" + {b['export_requests']:,} message-export requests" if plan.include_messages else "")
        + f" (Heavy); {b['extension_pages']} extension page(s) (Medium); {b['logins']} login (Auth)",
        f"  The backfill cannot take less than {human_seconds(plan.backfill_seconds)}.",
        "",
        f"Daily archiving (yesterday + {plan.lookback_days} lookback day(s) re-listed, new recordings"
        + (
            ", one message export a day: the message capture vouches for the lookback days)"
            if plan.include_messages
            else ")"
        ),
        f"  {'group':<7} {'requests/day':>12} {'needs per day':>14} {'of 24 h':>8}",
    ]
    for g in plan.daily:
        lines.append(
            f"  {g.group:<7} {g.requests:>12,} {human_seconds(g.min_seconds):>14} "
            f"{g.min_seconds / DAY_SECONDS:>8.1%}"
        )
    d = plan.daily_breakdown
    heavy = next((g for g in plan.daily if g.group == "Heavy"), None)
    budget = plan.limits["Heavy"].limit * DAY_SECONDS / plan.limits["Heavy"].window
    cadence = f"every {plan.capture_minutes} min (RC_CAPTURE_MINUTES)" if plan.capture_minutes else "daily"
    lines.append(
        f"  Late changes and new calls, call-log-extract-sync {cadence}: {d['change_sync']:,} Heavy "
        f"requests/day ({d['change_sync'] / budget:.2%} of the Heavy budget)"
    )
    if plan.active_calls_seconds:
        lines.append(
            f"  Active-call snapshots every {plan.active_calls_seconds:g} s (RC_ACTIVE_CALLS_SECONDS): "
            f"{d['active_calls']:,} Heavy requests/day ({d['active_calls'] / budget:.2%} of the Heavy budget)"
        )
    else:
        lines.append("  Active-call snapshots: off (RC_ACTIVE_CALLS_SECONDS unset)")
    if plan.keeps_up:
        lines.append(
            f"Verdict: daily archiving KEEPS UP on this plan ({plan.bottleneck} busy "
            f"{plan.daily_seconds / DAY_SECONDS:.0%} of the day; up to "
            f"{plan.max_recordings_per_day():,} recordings/day fit)."
        )
    else:
        needed = f"{heavy.min_seconds / 60:,.0f} Heavy minutes a day" if heavy else "more than a day"
        lines.append(
            f"Verdict: daily archiving CANNOT keep up on this plan: it needs {needed} and a day has 1,440. "
            f"At most {plan.max_recordings_per_day():,} recordings/day fit; the backlog grows every day. "
            "Ask RingCentral for higher API limits (a higher Heavy limit) or archive fewer recordings."
        )
    if plan.forecast:
        lines += ["", *format_forecast(plan.forecast)]
    if plan.attachment_forecast:
        lines += format_attachment_forecast(plan.attachment_forecast, v)
    if plan.capture is not None:
        lines.append(plan.capture.describe())
    used = ", ".join(f"{g} {n}" for g, n in sorted(v.requests_used.items()) if n)
    if used:
        lines.append(f"(Measuring the account used {used} request(s).)")
    return "\n".join(lines)


def format_forecast(f: RecordingForecast) -> list[str]:
    """The loss forecast's lines: the backfill (deadline first, and newest first for contrast), then
    daily running, each with the day RingCentral starts deleting what the archive has not reached."""
    b = f.backfill
    if f.deadline_days < f.time_limit_days:
        why = (
            f"{f.deadline_days} days after the call: at {f.recordings_per_day:,} a day the account's "
            f"100,000 fill in {f.deadline_days} days, before the {f.time_limit_days}-day limit"
        )
    else:
        why = f"{f.deadline_days} days after the call, and the oldest beyond 100,000 per account"
    lines = [
        f"Loss forecast (recordings: RingCentral deletes them {why})",
        f"  Budget: {f.budget_per_day:,} recordings/day (the Heavy requests left after the daily call-log "
        f"pages and exports); {f.recordings_per_day:,} automatic recordings a day (on-demand ones have no "
        "deadline and come after them).",
    ]
    if f.already_deleted:
        lines.append(
            f"  Already deleted at RingCentral: {f.already_deleted:,} recordings of the call days up to "
            f"{f.backfill.first_run - timedelta(days=f.deadline_days + 1)} (past their {f.deadline_days} days)."
        )
    first = f" from {b.first_loss} on" if b.first_loss else ""
    lines.append(
        f"  Backfill {f.start}..{f.end} started {b.first_run}, deadline first: {f.backfill_lost:,} "
        f"recordings lost{first}"
        + (
            f" (newest first would lose {f.backfill_lost_newest_first:,})."
            if f.backfill_lost_newest_first != f.backfill_lost
            else "."
        )
    )
    if f.new_days_lost:
        lines.append(f"  Meanwhile {f.new_days_lost:,} recordings of the new days are lost.")
    if f.daily_lost_per_day:
        lines.append(
            f"  Daily running: {f.daily_lost_per_day:,} recordings lost every day from {f.daily.first_loss} "
            f"on ({f.recordings_per_day:,} a day arrive, {f.budget_per_day:,} fit the budget)."
        )
    else:
        lines.append("  Daily running: no recording lost (the budget covers the daily volume).")
    return lines


def format_attachment_forecast(f: RecordingForecast, v: Volume) -> list[str]:
    """The listing path's attachments: each is a Medium request; faxes and voicemail have a deadline."""
    lines = [
        f"  Attachments (listing path, Medium): {v.attachments_per_day or 0:,.0f} a day, "
        f"{f.recordings_per_day:,} of them fax or voicemail (deleted after {f.deadline_days} days); "
        f"budget {f.budget_per_day:,}/day.",
    ]
    if f.already_deleted:
        lines.append(f"    Already deleted at RingCentral: {f.already_deleted:,} of the range.")
    first = f" from {f.backfill.first_loss} on" if f.backfill.first_loss else ""
    lines.append(f"    Backfill, deadline first: {f.backfill_lost:,} lost{first}.")
    if f.daily_lost_per_day:
        lines.append(
            f"    Daily running: {f.daily_lost_per_day:,} lost every day from {f.daily.first_loss} on."
        )
    else:
        lines.append("    Daily running: none lost.")
    return lines


def measure_attachment_deadline_days(client: Any, hipaa: bool) -> int:
    """The shortest time limit of a fax or voicemail: the message store's retentionPeriod, sent faxes'
    30 days, received faxes' 30 on a HIPAA account (message-store-configuration: one Light request)."""
    period = client.get_message_store_configuration().get("retentionPeriod")
    retention = AccountRetention(
        hipaa=hipaa, retention_period_days=period if isinstance(period, int) else None
    )
    return min(
        d
        for d in (retention.message_retention_days(t) for t in (VOICEMAIL, FAX_SENT, FAX_RECEIVED))
        if d is not None
    )


def measure_attachments(
    client: Any, day: date, timezone: str, extension_ids: Sequence[int], max_extensions: int
) -> tuple[float, float]:
    """(attachments, fax and voicemail attachments) a day, from one day of up to ``max_extensions``
    mailboxes (Light listing requests), scaled to every mailbox."""
    window = day_window(day, timezone)
    sampled = list(extension_ids)[:max_extensions]
    total = timed = 0
    for extension_id in sampled:
        for record in client.iter_messages(extension_id, window.start, window.end):
            n = len(attachments_of(record))
            total += n
            timed += n if record.get("type") in ("Fax", "VoiceMail") else 0
    scale = len(extension_ids) / len(sampled) if sampled else 0.0
    return total * scale, timed * scale


# ------------------------------------------------------------------------------- measuring an account


def sample_days(start: date, end: date, count: int) -> list[date]:
    """``count`` days spread evenly over [start, end], first and last included."""
    total = (end - start).days + 1
    if count >= total:
        return [start + timedelta(days=n) for n in range(total)]
    if count <= 1:
        return [end]
    picks = {round(i * (total - 1) / (count - 1)) for i in range(count)}
    return [start + timedelta(days=n) for n in sorted(picks)]


def _recording_ids(record: Mapping[str, Any]) -> dict[str, bool]:
    """The record's recording ids (call and legs), each with whether it is automatic: only those have
    a deadline (on-demand recordings are not deleted by RingCentral's time limit)."""
    ids: dict[str, bool] = {}
    for item in (record, *(record.get("legs") or [])):
        rec = item.get("recording") if isinstance(item, Mapping) else None
        if isinstance(rec, Mapping) and rec.get("id"):
            ids[str(rec["id"])] = rec.get("type") != "OnDemand"
    return ids


@dataclass(frozen=True)
class DaySample:
    day: date
    records: float
    recordings: float
    pages: int
    complete: bool
    automatic: float = 0.0


def _sample_day(client: Any, day: date, tz: ZoneInfo, max_pages: int) -> DaySample:
    window = day_window(day, tz.key)
    start, end = window.start, window.end
    pages = records = 0
    recordings: dict[str, bool] = {}
    oldest: datetime | None = None
    # Returning from the loop leaves the generator suspended, so the pages past the budget are never
    # requested.
    for page in client.iter_call_log_pages(start, end, view="Detailed"):
        pages += 1
        page_records = [r for r in page.records if isinstance(r, Mapping)]
        records += len(page_records)
        for record in page_records:
            recordings.update(_recording_ids(record))
            started = parse_iso(record.get("startTime"))
            if started is not None and (oldest is None or started < oldest):
                oldest = started
        total = (page.body.get("paging") or {}).get("totalElements")
        if isinstance(total, int) and total > records and page_records:
            # The API counted the day for us: scale this page's recording share to the total.
            share = total / records
            automatic = sum(recordings.values())
            return DaySample(day, float(total), len(recordings) * share, pages, True, automatic * share)
        if not page.next_page_uri or not page_records:
            break
        if pages >= max_pages:
            # Newest first: these pages covered [oldest, end). Scale to the whole day.
            covered = (end - oldest).total_seconds() if oldest else 0.0
            span = (end - start).total_seconds()
            scale = span / covered if covered > 0 else 1.0
            automatic = sum(recordings.values())
            return DaySample(day, records * scale, len(recordings) * scale, pages, False, automatic * scale)
    return DaySample(
        day, float(records), float(len(recordings)), pages, True, float(sum(recordings.values()))
    )


def measure_volume(
    client: Any,
    start: date,
    end: date,
    *,
    timezone: str = "UTC",
    sample_count: int = 3,
    max_pages_per_day: int = 3,
    attachment_mailboxes: int = 0,
) -> tuple[Volume, dict[str, GroupLimit]]:
    """Ask the account (a `RingCentralClient`) for its volume over [start, end] and its announced limits."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    tz = ZoneInfo(timezone)
    before = client.stats()
    # The extension list (Medium) says how big a directory snapshot is.
    pages = list(client.iter_extension_pages())
    extensions = sum(len(page.records) for page in pages)
    # The listing path lists every extension's message store: the attachment sample draws from them.
    mailboxes = sorted(
        {int(r["id"]) for page in pages for r in page.records if isinstance(r, Mapping) and r.get("id")}
    )
    samples = [
        _sample_day(client, day, tz, max_pages_per_day) for day in sample_days(start, end, sample_count)
    ]
    attachments = (
        measure_attachments(client, end, timezone, mailboxes, attachment_mailboxes)
        if attachment_mailboxes
        else None
    )
    used = client.stats().minus(before).requests
    n = len(samples)
    volume = Volume(
        days=(end - start).days + 1,
        calls_per_day=sum(s.records for s in samples) / n,
        recordings_per_day=sum(s.recordings for s in samples) / n,
        automatic_recordings_per_day=sum(s.automatic for s in samples) / n,
        extensions=extensions,
        sampled_days=n,
        estimated=n < (end - start).days + 1 or not all(s.complete for s in samples),
        requests_used=dict(used),
        attachments_per_day=attachments[0] if attachments else None,
        deadline_attachments_per_day=attachments[1] if attachments else None,
    )
    # Only what the server announced: make_plan fills the rest with RingCentral's defaults and says so.
    limits = {
        group: GroupLimit(rate.limit, rate.window, announced=True)
        for group, rate in client.rate_limits().items()
        if rate.announced
    }
    return volume, limits


# ------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline plan",
        description="Estimate what archiving --start..--end costs on this account: requests and least time "
        "per throttling group, whether daily archiving keeps up with the daily volume on this plan, and how "
        "many recordings RingCentral deletes before the archive reaches them (backfill and daily). "
        "Reads a few sample days of the call log (bounded: --sample-days x --max-pages Heavy requests) and "
        "the rate limits the account announces. RingCentral settings come from RC_* variables.",
    )
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    parser.add_argument("--sample-days", type=int, default=3, help="days of the range to read (default 3)")
    parser.add_argument(
        "--max-pages", type=int, default=3, help="call-log pages read per sampled day (default 3)"
    )
    parser.add_argument(
        "--no-messages", action="store_true", help="leave the message-store export out of the plan"
    )
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="day the backfill starts, for the loss forecast (default: today in RC_TIMEZONE)",
    )
    parser.add_argument(
        "--attachment-mailboxes",
        type=int,
        default=10,
        help="listing path (RC_MESSAGE_SOURCE=listing): mailboxes whose last day is listed to count "
        "attachments, one Light request each at least (default 10)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.sample_days < 1 or args.max_pages < 1:
        parser.error("--sample-days and --max-pages must be at least 1")
    if args.end < args.start:
        raise ValueError(f"--end {args.end} is before --start {args.start}")
    from rc_pipeline.ringcentral import RingCentralClient
    from rc_pipeline.settings import (
        ArchiveSettings,
        MessageStoreSettings,
        PipelineSettings,
        ringcentral_settings,
    )

    # The same declarations as the pipeline: a lookback the schedule refuses is refused here too.
    pipeline = PipelineSettings.from_env()
    timezone = pipeline.timezone
    archive_settings = ArchiveSettings.from_env()
    listing = not args.no_messages and MessageStoreSettings.from_env().source == "listing"
    with RingCentralClient(
        ringcentral_settings(),
        throttle_dir=archive_settings.throttle_dir,
        throttle_url=archive_settings.throttle_url,
    ) as client:
        volume, limits = measure_volume(
            client,
            args.start,
            args.end,
            timezone=timezone,
            sample_count=args.sample_days,
            max_pages_per_day=args.max_pages,
            attachment_mailboxes=args.attachment_mailboxes if listing else 0,
        )
        hipaa = is_hipaa(client.service_info())
        deadline_days = recording_retention_days(hipaa)
        attachment_days = measure_attachment_deadline_days(client, hipaa) if listing else None
    plan = make_plan(
        volume,
        limits,
        args.start,
        args.end,
        timezone=timezone,
        lookback_days=pipeline.lookback_days,
        include_messages=not args.no_messages,
        capture_minutes=pipeline.capture_minutes,
        active_calls_seconds=pipeline.active_calls_seconds,
        today=args.today or datetime.now(ZoneInfo(timezone)).date(),
        deadline_days=deadline_days,
        attachment_deadline_days=attachment_days,
    )
    if args.json:
        print(json.dumps(plan.to_json(), indent=2, default=str))
    else:
        print(format_plan(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())

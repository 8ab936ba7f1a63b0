"""What RingCentral will delete within a horizon, item by item, and whether the archive holds each.

Sources, all cheap:
- the account's retention (message-store-configuration, service-info): two Light requests;
- each mailbox's message store (voicemail, fax, SMS; Alive and in the trash), 1000 per page: Light
  requests; the mailboxes are those of the archive's latest `extensions` snapshot (listing the
  directory would be a Medium request);
- the archive for calls and recordings: listing the call log or reading recording metadata would be
  Heavy, so calls at risk are the archived calls whose deadline falls within the horizon, and a day of
  the at-risk window that the archive does not hold is reported as an unknown day (with an estimate
  from the archived days around it).

"Archived and verified" is what the purge at the source relies on: the item is in the archive's typed
table of its day, and each of its files (recording, attachments) still has the recorded size and
sha256 (re-hashed now). Count limits (voicemail box, SMS folder, recordings per account) drop the
oldest first; how many more arrive within the horizon is taken from the last horizon's arrivals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rc_pipeline.control.inventory import MESSAGE_KINDS, Item, archived_messages, archived_recordings
from rc_pipeline.control.retention import read_retention
from rc_pipeline.days import DayWindow, day_window, days_between
from rc_pipeline.message_store.fetch import LISTING_AVAILABILITY
from rc_pipeline.ringcentral import NotFound, RingCentralClient
from rc_pipeline.risk import rules
from rc_pipeline.risk.rules import AccountRetention
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.columns import parse_iso
from rc_pipeline.transform.recordings import recordings_referenced

# How far back a mailbox is listed: SMS has no time limit, so its folder count needs the whole history.
SOURCE_LOOKBACK_DAYS = 3650
# The message types listed at the source (Pager has no documented limit).
LISTED_TYPES = ("VoiceMail", "Fax", "SMS")
PAGE_SIZE = 1000
# An unknown day's items are estimated from the archived days of its window, else from this many of
# the archive's latest days.
ESTIMATE_DAYS = 7


@dataclass(frozen=True)
class AtRisk:
    """One item RingCentral drops before the horizon ends."""

    data_type: str
    id: str
    extension_id: int | None
    # The archive day it belongs to (creation or start time in the archive's timezone).
    day: date
    deadline: datetime
    # None when archived and verified; otherwise why not ("not archived", "missing: ...", ...).
    problem: str | None
    # "time" (its age) or "count" (a box, folder or the account over its limit).
    rule: str = "time"

    @property
    def archived(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class UnknownDay:
    """A day of the at-risk window whose calls (and recordings) the archive does not hold."""

    data_type: str
    day: date
    # When RingCentral starts dropping the day's items.
    deadline: datetime
    # Items the day probably holds, from the archived days of the window (None: nothing to go by).
    estimate: int | None
    # Before the archive's first partition (RC_START_DATE): not expected in the archive.
    before_start: bool

    @property
    def failing(self) -> bool:
        return not self.before_start


@dataclass(frozen=True)
class Row:
    """One line of the report: a data type in one mailbox."""

    data_type: str
    extension_id: int | None
    at_risk: int
    archived: int
    earliest_deadline: datetime | None
    earliest_unarchived: datetime | None

    @property
    def not_archived(self) -> int:
        return self.at_risk - self.archived


@dataclass
class RiskReport:
    now: datetime
    horizon_days: int
    account: AccountRetention
    items: list[AtRisk] = field(default_factory=list)
    unknown_days: list[UnknownDay] = field(default_factory=list)
    mailboxes_listed: int = 0
    mailboxes_gone: list[int] = field(default_factory=list)
    source_requests: dict[str, int] = field(default_factory=dict)
    # What limits the answer (e.g. no directory snapshot, so no mailbox was listed).
    notes: list[str] = field(default_factory=list)

    @property
    def horizon_end(self) -> datetime:
        return self.now + timedelta(days=self.horizon_days)

    def rows(self) -> list[Row]:
        groups: dict[tuple[str, int | None], list[AtRisk]] = defaultdict(list)
        for item in self.items:
            groups[item.data_type, item.extension_id].append(item)
        order = {t: i for i, t in enumerate(rules.DATA_TYPES)}
        rows = []
        for (data_type, extension_id), items in sorted(
            groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] is None, kv[0][1] or 0)
        ):
            unarchived = [i.deadline for i in items if not i.archived]
            rows.append(
                Row(
                    data_type,
                    extension_id,
                    len(items),
                    len(items) - len(unarchived),
                    min(i.deadline for i in items),
                    min(unarchived, default=None),
                )
            )
        return rows

    @property
    def unarchived(self) -> list[AtRisk]:
        return [i for i in self.items if not i.archived]

    @property
    def failing_unknown_days(self) -> list[UnknownDay]:
        return [d for d in self.unknown_days if d.failing]

    @property
    def ok(self) -> bool:
        """Nothing RingCentral drops within the horizon is missing from the archive (as far as known)."""
        return not self.unarchived and not self.failing_unknown_days

    @property
    def earliest_deadline(self) -> datetime | None:
        return min((i.deadline for i in self.items), default=None)

    @property
    def earliest_unarchived(self) -> datetime | None:
        deadlines = [i.deadline for i in self.unarchived] + [d.deadline for d in self.failing_unknown_days]
        return min(deadlines, default=None)

    def counts(self) -> dict[str, int]:
        return {
            "at_risk": len(self.items),
            "archived_verified": len(self.items) - len(self.unarchived),
            "not_archived": len(self.unarchived),
            "unknown_days": len(self.unknown_days),
            "unknown_days_in_archive_range": len(self.failing_unknown_days),
        }


# ------------------------------------------------------------------------------------ the source


def mailboxes(storage: ArchiveStorage) -> list[int]:
    """The mailboxes of the archive's latest directory snapshot."""
    snapshots = storage.list_partitions(Dataset.EXTENSIONS)
    if not snapshots:
        return []
    column = storage.read_parquet(Dataset.EXTENSIONS, snapshots[-1]).column("id").to_pylist()
    return sorted({i for i in column if i is not None})


def count_deadlines(
    box: Sequence[tuple[datetime, str]], limit: int, now: datetime, horizon_days: int
) -> dict[str, datetime]:
    """When each item a count limit pushes out of a box goes, by key; ``box`` is (created, key).

    The oldest go first. Those already beyond the limit go now; the arrivals expected within the horizon
    (as many as arrived in the last horizon) push out one more each, spread evenly over the horizon.
    """
    ordered = sorted(box)
    since = now - timedelta(days=horizon_days)
    arriving = sum(1 for created, _ in ordered if created >= since)
    dropped = rules.over_limit(len(ordered), limit, arriving)
    already = max(0, len(ordered) - limit)
    deadlines = {}
    for index, (_, key) in enumerate(ordered[:dropped]):
        pushed = index - already + 1
        if pushed <= 0:
            deadlines[key] = now
        else:
            # The k-th arrival is expected in the middle of the k-th equal slice of the horizon.
            deadlines[key] = now + timedelta(days=horizon_days) * (pushed - 0.5) / arriving
    return deadlines


@dataclass(frozen=True)
class SourceMessage:
    """A voicemail, fax or SMS as the source lists it, reduced to what the rules need."""

    id: str
    extension_id: int
    data_type: str
    created: datetime
    # Count limits apply per box: a mailbox's voicemail, each SMS folder (Inbox, Sent).
    box: str
    alive: bool

    @classmethod
    def from_record(cls, record: dict[str, Any], extension_id: int) -> SourceMessage | None:
        data_type = rules.message_data_type(record.get("type") or "", record.get("direction"))
        created = parse_iso(record.get("creationTime"))
        if data_type is None or created is None or record.get("id") is None:
            return None
        box = f"sms:{record.get('direction')}" if data_type == rules.SMS else data_type
        alive = record.get("availability", "Alive") == "Alive"
        return cls(str(record["id"]), extension_id, data_type, created, box, alive)


def message_deadlines(
    messages: Sequence[SourceMessage], account: AccountRetention, now: datetime, horizon_days: int
) -> list[tuple[SourceMessage, datetime, str]]:
    """The messages of one mailbox RingCentral drops before now + horizon: (message, deadline, rule)."""
    deadline: dict[str, tuple[datetime, str]] = {}
    boxes: dict[str, list[SourceMessage]] = defaultdict(list)
    for message in messages:
        by_time = account.message_deadline(message.data_type, message.created)
        if by_time is not None:
            deadline[message.id] = (by_time, "time")
        if rules.count_limit(message.data_type) is not None and message.alive:
            boxes[message.box].append(message)
    for box in boxes.values():
        limit = rules.count_limit(box[0].data_type)
        assert limit is not None
        for key, when in count_deadlines([(m.created, m.id) for m in box], limit, now, horizon_days).items():
            if key not in deadline or when < deadline[key][0]:
                deadline[key] = (when, "count")
    end = now + timedelta(days=horizon_days)
    # One RingCentral still lists past its deadline goes at any moment: its deadline is now.
    return [
        (m, max(now, deadline[m.id][0]), deadline[m.id][1])
        for m in messages
        if m.id in deadline and deadline[m.id][0] < end
    ]


def list_mailbox(client: RingCentralClient, extension_id: int, now: datetime) -> list[SourceMessage]:
    """Every voicemail, fax and SMS of a mailbox at the source, Alive or in the trash (Light, 1000 a page)."""
    found = []
    for record in client.iter_messages(
        extension_id,
        now - timedelta(days=SOURCE_LOOKBACK_DAYS),
        now,
        message_types=LISTED_TYPES,
        availability=LISTING_AVAILABILITY,
        perPage=PAGE_SIZE,
    ):
        message = SourceMessage.from_record(record, extension_id)
        if message is not None:
            found.append(message)
    return found


# ----------------------------------------------------------------------------------- the archive


class ArchiveLookup:
    """Whether an item is archived and verified, each day's table read once, each file hashed once."""

    def __init__(self, storage: ArchiveStorage) -> None:
        self.storage = storage
        self._messages: dict[date, dict[str, Item]] = {}
        self._recordings: dict[date, dict[str, Item]] = {}
        self._message_days = set(storage.list_partitions(Dataset.MESSAGES))

    def _files_problem(self, item: Item) -> str | None:
        for archived in item.files:
            check = self.storage.verify_file(archived.path, archived.bytes, archived.sha256)
            if not check.ok:
                return check.describe()
        return None

    def message_problem(self, day: date, message_id: str) -> str | None:
        if day not in self._message_days:
            return "day not archived"
        if day not in self._messages:
            items = archived_messages(self.storage, day, MESSAGE_KINDS, [])
            self._messages[day] = {i.id: i for i in items}
        item = self._messages[day].get(message_id)
        return "not archived" if item is None else self._files_problem(item)

    def recording_problem(self, day: date, recording_id: str) -> str | None:
        if day not in self._recordings:
            self._recordings[day] = {i.id: i for i in archived_recordings(self.storage, day, [])}
        item = self._recordings[day].get(recording_id)
        return "not archived" if item is None else self._files_problem(item)


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
            call = calls.get(ref.call_id)
            if call is None:
                continue  # an orphan leg: the day's own check reports it
            owner = call.extension_id if ref.leg_index is None else by_leg.get((ref.call_id, ref.leg_index))
            recordings.append((ref.recording_id, call, owner))
        return cls(list(calls.values()), recordings)


# ---------------------------------------------------------------------------------- the assessment


def _window_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    """The archive days (in ``zone``) that hold some instant of [start, end)."""
    return days_between(
        start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
    )


def _estimate(counts: Sequence[int]) -> int | None:
    return round(sum(counts) / len(counts)) if counts else None


class _CallSide:
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


def assess_risk(
    storage: ArchiveStorage,
    client: RingCentralClient,
    *,
    now: datetime,
    horizon_days: int,
    tz: str,
    start_date: date | None = None,
    progress: Callable[[str], None] | None = None,
) -> RiskReport:
    """Everything RingCentral drops in [now, now + horizon_days), per item, and whether it is archived.

    ``now`` is explicit (a report is as of a moment; tests move it); ``tz`` is the archive's timezone
    and ``start_date`` its first partition (unknown days before it are reported, not failed).
    Requests: two Light for the retention, one Light per 1000 messages of each mailbox.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must carry a timezone (got naive {now.isoformat()})")
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days < 1:
        raise ValueError(f"the horizon must be a whole number of days >= 1, got {horizon_days!r}")
    now = now.astimezone(UTC)
    before = client.stats()
    settings = read_retention(client)
    account = AccountRetention(settings.hipaa, settings.retention_period)
    report = RiskReport(now, horizon_days, account)
    lookup = ArchiveLookup(storage)
    zone = ZoneInfo(tz)
    boxes = mailboxes(storage)
    if not boxes:
        report.notes.append(
            "no directory snapshot in the archive: no mailbox was listed, so voicemail, fax and SMS "
            "are not assessed (materialise `extensions` first)"
        )
    for index, extension_id in enumerate(boxes, 1):
        try:
            listed = list_mailbox(client, extension_id, now)
        except NotFound:
            report.mailboxes_gone.append(extension_id)  # gone at the source: nothing of it left to drop
            continue
        report.mailboxes_listed += 1
        for message, deadline, rule in message_deadlines(listed, account, now, horizon_days):
            day = message.created.astimezone(zone).date()
            problem = lookup.message_problem(day, message.id)
            report.items.append(
                AtRisk(message.data_type, message.id, extension_id, day, deadline, problem, rule)
            )
        if progress is not None and (index % 10 == 0 or index == len(boxes)):
            progress(f"mailboxes listed: {index}/{len(boxes)}")
    calls = _CallSide(report, storage, lookup, tz, start_date)
    calls.assess(
        rules.RECORDING, rules.recording_retention_days(account.hipaa), rules.RECORDINGS_ACCOUNT_LIMIT
    )
    calls.assess(rules.CALL_LOG, rules.CALL_LOG_RETENTION_DAYS)
    report.items.sort(key=lambda i: (i.deadline, i.data_type, i.id))
    report.source_requests = dict(client.stats().minus(before).requests)
    return report

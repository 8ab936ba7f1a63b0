"""RingCentral's retention settings beside what the archive holds: read, snapshot, check, change.

RingCentral deletes on its own: the message store's `retentionPeriod` (7..90 days) applies to fax and
voicemail (SMS has no time limit), automatic call recordings go after 90 days (30 on HIPAA accounts),
and several per-mailbox caps drop the oldest items (API-NOTES §8, §9). Shortening the period is the
one retention change made here; it is not a deletion by ids, but it makes RingCentral delete, so it
is refused when RingCentral would drop fax or voicemail that is not archived and verified (`--force`
accepts that loss) and always when a legal hold covers any of it (a hold is never overridden).
`retention set` is a dry run unless `--execute` is given; every change is audited before the PUT and
after it.

"Archived and verified" always means: the day's partition exists and every archive check of
`rc_pipeline.verification` passes for it now (files re-hashed), as the purge requires.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pyarrow as pa

from rc_pipeline.control import audit
from rc_pipeline.control.cli_support import account_client, archive, operator_of
from rc_pipeline.control.erase import error_summary
from rc_pipeline.control.holds import active_holds, covering
from rc_pipeline.days import day_window, days_between
from rc_pipeline.message_store.fetch import LISTING_AVAILABILITY
from rc_pipeline.ringcentral import NotFound, RingCentralClient, RingCentralError
from rc_pipeline.risk import rules
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.columns import parse_iso
from rc_pipeline.transform.raw_shapes import coerce
from rc_pipeline.verification import CALL_CHECKS, MESSAGE_CHECKS, RECORDING_CHECKS, ArchiveCheck, verify_day

# RingCentral's bounds for retentionPeriod (message-store-configuration), in days.
MIN_RETENTION_DAYS = rules.MESSAGE_RETENTION_MIN_DAYS
MAX_RETENTION_DAYS = rules.MESSAGE_RETENTION_MAX_DAYS
# The message types retentionPeriod applies to (API-NOTES §8); SMS and Pager have no time limit.
RETENTION_TYPES = ("Fax", "VoiceMail")
# Fixed limits of API-NOTES §9, in days (the rules themselves live in rc_pipeline.risk.rules).
SENT_FAX_DAYS = rules.SENT_FAX_RETENTION_DAYS
RECORDING_DAYS = rules.RECORDING_RETENTION_DAYS
HIPAA_DAYS = rules.HIPAA_RECORDING_RETENTION_DAYS
HIPAA_FEATURE = "HipaaCompliance"
# `retention show` re-verifies this many days before today unless told otherwise: the longest time
# limit RingCentral applies to anything but the call log (recordings, retentionPeriod at most 90).
SHOW_DAYS = MAX_RETENTION_DAYS

# The data types the archive holds, and which of its checks prove a day of each.
MESSAGES, CALLS, RECORDINGS = "messages", "calls", "recordings"
CHECK_GROUPS: dict[str, tuple[Dataset, tuple[ArchiveCheck, ...]]] = {
    MESSAGES: (Dataset.MESSAGES, MESSAGE_CHECKS),
    CALLS: (Dataset.CALLS, CALL_CHECKS),
    RECORDINGS: (Dataset.CALLS, RECORDING_CHECKS),
}
DATA_TYPES: dict[str, tuple[str, ...]] = {
    "SMS": (MESSAGES,),
    "Fax": (MESSAGES,),
    "VoiceMail": (MESSAGES,),
    "Pager": (MESSAGES,),
    "Recording": (CALLS, RECORDINGS),
    "Call log": (CALLS,),
}


class RetentionError(ValueError):
    """A retention request that cannot be right, or an answer that cannot be read; says what."""


class RetentionRefused(RetentionError):
    """Shortening the period would make RingCentral drop what the archive does not hold. Carries the
    whole check, day by day."""

    def __init__(self, change: RetentionChange) -> None:
        self.change = change
        lost = [d.day for d in change.days if d.lost]
        first, last = lost[0], lost[-1]
        super().__init__(
            f"{change.describe()}\nRefused: nothing was changed. Archive and verify those days first "
            f"(`rc-pipeline archive --start {first} --end {last}`, then `rc-pipeline verify`), or pass "
            "--force to accept the loss (the audit trail records it as forced)."
        )


class RetentionHeld(RetentionRefused):
    """Shortening the period would make RingCentral drop messages a legal hold covers: refused always,
    ``--force`` included (a hold is never overridden). Names the holds."""

    def __init__(self, change: RetentionChange) -> None:
        self.change = change
        held = [d for d in change.days if d.holds]
        named = "; ".join(
            f"{hold_id} ({change.hold_reasons.get(hold_id, 'no reason recorded')})"
            for hold_id in change.hold_ids
        )
        under_hold = sum(d.under_hold for d in held)
        RetentionError.__init__(
            self,
            f"{change.describe()}\nRefused: nothing was changed. Legal hold(s) {named} cover "
            f"{under_hold} message(s) RingCentral would drop ({format_days(d.day for d in held)}). "
            "A hold is never overridden, --force included: keep a period that leaves those days at "
            "RingCentral, or release the hold(s) (`rc-pipeline hold release`) once the matter allows it.",
        )


def check_bounds(days: int) -> int:
    """``days`` when RingCentral accepts it as a retention period; RetentionError naming the bounds."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise RetentionError(f"the retention period must be a whole number of days, got {days!r}")
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise RetentionError(
            f"retention period {days} days is out of bounds: RingCentral accepts "
            f"{MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days"
        )
    return days


# ------------------------------------------------------------------------------- settings and rules


class Rule(NamedTuple):
    """One row of the table of what RingCentral keeps."""

    data_type: str
    kept: str


@dataclass(frozen=True)
class RetentionSettings:
    """The account's retention as RingCentral answered it, and the rules that follow from it."""

    retention_period: int
    hipaa: bool
    # The answers as received (GET message-store-configuration, GET service-info).
    configuration: dict[str, Any] = field(repr=False)
    service_info: dict[str, Any] = field(repr=False)

    @classmethod
    def from_answers(
        cls, configuration: Mapping[str, Any], service_info: Mapping[str, Any]
    ) -> RetentionSettings:
        period = configuration.get("retentionPeriod")
        if isinstance(period, bool) or not isinstance(period, int):
            raise RetentionError(
                f"RingCentral's message-store-configuration has no whole retentionPeriod (got {period!r})"
            )
        features = service_info.get("serviceFeatures") or []
        hipaa = any(
            isinstance(f, Mapping) and f.get("featureName") == HIPAA_FEATURE and f.get("enabled") is True
            for f in features
        )
        return cls(period, hipaa, dict(configuration), dict(service_info))

    @property
    def recording_days(self) -> int:
        return HIPAA_DAYS if self.hipaa else RECORDING_DAYS

    @property
    def rules(self) -> tuple[Rule, ...]:
        """What RingCentral keeps of each data type (API-NOTES §8, §9), for this account."""
        p = self.retention_period
        received_fax = f"{HIPAA_DAYS} days (HIPAA)" if self.hipaa else f"the retention period ({p} days)"
        recordings = f"{self.recording_days} days" + (" (HIPAA)" if self.hipaa else "")
        return (
            Rule("SMS", "no time limit; at most 5,000 messages per folder per user (oldest dropped)"),
            Rule("Pager", "no time limit documented"),
            Rule(
                "Fax",
                f"retention period {p} days; sent faxes {SENT_FAX_DAYS} days; received faxes "
                f"{received_fax}; at most 200 unread",
            ),
            Rule("VoiceMail", f"retention period {p} days; at most 200 per mailbox (oldest replaced)"),
            Rule(
                "Recording",
                f"automatic recordings {recordings}; at most 100,000 per account (oldest dropped)",
            ),
            Rule("Call log", "12 months (9 for some accounts)"),
        )

    def limits(self) -> dict[str, int]:
        """Days RingCentral keeps each time-limited type the archive verifies by day.

        Fax takes the shortest limit any fax has (sent faxes: 30 days) so that no fax reaches the
        source's deletion edge unchecked; the call log's 12 months are left out (nothing here changes it).
        """
        return {
            "Fax": min(self.retention_period, SENT_FAX_DAYS),
            "VoiceMail": self.retention_period,
            "Recording": self.recording_days,
        }


def read_retention(client: RingCentralClient) -> RetentionSettings:
    """The account's retention now: two Light requests (message-store-configuration, service-info)."""
    return RetentionSettings.from_answers(client.get_message_store_configuration(), client.service_info())


# ------------------------------------------------------------------------------ archive coverage


def format_days(days: Iterable[date]) -> str:
    """Days as ranges of consecutive days: `2025-01-01..2025-01-03, 2025-01-07`."""
    ordered = sorted(set(days))
    runs: list[tuple[date, date]] = []
    for day in ordered:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs) or "-"


class DayVerifier:
    """Whether a day of a data type is archived and verified, each (check group, day) run once.

    With ``verify=False`` only the partition's presence is looked at (no check, no hashing).
    """

    def __init__(self, storage: ArchiveStorage, tz: str, *, verify: bool = True) -> None:
        self.storage, self.tz, self.verify = storage, tz, verify
        self._partitions: dict[Dataset, set[date]] = {}
        self._problems: dict[tuple[str, date], str | None] = {}

    def partitions(self, data_type: str) -> set[date]:
        dataset = CHECK_GROUPS[DATA_TYPES[data_type][0]][0]
        if dataset not in self._partitions:
            self._partitions[dataset] = set(self.storage.list_partitions(dataset))
        return self._partitions[dataset]

    def first_archived(self, data_type: str) -> date | None:
        return min(self.partitions(data_type), default=None)

    def archived(self, data_type: str, day: date) -> bool:
        return day in self.partitions(data_type)

    def _group_problem(self, group: str, day: date) -> str | None:
        if (group, day) not in self._problems:
            verdict = verify_day(self.storage, day_window(day, self.tz), CHECK_GROUPS[group][1])
            self._problems[group, day] = None if verdict.passed else verdict.describe()
        return self._problems[group, day]

    def problem(self, data_type: str, day: date) -> str | None:
        """None when the day is archived and (with verify) passes every check; else why not."""
        if not self.archived(data_type, day):
            return "not archived"
        if not self.verify:
            return None
        problems = [p for g in DATA_TYPES[data_type] if (p := self._group_problem(g, day))]
        return "; ".join(problems) or None


@dataclass(frozen=True)
class Coverage:
    """How much of a data type the archive holds, archived and verified, over a range of days."""

    data_type: str
    verified_days: tuple[date, ...]
    # Archived but a check fails now: (day, why).
    unverified: tuple[tuple[date, str], ...]
    # Inside the range and not archived at all.
    missing: tuple[date, ...]
    # False when only the partitions' presence was looked at (no check run, nothing hashed).
    checked: bool = True

    @property
    def earliest(self) -> date | None:
        return self.verified_days[0] if self.verified_days else None

    @property
    def latest(self) -> date | None:
        return self.verified_days[-1] if self.verified_days else None

    def describe(self) -> str:
        what = "verified" if self.checked else "archived (not re-verified)"
        if not self.verified_days:
            text = f"no {what} day"
        else:
            text = f"{len(self.verified_days)} {what} day(s), {self.earliest} .. {self.latest}"
        if self.unverified:
            text += "; unverified: " + "; ".join(f"{d} ({why})" for d, why in self.unverified)
        if self.missing:
            text += f"; missing: {format_days(self.missing)}"
        return text

    def summary(self) -> dict[str, Any]:
        return {
            "earliest": self.earliest.isoformat() if self.earliest else None,
            "latest": self.latest.isoformat() if self.latest else None,
            "verified_days": len(self.verified_days),
            "unverified": [d.isoformat() for d, _ in self.unverified],
            "missing": format_days(self.missing) if self.missing else "",
            "checked": self.checked,
        }


def archive_coverage(
    storage: ArchiveStorage, tz: str, days: Iterable[date] | None = None, *, verify: bool = True
) -> dict[str, Coverage]:
    """Per data type (SMS, Fax, VoiceMail, Pager, Recording, Call log): which of ``days`` the archive
    holds archived and verified, which are archived but fail a check, and which are missing.

    ``days`` None means every day from the first to the last archived partition of the type.

    Cost: verifying a day re-runs its archive checks, which re-hash every attachment (messages) or
    recording (calls) of the day and read its raw pages: the whole archive's bytes over the range.
    Message days are verified once for the four message types, call days once for Recording and Call
    log. Bound the range with ``days`` (the CLI defaults to the last 90 days), or pass
    ``verify=False`` to look only at which partitions exist (no hashing; `checked` is then False).
    """
    verifier = DayVerifier(storage, tz, verify=verify)
    wanted = sorted(set(days)) if days is not None else None
    coverage = {}
    for data_type in DATA_TYPES:
        if wanted is not None:
            span = wanted
        else:
            archived = verifier.partitions(data_type)
            span = days_between(min(archived), max(archived)) if archived else []
        verified, unverified, missing = [], [], []
        for day in span:
            problem = verifier.problem(data_type, day)
            if problem is None:
                verified.append(day)
            elif problem == "not archived":
                missing.append(day)
            else:
                unverified.append((day, problem))
        coverage[data_type] = Coverage(data_type, tuple(verified), tuple(unverified), tuple(missing), verify)
    return coverage


def format_retention(
    settings: RetentionSettings,
    coverage: Mapping[str, Coverage],
    *,
    days: Sequence[date] | None = None,
) -> str:
    """`rc-pipeline retention show`: the period, HIPAA, what RingCentral keeps, what the archive holds."""
    width = max(len(t) for t in DATA_TYPES)
    lines = [
        "RingCentral retention (read from the account now)",
        f"  message-store retention period: {settings.retention_period} days "
        f"(applies to {' and '.join(RETENTION_TYPES)}; RingCentral accepts "
        f"{MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS})",
        f"  HIPAA account: {'yes' if settings.hipaa else 'no'}",
        "",
        "What RingCentral keeps",
        *(f"  {rule.data_type:<{width}}  {rule.kept}" for rule in settings.rules),
        "",
    ]
    checked = all(c.checked for c in coverage.values())
    span = f"{min(days)} .. {max(days)}" if days else "every archived day"
    how = (
        "archived and verified (every check re-run, files re-hashed)"
        if checked
        else "archived (presence only)"
    )
    lines.append(f"Archive coverage, {span}: days {how}")
    lines += [f"  {t:<{width}}  {c.describe()}" for t, c in coverage.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------------- changing it


@dataclass(frozen=True)
class DayAtRisk:
    """One day of fax and voicemail that the new period makes RingCentral drop."""

    day: date
    # Messages RingCentral holds (Alive or in the trash) that the new period drops.
    at_source: int
    archived_verified: int
    # Those not archived and verified: {"id", "kind", "extension_id"} (what would be lost).
    lost: tuple[dict[str, Any], ...]
    # Why the day does not count as verified (None when it does).
    problem: str | None
    # Active legal holds covering some of the day's dropped messages, and how many they cover.
    holds: tuple[str, ...] = ()
    under_hold: int = 0

    @property
    def safe(self) -> bool:
        return not self.lost and not self.holds

    def describe(self) -> str:
        text = f"{self.day}: {self.at_source} at RingCentral, {self.archived_verified} archived and verified"
        if self.lost:
            why = self.problem or "not in the archived day"
            text += f", {len(self.lost)} NOT ({why})"
        if self.holds:
            text += f"; {self.under_hold} under legal hold ({', '.join(self.holds)})"
        return text


@dataclass(frozen=True)
class RetentionChange:
    """What changing the period from ``old_days`` to ``new_days`` makes RingCentral drop, day by day."""

    old_days: int
    new_days: int
    # The creation-time window of fax and voicemail the new period drops (None: not a shortening).
    drop_from: datetime | None = None
    drop_to: datetime | None = None
    days: tuple[DayAtRisk, ...] = ()
    extensions_listed: int = 0
    extensions_not_found: tuple[int, ...] = ()
    # hold id -> its reason, for every active hold covering some of what the change drops
    hold_reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def shortening(self) -> bool:
        return self.new_days < self.old_days

    @property
    def unsafe_days(self) -> list[DayAtRisk]:
        return [d for d in self.days if not d.safe]

    @property
    def safe(self) -> bool:
        return not self.unsafe_days

    @property
    def would_lose(self) -> int:
        return sum(len(d.lost) for d in self.days)

    @property
    def hold_ids(self) -> list[str]:
        """Active legal holds covering messages the change drops: the change is refused, force or not."""
        return sorted({h for d in self.days for h in d.holds})

    def refusal(self, *, force: bool) -> RetentionRefused | None:
        """Why the change may not be made: a hold covers what it drops (always), or messages not archived
        and verified would be lost (unless ``force``). None when it may be made."""
        if self.hold_ids:
            return RetentionHeld(self)
        if self.would_lose and not force:
            return RetentionRefused(self)
        return None

    def describe(self) -> str:
        if not self.shortening:
            return (
                f"Retention period {self.old_days} -> {self.new_days} days: RingCentral keeps fax and "
                "voicemail as long or longer; nothing more is dropped."
            )
        assert self.drop_from is not None and self.drop_to is not None
        total = sum(d.at_source for d in self.days)
        lines = [
            f"Retention period {self.old_days} -> {self.new_days} days: RingCentral would drop the "
            f"{' and '.join(RETENTION_TYPES)} created {_utc(self.drop_from)} .. {_utc(self.drop_to)}: "
            f"{total} message(s) in {self.extensions_listed} mailbox(es) listed now."
        ]
        lines += [f"  {d.describe()}" for d in self.days]
        if self.extensions_not_found:
            lines.append(
                f"  (mailboxes gone at RingCentral: {', '.join(map(str, self.extensions_not_found))})"
            )
        if self.safe:
            lines.append("Every one of them is archived and verified, and no legal hold covers them.")
        else:
            unsafe = self.unsafe_days
            under_hold = sorted({h for d in unsafe for h in d.holds})
            parts = []
            if self.would_lose:
                lost_days = [d.day for d in unsafe if d.lost]
                parts.append(
                    f"{self.would_lose} message(s) on {len(lost_days)} day(s) are not archived and verified "
                    f"({format_days(lost_days)})"
                )
            if under_hold:
                parts.append(f"legal hold(s) {', '.join(under_hold)} cover some of them")
            lines.append("Unsafe: " + "; ".join(parts) + ".")
        return "\n".join(lines)

    def scope(self) -> dict[str, Any]:
        return {
            "old_days": self.old_days,
            "new_days": self.new_days,
            "drop_from": self.drop_from.isoformat() if self.drop_from else None,
            "drop_to": self.drop_to.isoformat() if self.drop_to else None,
            "types": list(RETENTION_TYPES),
        }

    def per_day(self) -> dict[str, dict[str, Any]]:
        return {
            d.day.isoformat(): {
                "held_at_source": d.at_source,
                "archived_verified": d.archived_verified,
                "not_archived_verified": len(d.lost),
                "problem": d.problem,
                "holds": list(d.holds),
            }
            for d in self.days
        }

    def lost_items(self) -> list[dict[str, Any]]:
        """The audit trail's items: each message the change drops unarchived (ids, kind, mailbox)."""
        return [
            {**item, "day": d.day.isoformat(), "outcome": "would_be_dropped_unarchived"}
            for d in self.days
            for item in d.lost
        ]


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _archived_ids(storage: ArchiveStorage, day: date) -> set[str]:
    return {str(i) for i in storage.read_parquet(Dataset.MESSAGES, day).column("id").to_pylist()}


def check_retention_change(
    storage: ArchiveStorage,
    client: RingCentralClient,
    new_days: int,
    *,
    tz: str,
    now: datetime | None = None,
) -> RetentionChange:
    """What the new period would make RingCentral drop, and whether the archive holds each of it.

    A shorter period drops the fax and voicemail created in [now - old, now - new). They are counted
    at the source by listing each mailbox for exactly that window (explicit dateFrom/dateTo, both
    types, Alive and in the trash, 1000 per page): a Light request per mailbox per 1000 messages.
    The archive alone cannot answer it: it does not know what RingCentral holds of days it never
    archived, nor messages that arrived after a day was archived; per-day listings or an export
    would cost more requests for the same answer. Each listed message counts as archived and
    verified when its day (creation time in ``tz``) passes every message check now and the day's
    `messages` table holds its id. Messages a legal hold covers make the change unsafe too, beyond
    any --force: a retention change is a deletion at the source as far as a hold is concerned.

    Mailboxes: those of the latest `extensions` snapshot and those the API lists now (one more
    Light request per 1000 extensions), so a mailbox created since the snapshot is counted.
    """
    check_bounds(new_days)
    now = now or datetime.now(UTC)
    # The period alone: one Light request (service-info is not needed to count what is dropped).
    old_days = RetentionSettings.from_answers(client.get_message_store_configuration(), {}).retention_period
    if new_days >= old_days:
        return RetentionChange(old_days, new_days)
    drop_from, drop_to = now - timedelta(days=old_days), now - timedelta(days=new_days)
    zone = ZoneInfo(tz)
    by_day: dict[date, list[dict[str, Any]]] = {}
    listed, not_found = 0, []
    for extension_id in _mailboxes(storage, client):
        try:
            for message in client.iter_messages(
                extension_id,
                drop_from,
                drop_to,
                message_types=RETENTION_TYPES,
                availability=LISTING_AVAILABILITY,
            ):
                created = parse_iso(message.get("creationTime")) or drop_from
                by_day.setdefault(created.astimezone(zone).date(), []).append(
                    {"id": str(message.get("id")), "kind": message.get("type"), "extension_id": extension_id}
                )
        except NotFound:
            not_found.append(extension_id)  # the mailbox is gone: nothing of it left to drop
            continue
        listed += 1
    holds = active_holds(storage)
    verifier = DayVerifier(storage, tz)
    days = []
    for day in sorted(by_day):
        messages = by_day[day]
        problem = verifier.problem("VoiceMail", day)
        archived = set() if problem else _archived_ids(storage, day)
        lost = tuple(m for m in messages if m["id"] not in archived)
        covered = {m["id"]: covering(holds, m["kind"], m["extension_id"], day) for m in messages}
        hold_ids = sorted({h.id for found in covered.values() for h in found})
        days.append(
            DayAtRisk(
                day=day,
                at_source=len(messages),
                archived_verified=len(messages) - len(lost),
                lost=lost,
                problem=problem if lost else None,
                holds=tuple(hold_ids),
                under_hold=sum(1 for found in covered.values() if found),
            )
        )
    used = {h for d in days for h in d.holds}
    return RetentionChange(
        old_days,
        new_days,
        drop_from,
        drop_to,
        tuple(days),
        listed,
        tuple(sorted(not_found)),
        {h.id: h.reason for h in holds if h.id in used},
    )


def _mailboxes(storage: ArchiveStorage, client: RingCentralClient) -> list[int]:
    """Every mailbox to list: the latest `extensions` snapshot's and the API's current extension list
    (a mailbox created since the snapshot holds fax and voicemail too; one deleted since answers 404)."""
    ids: set[int] = set()
    snapshots = storage.list_partitions(Dataset.EXTENSIONS)
    if snapshots:
        column = storage.read_parquet(Dataset.EXTENSIONS, snapshots[-1]).column("id").to_pylist()
        ids.update(i for i in column if i is not None)
    for record in client.iter_extensions():
        extension_id = coerce(record.get("id"), pa.int64())
        if extension_id is not None:
            ids.add(extension_id)
    return sorted(ids)


@dataclass(frozen=True)
class RetentionSetResult:
    change: RetentionChange
    applied: bool
    forced: bool = False
    # RingCentral's answer to the PUT (None when nothing was sent).
    answer: dict[str, Any] | None = None
    audit_entries: tuple[int, ...] = ()

    def describe(self) -> str:
        change = self.change
        if not self.applied:
            return f"The retention period is already {change.old_days} days: nothing changed."
        now = (self.answer or {}).get("retentionPeriod", change.new_days)
        lines = [
            change.describe(),
            f"Retention period set: {change.old_days} -> {now} days. RingCentral applies it to "
            f"{' and '.join(RETENTION_TYPES)} (SMS has no time limit); this command deletes nothing itself.",
        ]
        if self.forced:
            lines.append(
                f"FORCED: {change.would_lose} message(s) not archived and verified will be dropped by "
                "RingCentral; the audit trail names them."
            )
        lines.append(f"Audit entries {', '.join(map(str, self.audit_entries))}.")
        return "\n".join(lines)


def describe_dry_run(change: RetentionChange, *, force: bool) -> str:
    """`retention set` without --execute: old -> new, the per-day loss table, and what --execute would do."""
    if change.new_days == change.old_days:
        return f"The retention period is already {change.old_days} days: --execute would change nothing."
    refusal = change.refusal(force=force)
    if isinstance(refusal, RetentionHeld):
        verdict = (
            f"With --execute it would be REFUSED: legal hold(s) {', '.join(change.hold_ids)} cover "
            "messages it drops; a hold is never overridden, --force included."
        )
    elif refusal is not None:
        verdict = (
            f"With --execute it would be REFUSED: {change.would_lose} message(s) are not archived and "
            "verified; archive and verify those days, or add --force to accept the loss."
        )
    elif change.would_lose:
        verdict = f"With --execute --force it would be applied, FORCED: {change.would_lose} message(s) lost."
    else:
        verdict = "With --execute it would be applied."
    return (
        f"Dry run: retention period {change.old_days} -> {change.new_days} days; nothing was sent.\n"
        f"{change.describe()}\n{verdict}"
    )


def set_retention(
    storage: ArchiveStorage,
    client: RingCentralClient,
    days: int,
    *,
    force: bool = False,
    operator: str,
    now: datetime | None = None,
    tz: str,
) -> RetentionSetResult:
    """Set the message store's retention period.

    Refused (`RetentionHeld`, ``force`` or not) whenever an active legal hold covers a message the new
    period makes RingCentral drop: a hold is never overridden. Refused (`RetentionRefused`) when
    RingCentral would drop fax or voicemail that is not archived and verified, unless ``force``
    (accepting that loss, recorded as forced). Out-of-bounds values are refused before any request.

    Audited like every change at the source: an intent entry (old and new value, forced or not,
    per-day counts, the ids that would be lost) is written before the PUT, and its outcome after it,
    so a crash between them still leaves the intent in the trail.
    """
    check_bounds(days)
    change = check_retention_change(storage, client, days, tz=tz, now=now)
    if days == change.old_days:
        return RetentionSetResult(change, applied=False)
    refusal = change.refusal(force=force)
    if refusal is not None:
        raise refusal
    forced = change.would_lose > 0
    scope = {**change.scope(), "forced": forced}

    def record(action: str, items: Sequence[Mapping[str, Any]] = (), **details: Any) -> int:
        entry = audit.append(
            storage,
            command="retention set",
            operator=operator,
            action=action,
            scope=scope,
            items=items,
            details=details,
        )
        return entry.seq

    intent = record(
        "retention_intent",
        change.lost_items(),
        per_day=change.per_day(),
        would_lose=change.would_lose,
        holds=change.hold_ids,
    )
    try:
        answer = client.set_message_store_configuration(days)
    except Exception as exc:
        # The class and HTTP status only: an exception's text never goes into the trail.
        record("retention_outcome", outcome=f"failed: {error_summary(exc)}")
        raise
    outcome = record("retention_outcome", outcome="set", retention_period=answer.get("retentionPeriod"))
    return RetentionSetResult(change, True, forced, answer, (intent, outcome))


# ------------------------------------------------------------------------------------- snapshots


def snapshot_retention(storage: ArchiveStorage, client: RingCentralClient, day: date) -> RetentionSettings:
    """Store RingCentral's answers (message-store-configuration and service-info) as the client
    returned them, with the time they were read, at `retention_snapshot_path(day)` (atomically; a
    second snapshot of the same day replaces the first)."""
    configuration = client.get_message_store_configuration()
    service_info = client.service_info()
    settings = RetentionSettings.from_answers(configuration, service_info)
    storage.write_json(
        storage.retention_snapshot_path(day),
        {
            "snapshot_date": day.isoformat(),
            "fetched_at": datetime.now(UTC).isoformat(),
            "message_store_configuration": configuration,
            "service_info": service_info,
        },
    )
    return settings


def snapshot_days(storage: ArchiveStorage) -> list[date]:
    """Every day with a retention snapshot, oldest first."""
    probe_day = date(2000, 1, 1)
    probe = storage.retention_snapshot_path(probe_day)
    folder = probe.rsplit("/", 1)[0]
    # The file name around the date, as the storage layer spells it.
    prefix, _, suffix = storage.fs_name(probe).partition(probe_day.isoformat())
    storage.fs.invalidate_cache(folder)
    try:
        names = storage.fs.ls(folder, detail=False)
    except FileNotFoundError:
        return []
    found = []
    for path in names:
        name = storage.fs_name(path)
        if name.startswith(prefix) and name.endswith(suffix):
            with contextlib.suppress(ValueError):
                found.append(date.fromisoformat(name[len(prefix) : len(name) - len(suffix)]))
    return sorted(found)


def load_snapshot(storage: ArchiveStorage, day: date) -> RetentionSettings:
    value = storage.read_json(storage.retention_snapshot_path(day))
    return RetentionSettings.from_answers(value["message_store_configuration"], value["service_info"])


def retention_shortened(
    storage: ArchiveStorage, *, tz: str, day: date | None = None, now: datetime | None = None
) -> tuple[bool, dict[str, Any]]:
    """Whether the retention RingCentral has now (the snapshot of ``day``, default the latest) leaves
    the archive's coverage intact. Reads the archive only.

    The rule. For each time-limited type (`RetentionSettings.limits`: Fax at min(period, 30), VoiceMail
    at the period, Recording at 90 days or 30 on HIPAA accounts), with L its limit now:

    1. Deletion edge: the days RingCentral drops today and tomorrow (the days holding now - L and
       now - L + 24 h, in ``tz``) must be archived and verified.
    2. Shortening: when the previous snapshot (the latest before ``day``) had a longer limit L' for the
       type, every day from the one holding now - L' to the one holding now - L (what the shortening
       drops at once) must be archived and verified.

    Both only ask this of days on or after the first day the archive holds of the type: the archive
    never covered earlier days, and nothing of a type never archived is checked. Message days are
    verified with the message checks, Recording days with the call and recording checks. It fails
    naming each such day that is missing or fails a check; the details also say what changed.
    """
    available = snapshot_days(storage)
    if day is None:
        if not available:
            raise FileNotFoundError("no retention snapshot yet: materialise `retention_settings` first")
        day = available[-1]
    current = load_snapshot(storage, day)
    earlier = [d for d in available if d < day]
    previous = load_snapshot(storage, earlier[-1]) if earlier else None
    now = now or datetime.now(UTC)
    zone = ZoneInfo(tz)
    limits = current.limits()
    previous_limits = previous.limits() if previous else {}
    verifier = DayVerifier(storage, tz)
    # (type, day) -> why the day must be archived and verified.
    required: dict[tuple[str, date], list[str]] = {}
    shortened = {}
    for kind, limit in limits.items():
        first = verifier.first_archived(kind)
        if first is None:
            continue
        edge = now - timedelta(days=limit)
        edge_day = edge.astimezone(zone).date()
        at_edge = f"{kind} at RingCentral's {limit}-day deletion edge"
        wanted = {edge_day: at_edge, (edge + timedelta(days=1)).astimezone(zone).date(): at_edge}
        before = previous_limits.get(kind)
        if before is not None and before > limit:
            shortened[kind] = f"{before} -> {limit} days"
            start = (now - timedelta(days=before)).astimezone(zone).date()
            for d in days_between(start, edge_day):
                wanted[d] = f"{kind} dropped by the shortening {before} -> {limit} days"
        for d, why in wanted.items():
            if d >= first:
                required.setdefault((kind, d), []).append(why)
    # Fax and VoiceMail share the message checks: a day is verified (and named) once for both.
    by_day: dict[tuple[str, date], list[str]] = {}
    for (kind, d), whys in required.items():
        by_day.setdefault(("Recording" if kind == "Recording" else "VoiceMail", d), []).extend(whys)
    failing = []
    for (data_type, d), whys in sorted(by_day.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        problem = verifier.problem(data_type, d)
        if problem is not None:
            failing.append(f"{d}: {problem} ({'; '.join(dict.fromkeys(whys))})")
    details: dict[str, Any] = {
        "snapshot": day.isoformat(),
        "retention_period": current.retention_period,
        "hipaa": current.hipaa,
        "limits_days": limits,
        "previous_snapshot": earlier[-1].isoformat() if earlier else None,
        "previous_retention_period": previous.retention_period if previous else None,
        "previous_limits_days": previous_limits or None,
        "shortened": shortened,
        "days_checked": format_days(d for _, d in required),
        "failing_days": failing,
    }
    if failing:
        details["problem"] = (
            f"{len(failing)} day(s) RingCentral drops now are not archived and verified: "
            + ", ".join(dict.fromkeys(f.split(":", 1)[0] for f in failing))
        )
    return not failing, details


# -------------------------------------------------------------------------------------------- CLI


def _show(args: argparse.Namespace) -> int:
    tz = PipelineSettings.from_env().timezone
    storage = archive()
    if args.all:
        days = None
    else:
        today = datetime.now(ZoneInfo(tz)).date()
        end = args.end or today - timedelta(days=1)
        start = args.start or end - timedelta(days=SHOW_DAYS - 1)
        days = days_between(start, end)
    with account_client() as client:
        settings = read_retention(client)
    print(format_retention(settings, archive_coverage(storage, tz, days, verify=not args.quick), days=days))
    return 0


def _set(args: argparse.Namespace) -> int:
    check_bounds(args.days)  # before settings are read or anything is sent
    tz = PipelineSettings.from_env().timezone
    storage = archive()
    operator = operator_of(args)
    with account_client() as client:
        if not args.execute:
            # Reads only: the period, then each mailbox listed for the window the change would drop.
            change = check_retention_change(storage, client, args.days, tz=tz)
            print(describe_dry_run(change, force=args.force))
            print("Nothing was sent; add --execute to apply it.")
            return 1 if change.refusal(force=args.force) else 0
        try:
            result = set_retention(storage, client, args.days, force=args.force, operator=operator, tz=tz)
        except RetentionRefused as refused:
            print(str(refused), file=sys.stderr)
            return 1
    print(result.describe())
    return 0


def retention_command(argv: Sequence[str]) -> int:
    """`rc-pipeline retention show|set`. Exit 0 done (or, without --execute, would be done), 1 refused
    (a legal hold covers what it drops, or unarchived messages without --force), 2 error."""
    parser = argparse.ArgumentParser(
        prog="rc-pipeline retention",
        description="RingCentral's retention settings beside the archive's verified coverage.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    show = sub.add_parser(
        "show",
        help="the retention period, HIPAA flag, what RingCentral keeps and what the archive holds",
        description="Print the retention period, the HIPAA flag, what RingCentral keeps of each data type, "
        f"and per data type the days the archive holds archived and verified (default: the {SHOW_DAYS} "
        "days before today; verifying re-hashes every archived file of those days).",
    )
    show.add_argument("--start", type=date.fromisoformat, help="first day of the coverage, YYYY-MM-DD")
    show.add_argument("--end", type=date.fromisoformat, help="last day of the coverage (default yesterday)")
    show.add_argument("--all", action="store_true", help="every archived day (re-hashes the whole archive)")
    show.add_argument("--quick", action="store_true", help="which days are archived, without re-verifying")
    change = sub.add_parser(
        "set",
        help="set the message store's retention period (fax and voicemail), refusing unsafe changes",
        description="Set RingCentral's retention period for fax and voicemail (7..90 days). Without "
        "--execute it only prints what would change (old -> new, and per day what RingCentral would drop "
        "and how much of it the archive holds verified) and sends nothing. Refused when RingCentral would "
        "then drop messages that are not archived and verified (--force accepts that loss), and always "
        "when a legal hold covers any of them. Audited before and after the change.",
    )
    change.add_argument("days", type=int, help=f"{MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS}")
    change.add_argument("--execute", action="store_true", help="apply it; without it nothing is sent")
    change.add_argument(
        "--force",
        action="store_true",
        help="accept that RingCentral drops messages not archived and verified (never those under a hold)",
    )
    change.add_argument(
        "--operator", help="who runs this, for the audit trail (default RC_OPERATOR, the OS user)"
    )
    args = parser.parse_args(list(argv))
    try:
        return _set(args) if args.action == "set" else _show(args)
    except (ValueError, RingCentralError, FileNotFoundError) as exc:
        print(f"rc-pipeline retention {args.action}: {exc}".splitlines()[0], file=sys.stderr)
        return 2

"""RingCentral's own deletions over simulated time (API-NOTES §9), as pure functions of seed and time.

Every rule answers "when does this item go?" (epoch ms), so a listing at any instant, a test's ground
truth and a benchmark's loss count all agree. Nothing is stored: deletions that have happened are
those whose time is <= now. Per-day counts are computed lazily and cached, so accounts of 100k calls
a day stay cheap.

Rules (the SimulatorConfig fields name the limits):
- recording_retention: an automatic recording (call or leg) goes `recording_retention_days` after its
  call started (at most 30 days on a HIPAA account). On-demand recordings have no time limit.
- recording_account_limit: the account keeps the newest `recordings_account_limit` automatic
  recordings; a recording goes when that many newer ones have started (newer = later call start).
  Recordings deleted through the API still count (stricter than freeing their slots).
- call_log_retention: a call record disappears `call_log_retention_days` after its start.
- voicemail_box_limit / sms_folder_limit: a mailbox keeps its newest `voicemail_box_limit` voicemails
  and per folder (Inbox = inbound, Sent = outbound) its newest `sms_folder_limit` SMS/MMS; every
  generated message counts, whatever its state.
- sent_fax_days: an outbound fax goes that many days after it was created.
- hipaa_received_fax: on a HIPAA account a received fax goes 30 days after it arrived.
- message_retention: fax and voicemail go once older than the message store's retentionPeriod in
  force at that moment (a shorter period set through the API deletes the older ones at once; a
  longer one never brings anything back).
- user_purge: a `user_purge_share` of all messages (chosen per message from the seed) is purged by
  its user at a time within `user_purge_within_hours` of its creation.
Messages deleted by a rule read as availability Purged (lastModifiedTime = the deletion time) with
attachments answering 404; recordings answer 404 while their call record stays listed.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rc_pipeline.simulator.calllog import REC_AUTOMATIC, CallLog, RecordingRef, day_of_ms

DAY_MS = 86_400_000
# Private key on generated messages: creation time in epoch ms (messages.py strips it from answers).
CREATED = "_created_ms"
HIPAA_RECORDING_DAYS = 30
STARTS_CACHE_DAYS = 16

RECORDING_RETENTION = "recording_retention"
RECORDING_ACCOUNT_LIMIT = "recording_account_limit"
CALL_LOG_RETENTION = "call_log_retention"
VOICEMAIL_BOX_LIMIT = "voicemail_box_limit"
SMS_FOLDER_LIMIT = "sms_folder_limit"
SENT_FAX_DAYS = "sent_fax_days"
HIPAA_RECEIVED_FAX = "hipaa_received_fax"
HIPAA_FAX_DAYS = 30
MESSAGE_RETENTION = "message_retention"
USER_PURGE = "user_purge"


@dataclass(frozen=True)
class RuleDeletion:
    """When RingCentral's rules delete an item (it may still be in the future) and which rule does."""

    at_ms: int
    rule: str

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.at_ms / 1000, UTC)


def earliest(*candidates: RuleDeletion | None) -> RuleDeletion | None:
    found = [c for c in candidates if c is not None]
    return min(found, key=lambda c: c.at_ms) if found else None


def unit_draw(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (stable across processes, unlike hash())."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class RecordingRules:
    """Expiry of automatic recordings: time retention and the account-wide count limit."""

    def __init__(self, calls: CallLog, retention_days: int, account_limit: int) -> None:
        self.calls = calls
        self.retention_ms = retention_days * DAY_MS
        self.limit = account_limit
        self._counts: dict[int, int] = {}
        self._starts: OrderedDict[int, array] = OrderedDict()
        self._lock = threading.Lock()

    def _day_keys(self, day: int) -> array:
        """The day's automatic recordings as sorted keys start_ms * 2 + leg (call before its leg)."""
        with self._lock:
            found = self._starts.get(day)
            if found is not None:
                self._starts.move_to_end(day)
                return found
        sk = self.calls.skeleton(day)
        keys = []
        for i in range(len(sk)):
            if sk.recording[i] == REC_AUTOMATIC:
                keys.append(sk.start_ms(i) * 2)
            if sk.leg_recording[i] == REC_AUTOMATIC:
                keys.append(sk.start_ms(i) * 2 + 1)
        built = array("q", sorted(keys))
        with self._lock:
            self._starts[day] = built
            self._counts[day] = len(built)
            while len(self._starts) > STARTS_CACHE_DAYS:
                self._starts.popitem(last=False)
        return built

    def _count(self, day: int) -> int:
        with self._lock:
            found = self._counts.get(day)
        return found if found is not None else len(self._day_keys(day))

    def deletion(self, ref: RecordingRef, until_ms: int) -> RuleDeletion | None:
        """When the recording is deleted by the rules, if that is at or before `until_ms`."""
        sk = self.calls.skeleton(ref.day)
        kind = sk.leg_recording[ref.index] if ref.leg else sk.recording[ref.index]
        if kind != REC_AUTOMATIC:
            return None  # on-demand recordings are kept until someone deletes them
        start = sk.start_ms(ref.index)
        expiry = RuleDeletion(start + self.retention_ms, RECORDING_RETENTION)
        cap = self._cap_drop(start * 2 + int(ref.leg), ref.day, min(until_ms, expiry.at_ms))
        found = earliest(expiry, cap)
        return found if found is not None and found.at_ms <= until_ms else None

    def _cap_drop(self, key: int, day: int, until_ms: int) -> RuleDeletion | None:
        """When `limit` newer automatic recordings exist (searching no later than until_ms)."""
        keys = self._day_keys(day)
        newer_from = bisect.bisect_right(keys, key)
        remaining = self.limit
        if len(keys) - newer_from >= remaining:
            return RuleDeletion(keys[newer_from + remaining - 1] // 2, RECORDING_ACCOUNT_LIMIT)
        remaining -= len(keys) - newer_from
        last_day = day_of_ms(until_ms)
        for later in range(day + 1, last_day + 1):
            count = self._count(later)
            if count >= remaining:
                return RuleDeletion(self._day_keys(later)[remaining - 1] // 2, RECORDING_ACCOUNT_LIMIT)
            remaining -= count
        return None


class RetentionHistory:
    """The message store's retentionPeriod over time: (since_ms, days) in order; the first since -inf."""

    def __init__(self, days: int) -> None:
        self._periods: list[tuple[int, int]] = [(-(2**62), days)]
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        with self._lock:
            return self._periods[-1][1]

    def set(self, days: int, now_ms: int) -> None:
        with self._lock:
            if days != self._periods[-1][1]:
                self._periods.append((max(now_ms, self._periods[-1][0] + 1), days))

    def reset(self, days: int) -> None:
        with self._lock:
            self._periods = [(-(2**62), days)]

    def deletion_ms(self, created_ms: int) -> int | None:
        """First instant at which the message is older than the period then in force (None: not yet
        known, i.e. not before the last change's period makes it old; that is always finite)."""
        with self._lock:
            periods = list(self._periods)
        for n, (since, days) in enumerate(periods):
            due = max(since, created_ms + days * DAY_MS)
            following = periods[n + 1][0] if n + 1 < len(periods) else None
            if following is None or due < following:
                return due
        return None


class _Boxes:
    """One mailbox's voicemail and SMS folders as sorted creation times, extended day by day."""

    def __init__(self, first_day: int) -> None:
        self.next_day = first_day
        self.folders: dict[str, list[int]] = {"VoiceMail": [], "Inbox": [], "Sent": []}


def folder_of(msg: dict) -> str | None:
    """The capped folder a message counts in: VoiceMail, Inbox or Sent (SMS/MMS), else None."""
    if msg["type"] == "VoiceMail":
        return "VoiceMail"
    if msg["type"] == "SMS":
        return "Inbox" if msg["direction"] == "Inbound" else "Sent"
    return None


@dataclass(frozen=True)
class MessageLimits:
    voicemail_box_limit: int
    sms_folder_limit: int
    sent_fax_days: int
    user_purge_share: float
    user_purge_within_hours: float
    hipaa: bool = False


class MessageRules:
    """Deletion times of generated messages. `day_messages(ext_index, day)` gives a mailbox day, oldest first."""

    def __init__(
        self,
        seed: int,
        first_day: int,
        limits: MessageLimits,
        retention: RetentionHistory,
        day_messages: Callable[[int, int], list[dict]],
    ) -> None:
        self.seed = seed
        self.first_day = first_day
        self.limits = limits
        self.retention = retention
        self._day_messages = day_messages
        self._boxes: dict[int, _Boxes] = {}
        self._lock = threading.Lock()

    def _folder_times(self, ext_index: int, folder: str, through_day: int) -> list[int]:
        """The folder's creation times, sorted, from the first day through `through_day` at least."""
        with self._lock:
            boxes = self._boxes.setdefault(ext_index, _Boxes(self.first_day))
            while boxes.next_day <= through_day:
                for msg in self._day_messages(ext_index, boxes.next_day):
                    name = folder_of(msg)
                    if name is not None:
                        boxes.folders[name].append(msg[CREATED])
                boxes.next_day += 1
            return boxes.folders[folder]

    def _cap_drop(
        self, ext_index: int, msg: dict, limit: int, rule: str, until_ms: int
    ) -> RuleDeletion | None:
        folder = folder_of(msg)
        if folder is None:
            return None
        created = msg[CREATED]
        day = day_of_ms(created)
        last_day = day_of_ms(until_ms)
        while True:
            times = self._folder_times(ext_index, folder, day)
            position = bisect.bisect_right(times, created)  # first newer message (same-ms ones come first)
            if position + limit - 1 < len(times):
                drop = times[position + limit - 1]
                return RuleDeletion(drop, rule) if drop <= until_ms else None
            if day >= last_day:
                return None
            day += 1

    def deletion(self, ext_index: int, msg: dict, until_ms: int) -> RuleDeletion | None:
        """When the rules delete this (generated, unmodified) message, if at or before `until_ms`."""
        created, kind = msg[CREATED], msg["type"]
        limits = self.limits
        found: list[RuleDeletion | None] = []
        if limits.user_purge_share > 0 and unit_draw(self.seed, "purge", msg["id"]) < limits.user_purge_share:
            delay = unit_draw(self.seed, "purge-at", msg["id"]) * limits.user_purge_within_hours * 3_600_000
            found.append(RuleDeletion(created + 1 + int(delay), USER_PURGE))
        if kind == "Fax" and msg["direction"] == "Outbound":
            found.append(RuleDeletion(created + limits.sent_fax_days * DAY_MS, SENT_FAX_DAYS))
        if kind == "Fax" and msg["direction"] == "Inbound" and limits.hipaa:
            found.append(RuleDeletion(created + HIPAA_FAX_DAYS * DAY_MS, HIPAA_RECEIVED_FAX))
        if kind in ("Fax", "VoiceMail"):
            due = self.retention.deletion_ms(created)
            if due is not None:
                found.append(RuleDeletion(due, MESSAGE_RETENTION))
        bound = min([until_ms] + [f.at_ms for f in found if f is not None])
        if kind == "VoiceMail":
            found.append(
                self._cap_drop(ext_index, msg, limits.voicemail_box_limit, VOICEMAIL_BOX_LIMIT, bound)
            )
        elif kind == "SMS":
            found.append(self._cap_drop(ext_index, msg, limits.sms_folder_limit, SMS_FOLDER_LIMIT, bound))
        first = earliest(*found)
        return first if first is not None and first.at_ms <= until_ms else None

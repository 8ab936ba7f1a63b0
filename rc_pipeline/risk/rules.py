"""RingCentral's deletion rules as data: what it drops, when, and how many it keeps.

The archive exists because RingCentral deletes (API notes, retention on RingCentral's side):
automatic call recordings after 90 days (30 on a HIPAA account) and beyond 100,000 per account, oldest
first; voicemail beyond 200 per box, oldest replaced; sent faxes after 30 days; received faxes after 30
days on a HIPAA account; SMS/MMS beyond 5,000 per folder per user; the call log after 12 months. The
message store's `retentionPeriod` (message-store-configuration, 7..90 days) deletes fax and voicemail
older than it. Nothing here talks to RingCentral: callers pass what they read (HIPAA flag, retention
period, counts) and get deadlines and counts back. All times are UTC-aware datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Data types the rules (and the risk monitor) speak of, in the order reports list them.
RECORDING = "recording"
VOICEMAIL = "voicemail"
FAX_SENT = "fax_sent"
FAX_RECEIVED = "fax_received"
SMS = "sms"
CALL_LOG = "call_log"
DATA_TYPES = (RECORDING, VOICEMAIL, FAX_SENT, FAX_RECEIVED, SMS, CALL_LOG)

# Time limits, in days.
RECORDING_RETENTION_DAYS = 90
HIPAA_RECORDING_RETENTION_DAYS = 30
SENT_FAX_RETENTION_DAYS = 30
HIPAA_RECEIVED_FAX_RETENTION_DAYS = 30
# "12 months": 365 days is never later than the calendar's twelve months, so a deadline is never late.
CALL_LOG_RETENTION_DAYS = 365
# The message store's retention setting (fax and voicemail only; SMS has no time limit).
MESSAGE_RETENTION_MIN_DAYS = 7
MESSAGE_RETENTION_MAX_DAYS = 90

# Count limits: beyond them the oldest items go first.
RECORDINGS_ACCOUNT_LIMIT = 100_000
VOICEMAIL_BOX_LIMIT = 200
SMS_FOLDER_LIMIT = 5_000  # per user, per folder (Inbox, Sent)


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a timezone (got naive {moment.isoformat()})")


def recording_retention_days(hipaa: bool) -> int:
    """How many days RingCentral keeps an automatic call recording."""
    return HIPAA_RECORDING_RETENTION_DAYS if hipaa else RECORDING_RETENTION_DAYS


def recording_deadline(start_time: datetime, hipaa: bool) -> datetime:
    """When RingCentral deletes the automatic recording of a call that started at `start_time`."""
    _require_aware(start_time, "start_time")
    return start_time + timedelta(days=recording_retention_days(hipaa))


def call_log_deadline(start_time: datetime) -> datetime:
    """When the call log record of a call that started at `start_time` leaves RingCentral."""
    _require_aware(start_time, "start_time")
    return start_time + timedelta(days=CALL_LOG_RETENTION_DAYS)


def check_retention_period(days: int | None) -> int | None:
    """A message store retentionPeriod as read from the source, checked (None: not known)."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValueError(f"retentionPeriod must be a whole number of days, got {days!r}")
    if not MESSAGE_RETENTION_MIN_DAYS <= days <= MESSAGE_RETENTION_MAX_DAYS:
        raise ValueError(
            f"retentionPeriod must be {MESSAGE_RETENTION_MIN_DAYS}..{MESSAGE_RETENTION_MAX_DAYS} days, got {days}"
        )
    return days


@dataclass(frozen=True)
class AccountRetention:
    """What the account announces: the HIPAA flag (service-info) and the message store's retentionPeriod."""

    hipaa: bool = False
    retention_period_days: int | None = None

    def __post_init__(self) -> None:
        check_retention_period(self.retention_period_days)

    def message_retention_days(self, data_type: str) -> int | None:
        """Days RingCentral keeps a message of this type; None when only count limits apply."""
        limits: list[int] = []
        if data_type in (VOICEMAIL, FAX_SENT, FAX_RECEIVED) and self.retention_period_days is not None:
            limits.append(self.retention_period_days)
        if data_type == FAX_SENT:
            limits.append(SENT_FAX_RETENTION_DAYS)
        elif data_type == FAX_RECEIVED and self.hipaa:
            limits.append(HIPAA_RECEIVED_FAX_RETENTION_DAYS)
        elif data_type not in (VOICEMAIL, FAX_RECEIVED, SMS):
            raise ValueError(f"not a message data type: {data_type!r}")
        return min(limits) if limits else None

    def message_deadline(self, data_type: str, creation_time: datetime) -> datetime | None:
        """When a message created at `creation_time` expires by time; None when no time limit applies."""
        _require_aware(creation_time, "creation_time")
        days = self.message_retention_days(data_type)
        return None if days is None else creation_time + timedelta(days=days)

    def recording_deadline(self, start_time: datetime) -> datetime:
        return recording_deadline(start_time, self.hipaa)


def message_data_type(message_type: str, direction: str | None) -> str | None:
    """The rules' data type of a message-store record (type + direction); None for types not ruled."""
    if message_type == "VoiceMail":
        return VOICEMAIL
    if message_type == "Fax":
        return FAX_SENT if direction == "Outbound" else FAX_RECEIVED
    if message_type == "SMS":
        return SMS
    return None


def count_limit(data_type: str) -> int | None:
    """The count limit of a box (voicemail), folder (SMS) or account (recordings); None otherwise."""
    return {VOICEMAIL: VOICEMAIL_BOX_LIMIT, SMS: SMS_FOLDER_LIMIT, RECORDING: RECORDINGS_ACCOUNT_LIMIT}.get(
        data_type
    )


def over_limit(count: int, limit: int, arriving: int = 0) -> int:
    """How many of the oldest items a box holding `count` drops once `arriving` more come in.

    RingCentral keeps the newest `limit`; the rest, oldest first, go. Never more than the box holds now
    (the arriving ones push out old ones, not each other, while the box is at least `limit` large).
    """
    if count < 0 or arriving < 0 or limit < 0:
        raise ValueError(f"counts must not be negative (count={count}, limit={limit}, arriving={arriving})")
    return min(count, max(0, count + arriving - limit))

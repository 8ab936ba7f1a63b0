"""Voicemail, fax and SMS at risk: each mailbox listed at the source (Light), the rules applied."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rc_pipeline.message_store.fetch import LISTING_AVAILABILITY
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.risk import rules
from rc_pipeline.risk.rules import RINGCENTRAL_LIMITS, AccountRetention, CountLimits, count_deadlines
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.columns import parse_iso

# How far back a mailbox is listed: SMS has no time limit, so its folder count needs the whole history.
SOURCE_LOOKBACK_DAYS = 3650
# The message types listed at the source (Pager has no documented limit).
LISTED_TYPES = ("VoiceMail", "Fax", "SMS")
PAGE_SIZE = 1000


def mailboxes(storage: ArchiveStorage) -> list[int]:
    """The mailboxes of the archive's latest directory snapshot."""
    snapshots = storage.list_partitions(Dataset.EXTENSIONS)
    if not snapshots:
        return []
    column = storage.read_parquet(Dataset.EXTENSIONS, snapshots[-1]).column("id").to_pylist()
    return sorted({i for i in column if i is not None})


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
    messages: Sequence[SourceMessage],
    account: AccountRetention,
    now: datetime,
    horizon_days: int,
    limits: CountLimits = RINGCENTRAL_LIMITS,
) -> list[tuple[SourceMessage, datetime, str]]:
    """The messages of one mailbox RingCentral drops before now + horizon: (message, deadline, rule)."""
    deadline: dict[str, tuple[datetime, str]] = {}
    boxes: dict[str, list[SourceMessage]] = defaultdict(list)
    for message in messages:
        by_time = account.message_deadline(message.data_type, message.created)
        if by_time is not None:
            deadline[message.id] = (by_time, "time")
        if limits.of(message.data_type) is not None and message.alive:
            boxes[message.box].append(message)
    for box in boxes.values():
        limit = limits.of(box[0].data_type)
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

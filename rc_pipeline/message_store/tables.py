"""A day's raw message store -> the typed `messages` and `message_attachments` partitions."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from rc_pipeline.days import DayWindow
from rc_pipeline.message_store.captured import captured_attachment_index, captured_records
from rc_pipeline.message_store.raw import read_attachment_index, read_export_records, read_listing_records
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.transform.messages import attachments_table, messages_table, unique_messages


def raw_dataset(export: bool) -> Dataset:
    """The raw layer a path writes: export zips, or listing pages."""
    return Dataset.RAW_MESSAGE_EXPORT if export else Dataset.RAW_MESSAGE_STORE


@dataclass(frozen=True)
class MessageTables:
    messages: pa.Table
    attachments: pa.Table
    duplicates_dropped: int


def write_message_tables(
    storage: ArchiveStorage, window: DayWindow, *, export: bool, limits: ZipLimits
) -> MessageTables:
    """Replace the day's typed partitions from every fetch in its raw layer plus every message
    captured for the day (message-sync), newest version winning.

    The daily export or listing makes the day complete; captures add what it cannot see any more
    (messages purged since they were captured) and changes made after it ran. FileNotFoundError when
    the raw layer of the day is not complete.
    """
    day = window.day
    # Noted before reading: a capture landing meanwhile leaves the day behind, to be rebuilt again.
    signature = storage.capture_signature(day)
    records = read_export_records(storage, day, limits) if export else read_listing_records(storage, day)
    index = read_attachment_index(storage, raw_dataset(export), day)
    # Captures come after the daily fetch: of equally new versions the later one read wins.
    records += captured_records(storage, window)
    index = {**captured_attachment_index(storage, day), **index}
    unique, duplicates, _ = unique_messages(records)
    messages = messages_table(unique, day)
    attachments = attachments_table(unique, index, day)
    storage.write_parquet(Dataset.MESSAGES, day, messages)
    storage.write_parquet(Dataset.MESSAGE_ATTACHMENTS, day, attachments)
    storage.record_messages_built_from(day, signature)
    return MessageTables(messages, attachments, duplicates)

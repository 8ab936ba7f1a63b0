"""A day's raw message store -> the typed `messages` and `message_attachments` partitions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa

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
    storage: ArchiveStorage, day: date, *, export: bool, limits: ZipLimits
) -> MessageTables:
    """Replace the day's typed partitions from every fetch in its raw layer (newest version wins).

    FileNotFoundError when the raw layer of the day is not complete.
    """
    records = read_export_records(storage, day, limits) if export else read_listing_records(storage, day)
    index = read_attachment_index(storage, raw_dataset(export), day)
    unique, duplicates, _ = unique_messages(records)
    messages = messages_table(unique, day)
    attachments = attachments_table(unique, index, day)
    storage.write_parquet(Dataset.MESSAGES, day, messages)
    storage.write_parquet(Dataset.MESSAGE_ATTACHMENTS, day, attachments)
    return MessageTables(messages, attachments, duplicates)

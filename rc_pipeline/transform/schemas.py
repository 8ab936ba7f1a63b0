"""Explicit Arrow schemas of the typed datasets.

Schemas are fixed here rather than inferred per partition so that every partition of a
dataset has the same columns and types, whatever a given day happened to contain.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("ms", tz="UTC")

# `deferred`: not fetched because the run's recording budget (RC_RECORDING_BUDGET) was spent; a later
# run fetches it (its deadline is in the storage's deferred list).
RECORDING_STATUSES = ("downloaded", "verified", "missing", "failed", "deferred")


def _party(prefix: str) -> list[pa.Field]:
    return [
        pa.field(f"{prefix}_phone_number", pa.string()),
        pa.field(f"{prefix}_extension_number", pa.string()),
        # The API sends party extension ids as strings; they are the same int64 ids as
        # extension.id, typed so that they join to the extensions table.
        pa.field(f"{prefix}_extension_id", pa.int64()),
        pa.field(f"{prefix}_name", pa.string()),
        pa.field(f"{prefix}_location", pa.string()),
    ]


CALLS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("session_id", pa.string()),
        pa.field("telephony_session_id", pa.string()),
        pa.field("partition_date", pa.date32(), nullable=False),
        pa.field("start_time", TIMESTAMP),
        pa.field("duration_s", pa.int64()),
        pa.field("duration_ms", pa.int64()),
        pa.field("type", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("action", pa.string()),
        pa.field("result", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("reason_description", pa.string()),
        pa.field("internal_type", pa.string()),
        pa.field("transport", pa.string()),
        *_party("from"),
        *_party("to"),
        pa.field("extension_id", pa.int64()),
        pa.field("recording_id", pa.string()),
        pa.field("recording_type", pa.string()),
        pa.field("recording_content_uri", pa.string()),
        pa.field("short_recording", pa.bool_()),
        pa.field("billing_cost_included", pa.float64()),
        pa.field("billing_cost_purchased", pa.float64()),
        pa.field("last_modified_time", TIMESTAMP),
        # Null when the record came without legs (Simple view), 0 when it had an empty list.
        pa.field("leg_count", pa.int32()),
        pa.field("deleted", pa.bool_()),
    ]
)

CALL_LEGS_SCHEMA = pa.schema(
    [
        pa.field("call_id", pa.string(), nullable=False),
        pa.field("leg_index", pa.int32(), nullable=False),
        pa.field("leg_type", pa.string()),
        pa.field("master", pa.bool_()),
        pa.field("start_time", TIMESTAMP),
        pa.field("duration_s", pa.int64()),
        pa.field("type", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("action", pa.string()),
        pa.field("result", pa.string()),
        pa.field("reason", pa.string()),
        *_party("from"),
        *_party("to"),
        pa.field("extension_id", pa.int64()),
        pa.field("recording_id", pa.string()),
        pa.field("recording_type", pa.string()),
        pa.field("recording_content_uri", pa.string()),
        pa.field("partition_date", pa.date32(), nullable=False),
    ]
)

RECORDINGS_MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("recording_id", pa.string(), nullable=False),
        pa.field("call_id", pa.string()),
        # Null when the recording hangs off the call itself rather than one of its legs.
        pa.field("leg_index", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("duration_s", pa.int64()),
        pa.field("path", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("partition_date", pa.date32(), nullable=False),
    ]
)

EXTENSIONS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("extension_number", pa.string()),
        pa.field("name", pa.string()),
        pa.field("type", pa.string()),
        pa.field("sub_type", pa.string()),
        pa.field("status", pa.string()),
        pa.field("first_name", pa.string()),
        pa.field("last_name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("department", pa.string()),
        pa.field("job_title", pa.string()),
        pa.field("site_id", pa.string()),
        pa.field("site_name", pa.string()),
        pa.field("hidden", pa.bool_()),
        pa.field("creation_time", TIMESTAMP),
        pa.field("snapshot_date", pa.date32(), nullable=False),
    ]
)

# The message store: one row per message (SMS/MMS, fax, voicemail, pager) of the partition's window.
MESSAGES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("extension_id", pa.int64()),
        pa.field("partition_date", pa.date32(), nullable=False),
        pa.field("type", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("from_phone_number", pa.string()),
        pa.field("from_extension_number", pa.string()),
        pa.field("from_name", pa.string()),
        # Every recipient: group SMS and faxes can have several.
        pa.field("to_phone_numbers", pa.list_(pa.string())),
        pa.field("to_extension_numbers", pa.list_(pa.string())),
        pa.field("to_names", pa.list_(pa.string())),
        pa.field("subject", pa.string()),
        pa.field("creation_time", TIMESTAMP),
        pa.field("last_modified_time", TIMESTAMP),
        pa.field("read_status", pa.string()),
        pa.field("message_status", pa.string()),
        pa.field("availability", pa.string()),
        pa.field("priority", pa.string()),
        # A string: RingCentral's int64 conversationId overflows JavaScript clients, so the API
        # also sends conversation.id as text, which is what we keep.
        pa.field("conversation_id", pa.string()),
        pa.field("fax_page_count", pa.int32()),
        pa.field("fax_resolution", pa.string()),
        pa.field("vm_transcription_status", pa.string()),
        pa.field("vm_duration_s", pa.int64()),
        pa.field("attachment_count", pa.int32()),
    ]
)

# purged_at_source: the message was first seen (by a capture) already purged by its user, so its
# content never reached the archive; the row keeps what RingCentral said about the attachment.
ATTACHMENT_STATUSES = ("archived", "missing", "purged_at_source")
PURGED_AT_SOURCE = "purged_at_source"

MESSAGE_ATTACHMENTS_SCHEMA = pa.schema(
    [
        pa.field("message_id", pa.int64(), nullable=False),
        pa.field("attachment_id", pa.int64(), nullable=False),
        pa.field("extension_id", pa.int64()),
        pa.field("partition_date", pa.date32(), nullable=False),
        pa.field("message_type", pa.string()),
        pa.field("type", pa.string()),
        pa.field("content_type", pa.string()),
        pa.field("file_name", pa.string()),
        # What RingCentral reported; `bytes` is what the archived file holds.
        pa.field("size", pa.int64()),
        pa.field("vm_duration_s", pa.int64()),
        pa.field("bytes", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("path", pa.string()),
        pa.field("status", pa.string(), nullable=False),
    ]
)

# One row per call seen in one active-calls snapshot (a call in progress across several snapshots has
# a row in each; `snapshot_time` tells them apart).
ACTIVE_CALL_SNAPSHOTS_SCHEMA = pa.schema(
    [
        pa.field("snapshot_time", TIMESTAMP, nullable=False),
        pa.field("partition_date", pa.date32(), nullable=False),
        pa.field("id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("telephony_session_id", pa.string()),
        pa.field("start_time", TIMESTAMP),
        pa.field("duration_s", pa.int64()),
        pa.field("type", pa.string()),
        pa.field("direction", pa.string()),
        pa.field("action", pa.string()),
        pa.field("result", pa.string()),
        *_party("from"),
        *_party("to"),
        pa.field("extension_id", pa.int64()),
    ]
)

"""Names shared across definitions: asset keys, pools, groups."""

from __future__ import annotations

import dagster as dg

# Every asset that calls RingCentral runs in this pool. RingCentral budgets per user and app, so runs in
# parallel gain nothing but penalties; dagster.yaml limits the pool (default 1, raise it for a bigger plan).
API_POOL = "ringcentral_api"
# DuckDB has a single writer: one warehouse build at a time, ever.
DUCKDB_POOL = "duckdb_writer"

EXTENSIONS = dg.AssetKey("extensions")
CALL_LOG_RAW = dg.AssetKey("call_log_raw")
CALLS = dg.AssetKey("calls")
CALL_LEGS = dg.AssetKey("call_legs")
RECORDINGS = dg.AssetKey("recordings")
WAREHOUSE = dg.AssetKey("warehouse")
MESSAGE_STORE_EXPORT_TASK = dg.AssetKey("message_store_export_task")
MESSAGE_STORE_ARCHIVE = dg.AssetKey("message_store_archive")
MESSAGES = dg.AssetKey("messages")
MESSAGE_ATTACHMENTS = dg.AssetKey("message_attachments")

CALL_GROUP = "call_archive"
DIRECTORY_GROUP = "directory"
ANALYTICS_GROUP = "analytics"
MESSAGE_GROUP = "message_store"

MESSAGE_EXPORT_SENSOR = "message_store_export_sensor"

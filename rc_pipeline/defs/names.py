"""Every name other code refers to: asset keys, jobs, schedules, sensors, pools, groups.

Importing this module builds no definitions, so the CLI, tests and benchmarks take their strings
from here instead of from a loaded code location.
"""

from __future__ import annotations

import dagster as dg

from rc_pipeline.storage import Dataset

# Every asset that calls RingCentral runs in this pool. RingCentral budgets per user and app, so runs in
# parallel gain nothing but penalties; dagster.yaml limits the pool (default 1, raise it for a bigger plan).
API_POOL = "ringcentral_api"
# DuckDB has a single writer: one warehouse build at a time, ever.
DUCKDB_POOL = "duckdb_writer"

# ------------------------------------------------------------------------------------------ assets
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
RETENTION_SETTINGS = dg.AssetKey("retention_settings")
LEGAL_HOLDS = dg.AssetKey("legal_holds")
RETENTION_RISK = dg.AssetKey("retention_risk")
# Written by `active_calls_sensor` (opt-in), not by a run.
ACTIVE_CALL_SNAPSHOTS = dg.AssetKey("active_call_snapshots")

# The asset that materialises each typed dataset (the warehouse depends on the ones it reads).
ASSET_OF_DATASET: dict[Dataset, dg.AssetKey] = {
    Dataset.EXTENSIONS: EXTENSIONS,
    Dataset.CALLS: CALLS,
    Dataset.CALL_LEGS: CALL_LEGS,
    Dataset.RECORDINGS: RECORDINGS,
    Dataset.MESSAGES: MESSAGES,
    Dataset.MESSAGE_ATTACHMENTS: MESSAGE_ATTACHMENTS,
}

# The daily assets of each side, in the order a run materialises them.
CALL_SIDE_ASSETS = (CALL_LOG_RAW, CALLS, CALL_LEGS, RECORDINGS)
# What a day whose records changed needs again: everything after the listing.
CALL_REBUILD_ASSETS = (CALLS, CALL_LEGS, RECORDINGS)
MESSAGE_STORE_ASSETS = (MESSAGE_STORE_ARCHIVE, MESSAGES, MESSAGE_ATTACHMENTS)

# ------------------------------------------------------------------------------------------ groups
CALL_GROUP = "call_archive"
DIRECTORY_GROUP = "directory"
ANALYTICS_GROUP = "analytics"
MESSAGE_GROUP = "message_store"
CONTROL_GROUP = "control"
RISK_GROUP = "retention_risk"

# -------------------------------------------------------------------------------------------- jobs
ARCHIVE_JOB = "archive_calls_daily"
SNAPSHOT_JOB = "directory_and_warehouse"
MESSAGE_JOB = "archive_messages_daily"
MESSAGE_DOWNLOAD_JOB = "download_message_store_export"
VERIFY_JOB = "verify_archive"
CONTROL_JOB = "control_snapshot"
PURGE_JOB = "purge_source"
RISK_JOB = "retention_risk_daily"
# calls, legs and recordings of days extract-sync found changed, rebuilt from raw (no listing).
CALL_REBUILD_JOB = "rebuild_calls_from_changes"
# The recordings of a day the budget deferred, fetched later (no call-log request).
DEFERRED_RECORDINGS_JOB = "fetch_deferred_recordings"
# Rebuilds a day's message tables from what is archived (no request): days a capture added to.
MESSAGE_REBUILD_JOB = "rebuild_message_tables"

# ------------------------------------------------------------------------------ schedules, sensors
DAILY_ARCHIVE_SCHEDULE = "daily_archive"
DAILY_MESSAGE_SCHEDULE = "daily_message_archive"
DIRECTORY_SNAPSHOT_SCHEDULE = "daily_directory_snapshot"
MESSAGE_EXPORT_SENSOR = "message_store_export_sensor"
MESSAGE_CAPTURE_SENSOR = "message_capture_sensor"
WAREHOUSE_SENSOR = "warehouse_automation"
CONTROL_SNAPSHOT_SCHEDULE = "daily_control_snapshot"
PURGE_SCHEDULE = "purge_source_daily"
RETENTION_NOT_SHORTENED = "retention_not_shortened"
RISK_SCHEDULE = "daily_retention_risk"
NOTHING_AT_RISK_UNARCHIVED = "nothing_at_risk_unarchived"
CALL_CHANGES_SENSOR = "call_log_changes_sensor"
DEFERRED_RECORDINGS_SENSOR = "deferred_recordings_sensor"
# Run tag naming the day a call-side run writes (archive, rebuild from captures, deferred recordings):
# dagster.yaml limits it to one run per day at a time, so two runs never write a day's tables at once.
CALL_DAY_TAG = "rc_pipeline/call_day"
# The same for the message store's runs of a day (the daily export or listing, its download, a rebuild).
MESSAGE_DAY_TAG = "rc_pipeline/message_day"
ACTIVE_CALLS_SENSOR = "active_calls_sensor"
# The one check that asks RingCentral; everything else in `verify_archive` reads the archive only.
MESSAGES_MATCH_LISTING = dg.AssetCheckKey(MESSAGES, "messages_match_listing")

"""Where every file of the archive lives, relative to the archive root.

This module is the only place that knows the layout; everything else asks
`ArchiveStorage` for paths. The tree under the root (a local directory or an
fsspec URL such as ``s3://bucket/prefix``)::

    <root>/
    ├── raw/                                    system of record, bytes as received
    │   ├── call_log/
    │   │   └── date=YYYY-MM-DD/
    │   │       ├── pages.ndjson.gz             one line per API page (gzip NDJSON)
    │   │       ├── pages.superseded-<ts>.ndjson.gz  earlier fetches that differed (never dropped)
    │   │       └── _manifest.json              window, page/record counts, fetched_at, sha256;
    │   │                                       written last: it is the partition's commit marker
    │   ├── extensions/
    │   │   └── snapshot=YYYY-MM-DD/
    │   │       ├── pages.ndjson.gz             the extension list as received
    │   │       └── _manifest.json
    │   ├── message_store/                      per-extension listing path
    │   │   └── date=YYYY-MM-DD/
    │   │       ├── pages.ndjson.gz             every extension's message-store pages as received
    │   │       ├── _manifest.json
    │   │       └── attachments.json            attachment index: path, bytes, sha256 per file
    │   ├── message_store_export/               export path
    │   │   └── date=YYYY-MM-DD/
    │   │       ├── task=<taskId>/archive_<n>.zip   the export's zips as received
    │   │       ├── attachments.json
    │   │       └── _manifest.json              task, window, parts (size, sha256); written last
    │   ├── call_log_changes/                   call-log-extract-sync answers (changed and new calls)
    │   │   └── date=YYYY-MM-DD/                the day the records started (a page touching two days
    │   │       └── changes-<ts>-<n>.ndjson.gz  is kept under both), one answer per file, as received
    │   ├── active_calls/
    │   │   └── date=YYYY-MM-DD/snapshot-<ts>.ndjson.gz   active-calls answers as received
    │   └── message_capture/                    message-sync responses captured within minutes
    │       └── date=YYYY-MM-DD/                day of the messages' creationTime
    │           ├── extension=<id>/<capturedAt>.ndjson.gz  one line per response as received
    │           ├── attachments.json            attachments downloaded when captured
    │           └── _captures.json              every capture file (bytes, sha256); written last
    ├── parquet/                                typed, rebuilt from raw at will
    │   ├── calls/date=YYYY-MM-DD/part-0.parquet
    │   ├── call_legs/date=YYYY-MM-DD/part-0.parquet
    │   ├── recordings/date=YYYY-MM-DD/manifest.parquet
    │   ├── extensions/snapshot=YYYY-MM-DD/part-0.parquet
    │   ├── messages/date=YYYY-MM-DD/part-0.parquet
    │   ├── message_attachments/date=YYYY-MM-DD/part-0.parquet
    │   └── active_call_snapshots/date=YYYY-MM-DD/part-0.parquet
    ├── recordings/YYYY/MM/DD/<recordingId>.<mp3|wav>
    ├── message_store/content/YYYY/MM/DD/<messageId>/<attachmentId>.<ext>
    ├── state/message_store_export/date=YYYY-MM-DD.json   export task state the sensor reads
    ├── state/message_store_export/.lease       one export poller/submitter at a time
    ├── state/call_log_sync.json                the extract-sync token and when it was taken
    ├── state/calls_built_from/date=YYYY-MM-DD.json  the newest capture a day's calls tables include
    ├── state/raw_checked/<dataset>/date=YYYY-MM-DD.json  last identical re-fetch of a raw partition
    ├── state/recordings_deferred/date=YYYY-MM-DD.json  recordings a run's budget left for later, with
    │                                           the moment RingCentral deletes each (written every run)
    ├── state/message_capture/extension=<id>.json  message-sync token of each extension
    ├── state/message_capture/.lease            one capture at a time
    ├── state/messages_built_from/date=YYYY-MM-DD.json  which captures a day's message tables include
    ├── control/                                control at the source (never rebuilt: evidence)
    │   ├── audit/<seq:012d>.json               hash-chained audit trail, one object per entry
    │   ├── holds/<holdId>.json                 legal holds (released ones stay, marked released)
    │   └── retention/snapshot=YYYY-MM-DD.json  RingCentral's retention settings as read that day
    └── warehouse.duckdb                        local roots only; remote roots configure a local path

Partition keys are calendar days in the pipeline's timezone (RC_TIMEZONE). Temporary files are siblings of their
target named ``.tmp-<uuid>-<name>``; readers ignore anything starting with a dot.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum


class Dataset(StrEnum):
    """Partitioned datasets of the archive; the value is the directory under the root."""

    RAW_CALL_LOG = "raw/call_log"
    RAW_EXTENSIONS = "raw/extensions"
    RAW_MESSAGE_STORE = "raw/message_store"
    RAW_MESSAGE_EXPORT = "raw/message_store_export"
    RAW_MESSAGE_CAPTURE = "raw/message_capture"
    CALLS = "parquet/calls"
    CALL_LEGS = "parquet/call_legs"
    RECORDINGS = "parquet/recordings"
    EXTENSIONS = "parquet/extensions"
    MESSAGES = "parquet/messages"
    MESSAGE_ATTACHMENTS = "parquet/message_attachments"
    ACTIVE_CALL_SNAPSHOTS = "parquet/active_call_snapshots"


# Hive-style key of each dataset's partition directories; extensions are point-in-time
# snapshots of the directory, not activity of a day, so the key says so.
PARTITION_KEY: dict[Dataset, str] = {
    Dataset.RAW_CALL_LOG: "date",
    Dataset.RAW_EXTENSIONS: "snapshot",
    Dataset.RAW_MESSAGE_STORE: "date",
    Dataset.RAW_MESSAGE_EXPORT: "date",
    Dataset.RAW_MESSAGE_CAPTURE: "date",
    Dataset.CALLS: "date",
    Dataset.CALL_LEGS: "date",
    Dataset.RECORDINGS: "date",
    Dataset.EXTENSIONS: "snapshot",
    Dataset.MESSAGES: "date",
    Dataset.MESSAGE_ATTACHMENTS: "date",
    Dataset.ACTIVE_CALL_SNAPSHOTS: "date",
}

# The file that, when present, makes a partition complete.
PARTITION_FILE: dict[Dataset, str] = {
    Dataset.RAW_CALL_LOG: "_manifest.json",
    Dataset.RAW_EXTENSIONS: "_manifest.json",
    Dataset.RAW_MESSAGE_STORE: "_manifest.json",
    Dataset.RAW_MESSAGE_EXPORT: "_manifest.json",
    Dataset.RAW_MESSAGE_CAPTURE: "_captures.json",
    Dataset.CALLS: "part-0.parquet",
    Dataset.CALL_LEGS: "part-0.parquet",
    Dataset.RECORDINGS: "manifest.parquet",
    Dataset.EXTENSIONS: "part-0.parquet",
    Dataset.MESSAGES: "part-0.parquet",
    Dataset.MESSAGE_ATTACHMENTS: "part-0.parquet",
    Dataset.ACTIVE_CALL_SNAPSHOTS: "part-0.parquet",
}

RAW_PAGES_FILE = "pages.ndjson.gz"
RAW_MANIFEST_FILE = "_manifest.json"
RECORDINGS_DIR = "recordings"
MESSAGE_CONTENT_DIR = "message_store/content"
ATTACHMENT_INDEX_FILE = "attachments.json"
EXPORT_STATE_DIR = "state/message_store_export"
# Beside the state files it guards; dot-named because readers ignore dot files (see the tree above).
EXPORT_LEASE_FILE = ".lease"
DEFERRED_RECORDINGS_DIR = "state/recordings_deferred"
CAPTURE_STATE_DIR = "state/message_capture"
CAPTURE_MANIFEST_FILE = "_captures.json"
# Per day: the capture signature its message tables include (the capture sensor rebuilds days behind).
MESSAGES_BUILT_FROM_DIR = "state/messages_built_from"
AUDIT_DIR = "control/audit"
HOLDS_DIR = "control/holds"
RETENTION_DIR = "control/retention"
# Retention-risk reports, one per day: derived from the archive and a look at the source.
RISK_DIR = "reports/retention_risk"
WAREHOUSE_FILE = "warehouse.duckdb"
# Captures between listings: not partitions with a manifest (each file is whole on its own).
CALL_LOG_CHANGES_DIR = "raw/call_log_changes"
ACTIVE_CALLS_DIR = "raw/active_calls"
CALL_LOG_SYNC_STATE_FILE = "state/call_log_sync.json"
# Per day: the newest captured answer its calls/legs tables include (the sensor rebuilds days behind).
CALLS_BUILT_FROM_DIR = "state/calls_built_from"
# When an identical re-fetch of a raw partition was last made: the partition itself is left as it was.
RAW_CHECKED_DIR = "state/raw_checked"
TEMP_PREFIX = ".tmp-"
RAW_DATASETS = frozenset(
    {
        Dataset.RAW_CALL_LOG,
        Dataset.RAW_EXTENSIONS,
        Dataset.RAW_MESSAGE_STORE,
        Dataset.RAW_MESSAGE_EXPORT,
        Dataset.RAW_MESSAGE_CAPTURE,
    }
)

# RingCentral sends audio/mpeg or audio/wav; the aliases cover header variants seen in the wild.
RECORDING_EXTENSIONS: dict[str, str] = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "mp3": "mp3",
    "wav": "wav",
}

# Ids become file names: anything but these characters could escape the directory.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def partition_dir_name(dataset: Dataset, day: date) -> str:
    """``date=YYYY-MM-DD`` (or ``snapshot=...``) for one partition of a dataset."""
    return f"{PARTITION_KEY[dataset]}={day.isoformat()}"


def parse_partition_dir_name(dataset: Dataset, name: str) -> date | None:
    """The day a partition directory stands for, or None for names that are not partitions."""
    prefix = PARTITION_KEY[dataset] + "="
    if not name.startswith(prefix):
        return None
    try:
        return date.fromisoformat(name[len(prefix) :])
    except ValueError:
        return None


def day_dirs(day: date) -> str:
    """``YYYY/MM/DD``: blob stores shard better by day than by one flat directory."""
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def safe_name(value: str, what: str) -> str:
    """Return ``value`` if it is safe as a single path component, else raise ValueError."""
    if not _SAFE_NAME.match(value) or value in {".", ".."}:
        raise ValueError(f"{what} {value!r} is not safe as a file name")
    return value


def recording_extension(content_type: str) -> str:
    """File extension for a recording's content type (``audio/mpeg`` -> ``mp3``)."""
    key = content_type.split(";", 1)[0].strip().lower()
    try:
        return RECORDING_EXTENSIONS[key]
    except KeyError:
        raise ValueError(f"unsupported recording content type {content_type!r}") from None

"""Raw RingCentral records -> typed Arrow tables: pure functions, no I/O (storage writes them)."""

from rc_pipeline.transform.call_log import build_calls_and_legs
from rc_pipeline.transform.checks import duplicate_ids, orphan_legs, records_outside_window
from rc_pipeline.transform.extensions import extensions_table
from rc_pipeline.transform.pages import records_from_pages
from rc_pipeline.transform.recordings import (
    RecordingRef,
    recordings_manifest_table,
    recordings_referenced,
)
from rc_pipeline.transform.schemas import (
    CALL_LEGS_SCHEMA,
    CALLS_SCHEMA,
    EXTENSIONS_SCHEMA,
    RECORDING_STATUSES,
    RECORDINGS_MANIFEST_SCHEMA,
)

__all__ = [
    "CALLS_SCHEMA",
    "CALL_LEGS_SCHEMA",
    "EXTENSIONS_SCHEMA",
    "RECORDINGS_MANIFEST_SCHEMA",
    "RECORDING_STATUSES",
    "RecordingRef",
    "build_calls_and_legs",
    "duplicate_ids",
    "extensions_table",
    "orphan_legs",
    "records_from_pages",
    "records_outside_window",
    "recordings_manifest_table",
    "recordings_referenced",
]

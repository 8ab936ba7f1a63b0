"""Erasure of one person (GDPR art. 17): their extension's messages at RingCentral and in the archive.

`plan_erasure` is the dry run: it finds every trace of the extension's mailbox in the archive (typed
`messages` and `message_attachments` rows, attachment files and their index entries, and the records
inside the raw layers: listing pages, superseded fetches included, and the zips of every export task
of a day, committed or not) and lists the mailbox at the source by explicit windows (Alive and
Deleted). Messages a legal hold covers are named with the hold; while any is, nothing is erased.

`execute_erasure` then purges the messages at the source by explicit ids (at most 50 per request,
never an empty list, never the delete-by-filter endpoint), auditing the ids before each request and
the outcome after it, and rewrites the archive day by day: typed partitions without the rows, the
attachment files and index entries removed, page files and export zips re-written without the
mailbox's records and entries (staged, hashed, published atomically), manifests last. Each rewritten
day is verified afterwards. Audit entries carry ids, counts and per-file sha256 before and after,
never message content.

A crash leaves each file old or new, never half. A re-run finishes the job: it finds what is left,
takes the ids recorded by earlier runs from the audit trail (only once its hash chain verifies: an
edited trail is refused), and brings a manifest up to date when its file holds exactly the bytes an
earlier erasure of this extension recorded writing. The warehouse is rebuilt whenever it may still
hold the extension's rows.

The package, by what each module holds: `model` (the plan, the result, holds blocking it), `records`
(which records are the person's; the JSON surgery), `trail` (the audit trail as memory, verified
first), `scan` (every trace in the archive), `source` (listing and purging at RingCentral), `plan`
(the dry run), `rewrite` (one archive day re-written), `verify` (raw layers and warehouse afterwards),
`retention` (objects S3 Object Lock keeps, which refuse the erasure), `execute` (carrying out a plan).
"""

from __future__ import annotations

from rc_pipeline.control.erase.execute import execute_erasure
from rc_pipeline.control.erase.model import (
    Blocked,
    DayOutcome,
    DayPlan,
    ErasureBlocked,
    ErasurePlan,
    ErasureResult,
    FileChange,
    Progress,
    RawFile,
)
from rc_pipeline.control.erase.plan import plan_erasure
from rc_pipeline.control.erase.records import drop_records
from rc_pipeline.control.erase.retention import ErasureRetained
from rc_pipeline.control.erase.scan import RAW_LAYERS
from rc_pipeline.control.erase.source import MAX_IDS_PER_REQUEST, SOURCE_AVAILABILITY, SOURCE_FLOOR
from rc_pipeline.control.erase.trail import (
    ARCHIVE_DONE,
    ARCHIVE_INTENT,
    COMMAND,
    FINISHED,
    SOURCE_INTENT,
    SOURCE_OUTCOME,
    STARTED,
    AuditTrailBroken,
    erased_extension_ids,
    erased_mailboxes_in,
    error_summary,
    trusted_entries,
)
from rc_pipeline.control.erase.verify import verify_message_raw

__all__ = [
    "ARCHIVE_DONE",
    "ARCHIVE_INTENT",
    "COMMAND",
    "FINISHED",
    "MAX_IDS_PER_REQUEST",
    "RAW_LAYERS",
    "SOURCE_AVAILABILITY",
    "SOURCE_FLOOR",
    "SOURCE_INTENT",
    "SOURCE_OUTCOME",
    "STARTED",
    "AuditTrailBroken",
    "Blocked",
    "DayOutcome",
    "DayPlan",
    "ErasureBlocked",
    "ErasurePlan",
    "ErasureResult",
    "ErasureRetained",
    "FileChange",
    "Progress",
    "RawFile",
    "drop_records",
    "erased_extension_ids",
    "erased_mailboxes_in",
    "error_summary",
    "execute_erasure",
    "plan_erasure",
    "trusted_entries",
    "verify_message_raw",
]

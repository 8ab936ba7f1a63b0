"""Carrying out a plan: `execute_erasure`."""

from __future__ import annotations

import uuid
from datetime import datetime

from rc_pipeline.control import audit
from rc_pipeline.control.erase.model import (
    ErasureBlocked,
    ErasurePlan,
    ErasureResult,
    Progress,
    _blocked,
    _plan_items,
)
from rc_pipeline.control.erase.retention import refuse_retained
from rc_pipeline.control.erase.rewrite import _erase_day
from rc_pipeline.control.erase.scan import _scan_archive
from rc_pipeline.control.erase.source import _delete_at_source, _list_source
from rc_pipeline.control.erase.trail import (
    ARCHIVE_DONE,
    CAPTURE_ERASED,
    COMMAND,
    FINISHED,
    STARTED,
    _unfinished_runs,
    trusted_entries,
)
from rc_pipeline.control.erase.verify import _rebuild_warehouse, _warehouse_holds, verify_message_raw
from rc_pipeline.control.holds import active_holds
from rc_pipeline.days import day_window
from rc_pipeline.message_store.captured import erase_captured
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.worm import is_s3
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.verification import MESSAGE_CHECKS, verify_day


def execute_erasure(
    storage: ArchiveStorage,
    client: RingCentralClient,
    plan: ErasurePlan,
    *,
    operator: str,
    progress: Progress | None = None,
    limits: ZipLimits | None = None,
    rebuild_warehouse: bool = True,
) -> ErasureResult:
    """Carry out ``plan``: purge at the source by id, then re-write the archive, verify, audit.

    Raises `ErasureRetained` (naming an object and its lock) before anything is done when an object it
    would re-write or remove is under S3 Object Lock: records retention overrides erasure.
    Raises `ErasureBlocked` (naming the holds) before anything is done while an active hold covers
    any message of the plan; holds are read again before every delete request and before the archive
    is touched. Raises `AuditTrailBroken` before anything is done when the audit trail does not verify
    (the ids and hashes of earlier erasures are read from it). The archive part scans afresh, so it
    also removes what arrived after the plan. The warehouse is rebuilt when this run re-wrote a day,
    when it still holds rows of the extension, or when an earlier run of this erasure never finished.
    """
    say = progress or (lambda _: None)
    limits = limits or ZipLimits()
    extension_id = plan.extension_id
    # Before anything is sent or written: the trail is what a re-run trusts (AuditTrailBroken).
    unfinished = _unfinished_runs(trusted_entries(storage), extension_id)
    blocked = _blocked(_plan_items(plan), active_holds(storage), extension_id)
    if blocked:
        raise ErasureBlocked(extension_id, blocked)
    # Objects under S3 Object Lock would survive any re-write or delete: refused before anything is
    # sent or written (ErasureRetained), read now rather than trusted from the plan.
    if is_s3(storage.fs):
        refuse_retained(storage, _scan_archive(storage, extension_id, limits, say), extension_id)
    run = uuid.uuid4().hex[:16]
    scope = {"extension_id": extension_id, "run": run}
    result = ErasureResult(extension_id, run)
    entry = audit.append(
        storage,
        command=COMMAND,
        operator=operator,
        action=STARTED,
        scope={**scope, "purge": True, "timezone": plan.timezone},
        items=plan.items(),
        details={
            "planned_at": plan.planned_at,
            "source_windows": len(plan.source_windows),
            "at_source": len(plan.source_ids),
            "in_archive": len(plan.archive_ids),
            "days": [d.day.isoformat() for d in plan.days],
        },
    )
    result.audit_seqs.append(entry.seq)
    status = "stopped"
    try:
        # (a) the source, by explicit ids
        _delete_at_source(storage, client, plan, scope, operator, result, say)
        if plan.extension_at_source:
            windows = [
                (None, datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in plan.source_windows
            ]
            remaining, _ = _list_source(client, extension_id, windows, plan.timezone)
            result.source_remaining = sorted(remaining)
        # (b) the archive, day by day, scanned afresh
        scans = _scan_archive(storage, extension_id, limits, say)
        blocked = _blocked(
            [(i, s.day, s.kinds.get(i)) for s in scans.values() for i in s.ids],
            active_holds(storage),
            extension_id,
        )
        if blocked:
            raise ErasureBlocked(extension_id, blocked)
        # Locked since the check above (a run wrote the day again): the archive stays as it is.
        refuse_retained(storage, scans, extension_id)
        # The capture layer (message-sync) holds whole files per mailbox: they go first, so no day
        # re-written below takes the extension's messages back in from a capture.
        captured = erase_captured(storage, extension_id)
        if captured.files or captured.state_removed:
            entry = audit.append(
                storage,
                command=COMMAND,
                operator=operator,
                action=CAPTURE_ERASED,
                scope=scope,
                items=captured.files,
                details={
                    "messages": len(captured.message_ids),
                    "index_entries_removed": captured.index_entries,
                    "sync_state_removed": captured.state_removed,
                },
            )
            result.audit_seqs.append(entry.seq)
            say(f"archive: {len(captured.files)} capture file(s) of the extension removed")
        for day, scan in sorted(scans.items()):
            outcome = _erase_day(storage, scan, extension_id, scope, operator, limits, result)
            if storage.exists(storage.parquet_path(Dataset.MESSAGES, day)):
                outcome.verdict = verify_day(storage, day_window(day, plan.timezone), MESSAGE_CHECKS)
            outcome.problems += verify_message_raw(storage, day)
            entry = audit.append(
                storage,
                command=COMMAND,
                operator=operator,
                action=ARCHIVE_DONE,
                scope={**scope, "day": day.isoformat()},
                items=[f.item() for f in outcome.files],
                details={
                    "messages": outcome.messages,
                    "message_rows_removed": outcome.message_rows_removed,
                    "attachment_rows_removed": outcome.attachment_rows_removed,
                    "index_entries_removed": outcome.index_entries_removed,
                    "manifests": outcome.manifests,
                    "verified": outcome.passed,
                    "problems": outcome.problems
                    + (
                        [outcome.verdict.describe()] if outcome.verdict and not outcome.verdict.passed else []
                    ),
                },
            )
            result.audit_seqs.append(entry.seq)
            result.days.append(outcome)
            say(f"archive: {day.isoformat()} erased ({'verified' if outcome.passed else 'CHECK FAILED'})")
        # Also when this run found nothing to re-write: an earlier run may have stopped (or been
        # killed) between re-writing the archive and rebuilding the warehouse.
        if rebuild_warehouse and (scans or unfinished or _warehouse_holds(storage, extension_id)):
            result.warehouse_rebuilt = _rebuild_warehouse(storage)
        status = "done" if result.ok else "incomplete"
    finally:
        entry = audit.append(
            storage,
            command=COMMAND,
            operator=operator,
            action=FINISHED,
            scope=scope,
            items=[{"id": str(i), "outcome": "still_at_source"} for i in result.source_remaining],
            details={
                "status": status,
                "source": {
                    o: sum(1 for v in result.source.values() if v == o) for o in set(result.source.values())
                },
                "source_failures": len(result.source_failures),
                "days": {d.day.isoformat(): d.passed for d in result.days},
                "warehouse_rebuilt": result.warehouse_rebuilt,
            },
        )
        result.audit_seqs.append(entry.seq)
    return result

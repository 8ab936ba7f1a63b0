"""Starting and following message-store export tasks: plain functions, no Dagster.

The task asset calls `request_export`; the sensor and `rc-pipeline archive` both call
`advance_exports`, so there is one implementation of polling, queueing, retrying and timing out.
A call to `advance_exports` makes only small API calls: one status read per running task and at
most one submission per free slot (RingCentral runs at most 2 export tasks per account at once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rc_pipeline.ringcentral import InvalidRequest, NotFound, RingCentralClient, RingCentralError
from rc_pipeline.storage import ArchiveStorage

from .export_state import (
    COMPLETED,
    FAILED_TASK_STATUSES,
    GAVE_UP,
    QUEUED,
    SUBMITTED,
    ExportEntry,
    load_all,
    load_entry,
    parse_utc,
    save_entry,
    utc_text,
)
from .message_config import MessageStoreConfig

log = logging.getLogger("rc_pipeline.exports")

# The refusal of a task beyond the per-account limit. RingCentral documents no code for it; MSR-101
# is what the simulator sends. Any other 4xx on submission is a real error and is raised.
TOO_MANY_TASKS_CODES = frozenset({"MSR-101"})
# Backoff doubles per failure but never waits longer than this.
MAX_BACKOFF_SECONDS = 3600.0


@dataclass
class PollReport:
    """What one `advance_exports` call saw and did."""

    entries: list[ExportEntry] = field(default_factory=list)
    status_calls: int = 0
    submitted: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def final(self) -> list[ExportEntry]:
        """Entries ready for their download run (completed, or given up and to be surfaced)."""
        return [e for e in self.entries if e.state in (COMPLETED, GAVE_UP)]

    @property
    def live(self) -> list[ExportEntry]:
        return [e for e in self.entries if e.live]

    def summary(self) -> str:
        return (
            f"{self.status_calls} status call(s); submitted {self.submitted or '-'}; completed "
            f"{self.completed or '-'}; failed {self.failed or '-'}; {len(self.live)} still live"
            + (f"; errors: {'; '.join(self.errors)}" if self.errors else "")
        )


def _running(entries: list[ExportEntry]) -> int:
    return sum(1 for e in entries if e.state == SUBMITTED)


def submit(client: RingCentralClient, entry: ExportEntry, now: datetime) -> bool:
    """POST a message-store report for the entry's window. False when RingCentral has no free slot."""
    try:
        task = client.create_message_store_report(parse_utc(entry.window_start), parse_utc(entry.window_end))
    except InvalidRequest as exc:
        if exc.error_code not in TOO_MANY_TASKS_CODES:
            raise
        entry.error = f"waiting for a free export slot at RingCentral ({exc.error_code})"
        entry.updated_at = utc_text(now)
        return False
    entry.state = SUBMITTED
    entry.attempt += 1
    entry.task_id = str(task["id"])
    entry.task_status = task.get("status")
    entry.submitted_at = entry.updated_at = utc_text(now)
    entry.not_before = None
    entry.error = None
    entry.history.append(
        {"task_id": entry.task_id, "status": entry.task_status, "submitted_at": entry.submitted_at}
    )
    return True


def request_export(
    client: RingCentralClient,
    storage: ArchiveStorage,
    config: MessageStoreConfig,
    window_start: datetime,
    window_end: datetime,
    partition: str,
    now: datetime,
) -> tuple[ExportEntry, bool]:
    """Ask for an export of one partition; returns (entry, whether a new request was made).

    A partition whose export is still live (queued or running) is left alone: never two live tasks
    for one partition. Otherwise a new entry is submitted at once when a slot is free, else queued.
    """
    existing = load_entry(storage, date.fromisoformat(partition))
    if existing is not None and existing.live:
        return existing, False
    entry = ExportEntry(
        partition=partition,
        window_start=utc_text(window_start),
        window_end=utc_text(window_end),
        state=QUEUED,
        requested_at=utc_text(now),
        updated_at=utc_text(now),
    )
    if _running(load_all(storage)) < config.max_running_exports:
        submit(client, entry, now)
    save_entry(storage, entry)
    return entry, True


def _fail(entry: ExportEntry, status: str, config: MessageStoreConfig, now: datetime) -> None:
    """Record a failed task: queue a retry after a backoff, or give up after the last attempt."""
    if entry.history:
        entry.history[-1].update(status=status, finished_at=utc_text(now))
    entry.task_status = status
    entry.updated_at = utc_text(now)
    if entry.attempt >= config.max_attempts:
        entry.state = GAVE_UP
        entry.error = (
            f"message-store export of {entry.partition} failed {entry.attempt} time(s); "
            f"last task {entry.task_id} ended {status}"
        )
        return
    wait = min(config.retry_backoff_seconds * 2 ** (entry.attempt - 1), MAX_BACKOFF_SECONDS)
    entry.state = QUEUED
    entry.not_before = utc_text(now + timedelta(seconds=wait))
    entry.error = f"task {entry.task_id} ended {status}; retrying after {wait:g} s"


def _poll(
    client: RingCentralClient,
    entry: ExportEntry,
    config: MessageStoreConfig,
    now: datetime,
    report: PollReport,
) -> bool:
    """Read one running task's status and move the entry on; True when the entry changed."""
    assert entry.task_id is not None
    report.status_calls += 1
    try:
        status = str(client.get_message_store_report(entry.task_id).get("status"))
    except NotFound:
        status = "NotFound"  # RingCentral forgot the task: as good as failed
    except RingCentralError as exc:
        # A transient error: leave the entry as it is, the next poll asks again.
        report.errors.append(f"{entry.partition}: status of task {entry.task_id}: {exc}")
        return False
    if status == "Completed":
        entry.state, entry.task_status, entry.error = COMPLETED, status, None
        entry.updated_at = utc_text(now)
        entry.history[-1].update(status=status, finished_at=utc_text(now))
        report.completed.append(entry.partition)
        return True
    if status in FAILED_TASK_STATUSES or status == "NotFound":
        _fail(entry, status, config, now)
        report.failed.append(f"{entry.partition} ({status})")
        return True
    age = (now - parse_utc(entry.submitted_at or entry.requested_at)).total_seconds()
    if age > config.task_timeout_seconds:
        _fail(entry, f"TimedOut (still {status} after {age:.0f} s)", config, now)
        report.failed.append(f"{entry.partition} (timed out in {status})")
        return True
    if status != entry.task_status:
        entry.task_status, entry.updated_at = status, utc_text(now)
        return True
    return False


def advance_exports(
    client: RingCentralClient, storage: ArchiveStorage, config: MessageStoreConfig, now: datetime
) -> PollReport:
    """Poll every running task, then submit queued ones while RingCentral has free slots."""
    report = PollReport(entries=load_all(storage))
    for entry in report.entries:
        if entry.state == SUBMITTED and _poll(client, entry, config, now, report):
            save_entry(storage, entry)
    due = sorted(
        (
            e
            for e in report.entries
            if e.state == QUEUED and (not e.not_before or parse_utc(e.not_before) <= now)
        ),
        key=lambda e: (e.not_before or "", e.partition),
    )
    for entry in due:
        if _running(report.entries) >= config.max_running_exports:
            break
        try:
            accepted = submit(client, entry, now)
        except RingCentralError as exc:
            report.errors.append(f"{entry.partition}: submitting the export: {exc}")
            break
        save_entry(storage, entry)
        if not accepted:
            break  # RingCentral is full (tasks started elsewhere): wait for the next poll
        report.submitted.append(entry.partition)
    if report.errors:
        log.warning("message-store exports: %s", "; ".join(report.errors))
    return report

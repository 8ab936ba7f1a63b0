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

from rc_pipeline.ringcentral import (
    AuthError,
    NotFound,
    RateLimited,
    RingCentralClient,
    RingCentralError,
)
from rc_pipeline.settings import MessageStoreSettings
from rc_pipeline.storage import ArchiveStorage

from .export_state import (
    COMPLETED,
    FAILED_TASK_STATUSES,
    GAVE_UP,
    QUEUED,
    SUBMITTED,
    SUBMITTING,
    ExportEntry,
    abandoned_running,
    export_lease,
    load_all,
    load_entry,
    parse_utc,
    save_entry,
    utc_text,
)

log = logging.getLogger("rc_pipeline.exports")

# The refusal of a task beyond the per-account limit. RingCentral documents no code for it; MSR-101
# is what the simulator sends. Refusals whose message speaks of a task limit count the same (the
# code may differ in production); any other 4xx is this partition's failed attempt.
TOO_MANY_TASKS_CODES = frozenset({"MSR-101"})
_SLOT_WORDS = ("too many", "limit", "concurrent", "already running", "in progress")
# Backoff doubles per failure but never waits longer than this.
MAX_BACKOFF_SECONDS = 3600.0
# RingCentral task statuses after which a task no longer occupies a slot.
_FINISHED_TASK_STATUSES = FAILED_TASK_STATUSES | {"Completed", "NotFound"}


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


def _running(entries: list[ExportEntry], config: MessageStoreSettings, now: datetime) -> int:
    """Task slots in use at RingCentral: running tasks, interrupted submissions, abandoned tasks."""
    return sum(
        (1 if e.state in (SUBMITTED, SUBMITTING) else 0)
        + abandoned_running(e, now, config.task_timeout_seconds)
        for e in entries
    )


def _is_slot_refusal(exc: RingCentralError) -> bool:
    """A refusal that means "no free task slot now" (or "slow down"), not "this request is bad"."""
    if isinstance(exc, RateLimited) or exc.status == 429:
        return True
    if exc.error_code in TOO_MANY_TASKS_CODES:
        return True
    text = f"{exc.message} {exc.error_code or ''}".lower()
    return exc.status in (400, 409) and any(word in text for word in _SLOT_WORDS)


class SubmitOutcome:
    ACCEPTED = "accepted"
    NO_SLOT = "no_slot"  # stays queued; try on a later poll
    REFUSED = "refused"  # a 4xx about this request: counted as a failed attempt
    UNCERTAIN = "uncertain"  # transport/server error: RingCentral may or may not have a task


def submit(
    client: RingCentralClient,
    storage: ArchiveStorage,
    entry: ExportEntry,
    config: MessageStoreSettings,
    now: datetime,
) -> str:
    """POST a message-store report for the entry's window, saving the entry before and after.

    The entry is saved as SUBMITTING before the POST so that a crash between the POST and the
    save is visible on the next poll (the possibly orphaned task is then counted as running).
    Returns a `SubmitOutcome` value; the entry is saved in its resulting state.
    """
    entry.state, entry.updated_at = SUBMITTING, utc_text(now)
    save_entry(storage, entry)
    try:
        task = client.create_message_store_report(parse_utc(entry.window_start), parse_utc(entry.window_end))
    except (RingCentralError, ValueError) as exc:
        # A ValueError is the client refusing to send a request that cannot be right (an empty
        # window): as final for this partition as RingCentral's 400.
        status = (exc.status or 0) if isinstance(exc, RingCentralError) else 400
        if isinstance(exc, RingCentralError) and _is_slot_refusal(exc):
            entry.state = QUEUED
            entry.error = f"waiting for a free export slot at RingCentral ({exc.error_code or status})"
            outcome = SubmitOutcome.NO_SLOT
        elif 400 <= status < 500 and not isinstance(exc, AuthError):
            # This partition's request is refused: an attempt that failed, so it ends in GAVE_UP
            # (a failing run naming it) instead of blocking the queue forever.
            entry.attempt += 1
            entry.task_id = None
            entry.history.append({"task_id": None, "status": "Refused", "submitted_at": utc_text(now)})
            _fail(entry, f"Refused ({exc})", config, now)
            outcome = SubmitOutcome.REFUSED
        else:
            # 5xx, transport, auth: not this partition's fault; it stays queued. Should a 5xx have
            # created a task after all, RingCentral's own limit refuses a third one (NO_SLOT).
            entry.state = QUEUED
            entry.error = f"submission failed ({exc}); retrying on a later poll"
            outcome = SubmitOutcome.UNCERTAIN
        entry.updated_at = utc_text(now)
        save_entry(storage, entry)
        return outcome
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
    save_entry(storage, entry)
    return SubmitOutcome.ACCEPTED


def request_export(
    client: RingCentralClient,
    storage: ArchiveStorage,
    config: MessageStoreSettings,
    window_start: datetime,
    window_end: datetime,
    partition: str,
    now: datetime,
) -> tuple[ExportEntry, bool]:
    """Ask for an export of one partition; returns (entry, whether a new request was made).

    A partition whose export is still live (queued or running) is left alone: never two live tasks
    for one partition. Otherwise a new entry is submitted at once when a slot is free, else queued.
    Runs under the archive root's export lease, like `advance_exports`.
    """
    with export_lease(storage):
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
            # Tasks abandoned by the earlier export of this partition still hold slots.
            abandoned=list(existing.abandoned) if existing is not None else [],
        )
        save_entry(storage, entry)
        if _running(load_all(storage), config, now) < config.max_running_exports:
            submit(client, storage, entry, config, now)
        return entry, True


def _fail(entry: ExportEntry, status: str, config: MessageStoreSettings, now: datetime) -> None:
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
    config: MessageStoreSettings,
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
        # We stop waiting, but RingCentral keeps running the task: it holds a slot until final.
        entry.abandoned.append({"task_id": entry.task_id, "since": utc_text(now), "status": status})
        _fail(entry, f"TimedOut (still {status} after {age:.0f} s)", config, now)
        report.failed.append(f"{entry.partition} (timed out in {status})")
        return True
    if status != entry.task_status:
        entry.task_status, entry.updated_at = status, utc_text(now)
        return True
    return False


def _poll_abandoned(
    client: RingCentralClient,
    entry: ExportEntry,
    config: MessageStoreSettings,
    now: datetime,
    report: PollReport,
) -> bool:
    """Drop abandoned tasks that reached a final status (or expired); True when any was dropped."""
    keep = []
    for item in entry.abandoned:
        task_id = item.get("task_id")
        if not task_id:
            if now - parse_utc(str(item["since"])) < timedelta(seconds=config.task_timeout_seconds):
                keep.append(item)
            continue
        report.status_calls += 1
        try:
            status = str(client.get_message_store_report(str(task_id)).get("status"))
        except NotFound:
            status = "NotFound"
        except RingCentralError as exc:
            report.errors.append(f"{entry.partition}: status of abandoned task {task_id}: {exc}")
            keep.append(item)
            continue
        if status not in _FINISHED_TASK_STATUSES:
            keep.append(item)
    changed = len(keep) != len(entry.abandoned)
    entry.abandoned = keep
    return changed


def _recover_interrupted(entry: ExportEntry, now: datetime, report: PollReport) -> None:
    """An entry left SUBMITTING: its submitter died between saving and recording the task.

    We hold the lease, so nobody is submitting it now. RingCentral may have created a task we hold
    no id for: its slot is counted (as an abandoned task) for the task timeout, and the entry is
    queued again. Said loudly, so the possibly orphaned task is not silent.
    """
    entry.abandoned.append({"task_id": None, "since": entry.updated_at, "why": "interrupted submission"})
    entry.state = QUEUED
    entry.error = (
        f"a submission of {entry.partition} started at {entry.updated_at} was interrupted; RingCentral "
        "may run an orphaned task for it (its slot is held until the task timeout)"
    )
    entry.updated_at = utc_text(now)
    report.errors.append(entry.error)


def advance_exports(
    client: RingCentralClient, storage: ArchiveStorage, config: MessageStoreSettings, now: datetime
) -> PollReport:
    """Poll every running task, then submit queued ones while RingCentral has free slots.

    Holds the archive root's export lease throughout, so the sensor, `rc-pipeline archive` and the
    task asset never act on the same state at once; each entry is re-read before it is changed.
    """
    # Cached listings of a remote root would hide state files written by other processes.
    storage.fs.invalidate_cache()
    with export_lease(storage):
        return _advance(client, storage, config, now)


def _fresh(storage: ArchiveStorage, entry: ExportEntry) -> ExportEntry | None:
    """The entry as stored now, when it is unchanged since it was read; else None (skip it)."""
    current = load_entry(storage, entry.day)
    if current is None or current.to_json() != entry.to_json():
        return None
    return current


def _advance(
    client: RingCentralClient, storage: ArchiveStorage, config: MessageStoreSettings, now: datetime
) -> PollReport:
    report = PollReport(entries=load_all(storage))
    for position, entry in enumerate(report.entries):
        changed = False
        if entry.state == SUBMITTING:
            _recover_interrupted(entry, now, report)
            changed = True
        if entry.state == SUBMITTED and _poll(client, entry, config, now, report):
            changed = True
        if entry.abandoned and _poll_abandoned(client, entry, config, now, report):
            changed = True
        if changed:
            stored = load_entry(storage, entry.day)
            if stored is not None and stored.requested_at != entry.requested_at:
                # Replaced by a new request while we polled (cannot happen under the lease, but a
                # stale write must never undo a newer request).
                report.entries[position] = stored
                continue
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
        if _running(report.entries, config, now) >= config.max_running_exports:
            break
        if _fresh(storage, entry) is None:
            continue  # changed since we read it: the next poll sees the new state
        outcome = submit(client, storage, entry, config, now)
        if outcome == SubmitOutcome.ACCEPTED:
            report.submitted.append(entry.partition)
        elif outcome == SubmitOutcome.REFUSED:
            report.failed.append(f"{entry.partition} (refused: {entry.task_status})")
            report.errors.append(f"{entry.partition}: submission refused: {entry.task_status}")
        elif outcome == SubmitOutcome.NO_SLOT:
            break  # RingCentral is full (tasks started elsewhere): wait for the next poll
        else:
            report.errors.append(f"{entry.partition}: submitting the export: {entry.error}")
            break  # RingCentral or the network is failing: do not hammer it this poll
    if report.errors:
        log.warning("message-store exports: %s", "; ".join(report.errors))
    return report

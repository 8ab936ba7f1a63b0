"""`rc-pipeline archive`: run the archive jobs for a range of days in this process.

It executes the very jobs the Dagster UI runs (same assets, same checks), one partition at a time,
deadline first: the call side, then the message store, then the warehouse once, and reports per day.
On the export path it starts the export tasks, follows them with `advance_exports` (the function the
sensor calls) and runs each day's download job as soon as its task completes.

Deadline first: when the Heavy budget cannot keep up, whatever the backfill reaches last may be
deleted by RingCentral before it gets there. So the days whose recordings RingCentral still holds
run first, the one closest to deletion (the oldest) first; days already past the recording deadline
(their recordings are gone whatever the order; the call log stays a year) run after them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from tqdm import tqdm

from rc_pipeline.calls.recordings import account_is_hipaa
from rc_pipeline.days import days_between
from rc_pipeline.defs.context import message_settings_of
from rc_pipeline.defs.names import (
    ARCHIVE_JOB,
    CALL_LEGS,
    CALLS,
    EXTENSIONS,
    MESSAGE_ATTACHMENTS,
    MESSAGE_DOWNLOAD_JOB,
    MESSAGE_JOB,
    MESSAGES,
    RECORDINGS,
    SNAPSHOT_JOB,
    VERIFY_JOB,
    WAREHOUSE,
)
from rc_pipeline.message_store.export_state import load_entry
from rc_pipeline.message_store.export_tasks import advance_exports
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.risk.rules import recording_retention_days
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.storage.temps import sweep_archive_temporaries

log = logging.getLogger("rc_pipeline.archive")

# First pause between export polls; it doubles up to the configured poll interval.
FIRST_POLL_DELAY = 1.0


@dataclass
class DaySummary:
    day: str
    calls: int = 0
    legs: int = 0
    recordings: int = 0
    messages: int = 0
    attachments: int = 0
    bytes: int = 0
    api_requests: int = 0
    failures: list[str] = field(default_factory=list)


def partition_keys(start: date, end: date) -> list[str]:
    """The partition keys of every day from ``start`` to ``end`` inclusive."""
    return [day.isoformat() for day in days_between(start, end)]


@dataclass(frozen=True)
class RunOrder:
    """The order a backfill runs its days in, and why (printed before the runs start)."""

    days: list[date]
    reason: str


def deadline_first(days: list[date], today: date, deadline_days: int) -> RunOrder:
    """Days whose recordings RingCentral still holds first, the closest to deletion (oldest) first;
    then the days already past the recording deadline, oldest first (the call log goes next).

    A day's recordings go during day + deadline_days, each at its call's time of day: on that day
    most of them are still there.
    """
    ordered = sorted(days)
    alive = [d for d in ordered if d + timedelta(days=deadline_days) >= today]
    past = [d for d in ordered if d + timedelta(days=deadline_days) < today]
    reason = "Order: deadline first."
    if alive:
        last = alive[0] + timedelta(days=deadline_days)
        reason += (
            f" {len(alive)} day(s) whose recordings RingCentral still holds run first, the closest to "
            f"deletion first ({alive[0]}: deleted during {last}, {deadline_days}-day recording deadline)."
        )
    if past:
        reason += (
            f" {len(past)} day(s) already past the {deadline_days}-day recording deadline "
            f"({past[0]}..{past[-1]}) run after them: their recordings are gone whatever the order."
        )
    return RunOrder(alive + past, reason)


def partition_timezone(defs: dg.Definitions) -> str:
    """The timezone the daily partitions are cut in (today is a day in it)."""
    return getattr(defs.resolve_job_def(ARCHIVE_JOB).partitions_def, "timezone", None) or "UTC"


def account_deadline_days(defs: dg.Definitions) -> int:
    """The account's recording deadline in days (service-info's HIPAA flag: one Light request)."""
    with _client_and_storage(defs) as (client, _):
        return recording_retention_days(account_is_hipaa(client, log.warning))


def open_instance() -> dg.DagsterInstance:
    """The DAGSTER_HOME instance when there is one (runs show up in the UI), else a throwaway one."""
    home = os.environ.get("DAGSTER_HOME")
    if home and os.path.isdir(home):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _summarise(day: str, result: dg.ExecuteInProcessResult) -> DaySummary:
    return _absorb(DaySummary(day=day), result)


def _absorb(summary: DaySummary, result: dg.ExecuteInProcessResult) -> DaySummary:
    """Add one run's counts, bytes, API requests and failures to the day's summary."""
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        if mat.asset_key == CALLS:
            summary.calls = int(meta.get("dagster/row_count", 0))
        elif mat.asset_key == CALL_LEGS:
            summary.legs = int(meta.get("dagster/row_count", 0))
        elif mat.asset_key == RECORDINGS:
            summary.recordings = int(meta.get("dagster/row_count", 0))
            summary.bytes += int(meta.get("bytes_total", 0))
        elif mat.asset_key == MESSAGES:
            summary.messages = int(meta.get("dagster/row_count", 0))
        elif mat.asset_key == MESSAGE_ATTACHMENTS:
            summary.attachments = int(meta.get("dagster/row_count", 0))
            summary.bytes += int(meta.get("bytes_total", 0))
        summary.api_requests += int(meta.get("api_requests", 0) or 0)
    for failure in result.get_step_failure_events():
        summary.failures.append(
            f"{failure.step_key}: {step_failure_reason(failure.event_specific_data.error)}"
        )
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            summary.failures.append(f"check {evaluation.check_name} failed")
    return summary


def run_archive(
    defs: dg.Definitions,
    start: date,
    end: date,
    *,
    instance: dg.DagsterInstance | None = None,
    show_progress: bool = True,
    log_level: str = "WARNING",
    today: date | None = None,
    deadline_days: int | None = None,
    announce: Callable[[str], None] = log.info,
    full_warehouse: bool = False,
) -> list[DaySummary]:
    """Archive [start, end] deadline first (see `deadline_first`); summaries in the order run.

    ``today`` defaults to today in the partitions' timezone, ``deadline_days`` to the account's.
    The warehouse is then refreshed for the days that changed, or rebuilt whole with ``full_warehouse``.
    """
    if deadline_days is None:
        deadline_days = account_deadline_days(defs)
    if today is None:
        today = datetime.now(ZoneInfo(partition_timezone(defs))).date()
    order = deadline_first(days_between(start, end), today, deadline_days)
    announce(order.reason)
    days = [d.isoformat() for d in order.days]
    instance = instance or open_instance()
    # A run killed before this one (kill -9, OOM) left its temp files: they go first.
    _sweep(defs, announce, partial_downloads=False)
    archive_job = defs.resolve_job_def(ARCHIVE_JOB)
    snapshot_job = defs.resolve_job_def(SNAPSHOT_JOB)
    # The progress bar and summary are the CLI's output; Dagster's console log shows only problems
    # unless asked (every event is still stored in the instance for the UI).
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    snapshot_job.execute_in_process(instance=instance, asset_selection=[EXTENSIONS], run_config=run_config)
    summaries: list[DaySummary] = []
    bar = tqdm(days, desc="archiving", unit="day", disable=not show_progress)
    for day in bar:
        bar.set_postfix_str(day)
        result = archive_job.execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False, run_config=run_config
        )
        summaries.append(_summarise(day, result))
    archive_messages(defs, {s.day: s for s in summaries}, instance, run_config, show_progress)
    warehouse_config = {
        "ops": {WAREHOUSE.to_python_identifier(): {"config": {"full_rebuild": full_warehouse}}}
    }
    result = snapshot_job.execute_in_process(
        instance=instance, asset_selection=[WAREHOUSE], run_config=run_config | warehouse_config
    )
    announce(describe_warehouse(result))
    if all(not s.failures for s in summaries):
        # Every download of the range is done: a part left now belongs to a download nobody continues
        # (a killed run's, of an export task since replaced). After a failure it is kept for a resume.
        _sweep(defs, announce, partial_downloads=True)
    return summaries


def _sweep(defs: dg.Definitions, announce: Callable[[str], None], *, partial_downloads: bool) -> None:
    with dg.build_resources({"archive": defs.resources["archive"]}) as resources:
        removed = sweep_archive_temporaries(resources.archive.storage(), partial_downloads=partial_downloads)
    if removed:
        what = "interrupted downloads and temporary files" if partial_downloads else "temporary files"
        announce(f"removed {len(removed)} {what} left by interrupted runs")
        log.info("removed: %s", ", ".join(removed))


def describe_warehouse(result: dg.ExecuteInProcessResult) -> str:
    """What the warehouse step did, from its materialization (full or incremental, days, seconds)."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == WAREHOUSE:
            meta = {k: v.value for k, v in event.materialization.metadata.items()}
            if meta.get("mode") == "full":
                return f"warehouse: full rebuild ({meta.get('reason')}) in {meta.get('seconds')} s"
            if meta.get("mode") == "unchanged":
                return "warehouse: unchanged (no partition changed since its last build)"
            days = meta.get("days_refreshed")
            return f"warehouse: refreshed {days} day{'' if days == 1 else 's'} in {meta.get('seconds')} s"
    return "warehouse: not built (see the run's log)"


@contextlib.contextmanager
def _client_and_storage(defs: dg.Definitions) -> Iterator[tuple[RingCentralClient, ArchiveStorage]]:
    # The definitions' own resources, with their EnvVars resolved the way a run resolves them.
    wanted = {key: defs.resources[key] for key in ("ringcentral", "archive")}
    with dg.build_resources(wanted) as resources:
        yield resources.ringcentral.get_client(), resources.archive.storage()


def archive_messages(
    defs: dg.Definitions,
    summaries: dict[str, DaySummary],
    instance: dg.DagsterInstance,
    run_config: dict[str, Any],
    show_progress: bool = True,
) -> None:
    """Archive the message store of every day in ``summaries`` and add the results to them.

    Listing path: one run per day. Export path: one run per day starts (or queues) the day's task;
    then `advance_exports` (the sensor's function) is called until every day's task is final, and
    each day's download job runs as soon as its task is (a task that gave up makes that run fail,
    naming the task, which lands in the day's failures).
    """
    settings = message_settings_of(defs)
    message_job = defs.resolve_job_def(MESSAGE_JOB)
    waiting: set[str] = set()
    bar = tqdm(list(summaries), desc="message store", unit="day", disable=not show_progress)
    for day in bar:
        bar.set_postfix_str(day)
        result = message_job.execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False, run_config=run_config
        )
        _absorb(summaries[day], result)
        if result.success:
            waiting.add(day)
    if settings.source != "export" or not waiting:
        return
    download_job = defs.resolve_job_def(MESSAGE_DOWNLOAD_JOB)
    handled: set[str] = set()
    delay = min(FIRST_POLL_DELAY, settings.poll_seconds)
    deadline = time.monotonic() + settings.archive_deadline_seconds
    with _client_and_storage(defs) as (client, storage):
        while waiting:
            if time.monotonic() > deadline:
                # Never wait forever on a queue that does not move: say which days are still pending.
                pending = sorted(waiting)
                states = {d: load_entry(storage, date.fromisoformat(d)) for d in pending}
                for day in pending:
                    entry = states[day]
                    summaries[day].failures.append(
                        f"message-store export still pending after {settings.archive_deadline_seconds:g} s "
                        f"({entry.describe() if entry else 'no export state'}); the sensor continues it"
                    )
                log.error("message-store exports still pending after the deadline: %s", ", ".join(pending))
                return
            report = advance_exports(client, storage, settings, datetime.now(UTC))
            for entry in report.final:
                if entry.partition not in waiting or entry.run_key in handled:
                    continue
                handled.add(entry.run_key)
                waiting.discard(entry.partition)
                result = download_job.execute_in_process(
                    partition_key=entry.partition,
                    instance=instance,
                    raise_on_error=False,
                    run_config=run_config,
                    tags={"rc_pipeline/export_task": entry.task_id or ""},
                )
                _absorb(summaries[entry.partition], result)
            if waiting:
                time.sleep(delay)
                delay = min(delay * 2, settings.poll_seconds)


def format_summary(summaries: list[DaySummary]) -> str:
    header = (
        f"{'day':<10}  {'calls':>7}  {'legs':>7}  {'recordings':>10}  {'messages':>8}  {'attach.':>7}  "
        f"{'bytes':>12}  {'API req':>7}  failures"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        lines.append(
            f"{s.day:<10}  {s.calls:>7}  {s.legs:>7}  {s.recordings:>10}  {s.messages:>8}  {s.attachments:>7}  "
            f"{s.bytes:>12,}  {s.api_requests:>7}  "
            f"{'; '.join(s.failures) or '-'}"
        )
    total = DaySummary(
        day="total",
        calls=sum(s.calls for s in summaries),
        legs=sum(s.legs for s in summaries),
        recordings=sum(s.recordings for s in summaries),
        messages=sum(s.messages for s in summaries),
        attachments=sum(s.attachments for s in summaries),
        bytes=sum(s.bytes for s in summaries),
        api_requests=sum(s.api_requests for s in summaries),
    )
    failed_days = sum(1 for s in summaries if s.failures)
    lines.append("-" * len(header))
    lines.append(
        f"{total.day:<10}  {total.calls:>7}  {total.legs:>7}  {total.recordings:>10}  {total.messages:>8}  "
        f"{total.attachments:>7}  {total.bytes:>12,}  "
        f"{total.api_requests:>7}  {failed_days} day(s) with failures"
    )
    return "\n".join(lines)


def run_verify(
    defs: dg.Definitions,
    days: list[str],
    *,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "CRITICAL",
) -> list[dg.ExecuteInProcessResult]:
    """Re-run every asset check of each day without calling RingCentral (proof before deleting at source).

    Dagster cannot infer a partitioning for a checks-only job, so each run carries its day as the
    partition tag, which is what the checks read.
    """
    instance = instance or open_instance()
    job = defs.resolve_job_def(VERIFY_JOB)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    return [
        job.execute_in_process(
            tags={"dagster/partition": day}, instance=instance, raise_on_error=False, run_config=run_config
        )
        for day in days
    ]


def format_verification(days: list[str], results: list[dg.ExecuteInProcessResult]) -> tuple[str, bool]:
    """A line per day: checks passed, and the failed ones with what they list."""
    lines, all_passed = [], True
    for day, result in zip(days, results, strict=True):
        evaluations = result.get_asset_check_evaluations()
        failed = [e for e in evaluations if not e.passed]
        errors = [f"{f.step_key} ({_root_cause(f)})" for f in result.get_step_failure_events()]
        all_passed &= not failed and not errors and bool(evaluations)
        status = "ok" if not failed and not errors and evaluations else "FAILED"
        if failed and not errors and all(e.severity == dg.AssetCheckSeverity.WARN for e in failed):
            status = "AT RISK"  # deferred, not lost: still not proof enough to delete at the source
        detail = "; ".join(
            f"{e.check_name}: "
            + ", ".join(
                f"{k}={v.value}"
                for k, v in e.metadata.items()
                if (isinstance(v.value, list) and v.value) or k == "earliest_deadline"
            )
            for e in failed
        )
        if errors:
            detail = "; ".join(filter(None, [detail, "errors in " + ", ".join(errors)]))
        if not evaluations and not errors:
            detail = "nothing archived for this day"
        lines.append(
            f"{day}  {len(evaluations) - len(failed)}/{len(evaluations)} checks passed  {status}  {detail}"
        )
    return "\n".join(lines), all_passed


def _root_cause(failure: dg.DagsterEvent) -> str:
    """Why a step failed, one line (a missing partition reads as 'not archived')."""
    error = failure.event_specific_data.error
    innermost = error
    while innermost.cause is not None:
        innermost = innermost.cause
    if innermost.cls_name == "FileNotFoundError":
        return "not archived: " + innermost.message.strip().rsplit("/", 2)[-2]
    return step_failure_reason(error)


def step_failure_reason(error: Any) -> str:
    """The exception our code raised in a failed step, on one line and whole.

    Dagster wraps an op's exception (`DagsterExecutionStepExecutionError: Error occurred while
    executing op ...`) and keeps ours as the `cause`: that wrapper says nothing, so it is skipped. The
    message is not cut: the reason often comes after a long name (a zip entry path, a URL path).
    `error` is Dagster's SerializableErrorInfo (`cls_name`, `message`, `cause`).
    """
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    name = error.cls_name or "Error"
    text = " ".join(error.message.split())
    # Python renders "module.Class: message"; the class is named once, unqualified.
    head, sep, rest = text.partition(": ")
    if sep and head.rsplit(".", 1)[-1] == name:
        text = rest
    # A dg.Failure is our own sentence for the user: its class adds nothing.
    return text if name == "Failure" else f"{name}: {text}"

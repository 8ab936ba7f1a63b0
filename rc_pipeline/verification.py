"""Whether an archived day is complete and intact, from the archive alone (no RingCentral request).

Each check is a plain function of the storage and the day's window; the Dagster asset checks run
them after every materialisation and in `verify_archive`, and the purge at the source runs them again
right before it deletes anything of that day. A day never archived raises FileNotFoundError.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from rc_pipeline.calls.captured import captured_records_of_day, pages_of_day
from rc_pipeline.days import DayWindow
from rc_pipeline.directory import known_extension_ids
from rc_pipeline.integrity import damaged_attachments, missing_or_damaged, purged_before_archived
from rc_pipeline.message_store.captured import captured_records, damaged_capture_files
from rc_pipeline.message_store.raw import read_export_records, read_listing_records
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.archive import CALL_SIDE, MESSAGE_SIDE
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.transform.checks import duplicate_ids, orphan_legs, records_outside_window
from rc_pipeline.transform.pages import records_from_pages
from rc_pipeline.transform.recordings import recordings_referenced


@dataclass(frozen=True)
class Outcome:
    """A check's verdict; metadata holds counts, texts and (whole) lists of offending ids."""

    passed: bool
    metadata: dict[str, Any]
    # Not passed, but at risk rather than lost or damaged (recordings a budget left for a later run):
    # Dagster shows it as a warning; it still blocks a purge like any failed check.
    warning: bool = False


def _ids(values: list[str]) -> dict[str, Any]:
    return {"count": len(values), "ids": values}


def _files_outcome(what: str, total: int, missing: list[str], damaged: list[str]) -> Outcome:
    """Passed when every expected file is there with its recorded size and sha256."""
    return Outcome(
        not missing and not damaged,
        {
            what: total,
            "verified": total - len(missing) - len(damaged),
            "missing": missing,
            "size_or_sha256_mismatch": damaged,
        },
    )


def calls_ids_unique(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    dupes = duplicate_ids(storage.read_parquet(Dataset.CALLS, window.day))
    return Outcome(not dupes, _ids(dupes))


def calls_match_raw(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    """Listed and captured records both count: a call extract-sync captured must be in the table."""
    typed = set(storage.read_parquet(Dataset.CALLS, window.day).column("id").to_pylist())
    raw = {str(r["id"]) for r in records_from_pages(pages_of_day(storage, window)) if r.get("id")}
    captured = {str(r["id"]) for r in captured_records_of_day(storage, window) if r.get("id")}
    missing, extra = sorted(raw - typed), sorted(typed - raw)
    return Outcome(
        not missing and not extra,
        {
            "raw_distinct_ids": len(raw),
            "captured_distinct_ids": len(captured),
            "typed_rows": len(typed),
            "missing_from_calls": missing,
            "not_in_raw": extra,
        },
    )


def calls_inside_window(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    calls = storage.read_parquet(Dataset.CALLS, window.day)
    outside = records_outside_window(calls, window.start, window.end)
    return Outcome(
        not outside,
        {**_ids(outside), "window_start": window.start.isoformat(), "window_end": window.end.isoformat()},
    )


def legs_belong_to_calls(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    orphans = orphan_legs(
        storage.read_parquet(Dataset.CALLS, window.day), storage.read_parquet(Dataset.CALL_LEGS, window.day)
    )
    return Outcome(not orphans, _ids(orphans))


def recordings_complete(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    referenced = recordings_referenced(
        storage.read_parquet(Dataset.CALLS, window.day), storage.read_parquet(Dataset.CALL_LEGS, window.day)
    )
    manifest = {
        r["recording_id"]: r for r in storage.read_parquet(Dataset.RECORDINGS, window.day).to_pylist()
    }
    missing, damaged = missing_or_damaged(
        storage, {r.recording_id: manifest.get(r.recording_id) for r in referenced}, "verified"
    )
    # Deferred by the run's budget: not archived yet, still at RingCentral until its deadline.
    deadlines = {r["recording_id"]: r["deadline"] for r in storage.read_deferred_recordings(window.day)}
    deferred = [i for i in missing if i in deadlines and (manifest.get(i) or {}).get("status") == "deferred"]
    lost = [i for i in missing if i not in set(deferred)]
    outcome = _files_outcome("referenced", len(referenced), lost, damaged)
    if not deferred:
        return outcome
    # ISO UTC strings compare in time order; on-demand recordings have none (no time limit).
    earliest = min((deadlines[i] for i in deferred if deadlines[i]), default="none (on-demand only)")
    return Outcome(
        False,
        {
            **outcome.metadata,
            "deferred": deferred,
            "deferred_count": len(deferred),
            "earliest_deadline": earliest,
        },
        warning=outcome.passed,
    )


def message_attachments_complete(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    table = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, window.day)
    missing, damaged = damaged_attachments(storage, table)
    gone = purged_before_archived(table)
    outcome = _files_outcome("attachments", table.num_rows - len(gone), missing, damaged)
    # Listed, not failed: a capture saw these messages only after their users had purged them.
    outcome.metadata["purged_at_source_before_archived"] = gone
    return outcome


def messages_ids_unique(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    dupes = duplicate_ids(storage.read_parquet(Dataset.MESSAGES, window.day))
    return Outcome(not dupes, _ids(dupes))


# Archived zips were vetted against the configured caps when they were downloaded; reading them back
# only needs the cap that keeps one `message-store.json` from filling memory.
_ARCHIVED_ZIPS = ZipLimits(max_total_bytes=1 << 50, max_export_bytes=1 << 50)


def _raw_message_layers(storage: ArchiveStorage, day: date) -> list[Dataset]:
    layers = [
        dataset
        for dataset in (Dataset.RAW_MESSAGE_EXPORT, Dataset.RAW_MESSAGE_STORE)
        if storage.exists(storage.raw_partition_manifest(dataset, day))
    ]
    if not layers:
        raise FileNotFoundError(storage.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, day))
    return layers


def message_raw_intact(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    """The raw copy of the day (export zips, listing pages) still has the bytes its manifests recorded:
    for a plain SMS it is the only copy of the text."""
    problems = damaged_capture_files(storage, window.day)
    for dataset in _raw_message_layers(storage, window.day):
        if dataset == Dataset.RAW_MESSAGE_EXPORT:
            for manifest in storage.committed_exports(window.day):
                for part in manifest.parts:
                    check = storage.verify_file(part.path, part.bytes, part.sha256)
                    if not check.ok:
                        problems.append(f"task {manifest.task_id} part {part.index}: {check.describe()}")
        elif not storage.verify_raw_partition(window.day, dataset):
            problems.append(
                f"{storage.fs_name(storage.raw_pages_path(window.day, dataset))}: size or sha256 differ"
            )
    return Outcome(not problems, {"damaged": problems})


def messages_match_raw(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    """Every typed message is in the raw layer (and, with one raw layer, every raw message is typed)."""
    layers = _raw_message_layers(storage, window.day)
    raw: set[str] = set()
    for dataset in layers:
        records = (
            read_export_records(storage, window.day, _ARCHIVED_ZIPS)
            if dataset == Dataset.RAW_MESSAGE_EXPORT
            else read_listing_records(storage, window.day)
        )
        raw.update(str(r.record["id"]) for r in records if r.record.get("id") is not None)
    # Messages captured within minutes (message-sync) count as much as the day's export or listing:
    # a captured message purged at the source since must still be in the table.
    captured = {
        str(r.record["id"]) for r in captured_records(storage, window) if r.record.get("id") is not None
    }
    typed = {str(i) for i in storage.read_parquet(Dataset.MESSAGES, window.day).column("id").to_pylist()}
    missing, extra = sorted(typed - raw - captured), sorted(raw - typed)
    captured_not_typed = sorted(captured - typed)
    # Both layers present (the path was switched): the typed table comes from one of them only.
    return Outcome(
        not missing and not captured_not_typed and (not extra or len(layers) > 1),
        {
            "raw_distinct_ids": len(raw),
            "captured_distinct_ids": len(captured),
            "typed_rows": len(typed),
            "not_in_raw": missing,
            "not_typed": extra,
            "captured_not_typed": captured_not_typed,
        },
    )


def messages_extensions_known(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    known = known_extension_ids(storage)
    if not known:
        return Outcome(False, {"problem": "no extensions snapshot: materialise `extensions` first"})
    used = set(storage.read_parquet(Dataset.MESSAGES, window.day).column("extension_id").to_pylist())
    unknown = sorted(i for i in used - known if i is not None) + (["(none)"] if None in used else [])
    return Outcome(not unknown, {"extensions_used": len(used), "unknown": unknown})


def _records_locked(storage: ArchiveStorage, day: date, datasets: tuple[Dataset, ...]) -> Outcome:
    """With WORM on, every file of the day is under the configured Object Lock until at least its
    date (written + RC_WORM_RETAIN_DAYS). With WORM off there is nothing to expect: it says so."""
    if storage.worm is None:
        return Outcome(True, {"worm": "off (RC_WORM_MODE unset)"})
    files = storage.files_of_day(day, datasets)
    problems = [p for p in map(storage.lock_problem, files) if p]
    return Outcome(
        not problems,
        {
            "worm": f"{storage.worm.s3_mode}, {storage.worm.retain_days} days",
            "files": len(files),
            "not_locked": problems,
        },
    )


def call_records_locked(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    return _records_locked(storage, window.day, CALL_SIDE)


def message_records_locked(storage: ArchiveStorage, window: DayWindow) -> Outcome:
    return _records_locked(storage, window.day, MESSAGE_SIDE)


@dataclass(frozen=True)
class ArchiveCheck:
    """One check of one asset's partition, read from the archive alone."""

    name: str
    asset: str
    description: str
    run: Callable[[ArchiveStorage, DayWindow], Outcome]


CALL_CHECKS = (
    ArchiveCheck("calls_ids_unique", "calls", "Every call id appears once.", calls_ids_unique),
    ArchiveCheck(
        "calls_match_raw",
        "calls",
        "The typed calls hold exactly the distinct call ids of the raw pages: the day's listings and "
        "the changes extract-sync captured for it.",
        calls_match_raw,
    ),
    ArchiveCheck(
        "calls_inside_window",
        "calls",
        "Every call started inside the partition's window (catches wrong dateFrom/dateTo or timezone).",
        calls_inside_window,
    ),
    ArchiveCheck(
        "legs_belong_to_calls",
        "call_legs",
        "Every leg belongs to a call of the same day.",
        legs_belong_to_calls,
    ),
    ArchiveCheck(
        "call_records_locked",
        "calls",
        "With WORM records on (RC_WORM_MODE), every file of the day (raw call log and captured changes, "
        "call and leg tables, recordings and their manifest) is under S3 Object Lock in the configured "
        "mode until at least RC_WORM_RETAIN_DAYS after it was written; the others are listed.",
        call_records_locked,
    ),
)
RECORDING_CHECKS = (
    ArchiveCheck(
        "recordings_complete",
        "recordings",
        "Every recording the day's calls reference is archived: the file exists and its size and "
        "sha256 match the manifest. Missing or damaged ids are listed; recordings a run's budget left "
        "for later (RC_RECORDING_BUDGET) make it a warning naming how many and the earliest deadline.",
        recordings_complete,
    ),
)
MESSAGE_CHECKS = (
    ArchiveCheck(
        "message_attachments_complete",
        "message_attachments",
        "Every attachment has an archived file whose size and sha256 match its row.",
        message_attachments_complete,
    ),
    ArchiveCheck("messages_ids_unique", "messages", "Every message id appears once.", messages_ids_unique),
    ArchiveCheck(
        "messages_extensions_known",
        "messages",
        "Every message's extension is in the `extensions` snapshots.",
        messages_extensions_known,
    ),
    ArchiveCheck(
        "messages_match_raw",
        "messages",
        "The typed messages hold exactly the distinct message ids of the raw layer (export zips or listing) "
        "plus every message captured for the day (message-sync).",
        messages_match_raw,
    ),
    ArchiveCheck(
        "message_raw_intact",
        "messages",
        "The day's raw message layer (export zips, listing pages, captured message-sync responses) still has "
        "the size and sha256 its manifests recorded.",
        message_raw_intact,
    ),
    ArchiveCheck(
        "message_records_locked",
        "messages",
        "With WORM records on (RC_WORM_MODE), every file of the day (raw listing pages, export zips, "
        "captures, message tables, attachment files and indexes) is under S3 Object Lock in the "
        "configured mode until at least RC_WORM_RETAIN_DAYS after it was written; the others are listed.",
        message_records_locked,
    ),
)


@dataclass(frozen=True)
class DayVerdict:
    """Every check of a day: passed only when each one ran and passed."""

    outcomes: dict[str, Outcome]
    errors: dict[str, str]

    @property
    def passed(self) -> bool:
        return not self.errors and all(o.passed for o in self.outcomes.values())

    def describe(self) -> str:
        failed = [name for name, o in self.outcomes.items() if not o.passed]
        parts = [f"{name} failed" for name in failed] + [f"{n}: {e}" for n, e in self.errors.items()]
        return "; ".join(parts) or "every check passed"


def verify_day(storage: ArchiveStorage, window: DayWindow, checks: Iterable[ArchiveCheck]) -> DayVerdict:
    """Run ``checks`` on one day; a day (or dataset) never archived is an error, not a pass."""
    outcomes, errors = {}, {}
    for check in checks:
        try:
            outcomes[check.name] = check.run(storage, window)
        except FileNotFoundError as exc:
            errors[check.name] = f"not archived ({storage.fs_name(str(exc.filename or exc))})"
        except (OSError, ValueError, zlib.error) as exc:
            # A damaged archived file can fail to read at all (gzip CRC, corrupt zip): not a pass.
            errors[check.name] = f"unreadable archive file ({type(exc).__name__}: {str(exc)[:120]})"
    return DayVerdict(outcomes, errors)

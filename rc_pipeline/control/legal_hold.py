"""The archive's legal holds as S3 legal holds, on a WORM archive.

A hold (see `holds`) already stops purge and erasure in this code. On a WORM archive it also sets the
S3 legal hold of every object it covers, so S3 itself refuses to delete them whatever their retention
date, and whoever holds the bucket's keys: each covered item's files (recordings, attachment files)
and the files of its day that hold it too (raw pages and export zips, manifests, the day's tables).
Releasing a hold turns the S3 legal hold off only on objects no other active hold covers.

An S3 legal hold is set on an object's current version. Objects written after the hold was placed
(a day archived or re-fetched later) get theirs from `rc-pipeline hold sync`, which the legal holds
asset also runs whenever it is materialised.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from rc_pipeline.control import audit
from rc_pipeline.control.holds import HOLD_TYPES, Hold, active_holds, add_hold, release_hold
from rc_pipeline.control.inventory import MESSAGE_KINDS, RECORDING, archived_messages, archived_recordings
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.archive import CALL_SIDE, MESSAGE_SIDE

COMMAND = "hold"


@dataclass
class LegalHoldChange:
    """What one change of S3 legal holds did: objects turned on or off, and those that failed."""

    on: list[str] = field(default_factory=list)
    off: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not (self.on or self.off or self.failed):
            return "S3 legal hold: nothing to change"
        text = f"S3 legal hold: on for {len(self.on)} object(s), off for {len(self.off)}"
        return text + (
            f"; FAILED for {len(self.failed)}: {', '.join(self.failed[:5])}" if self.failed else ""
        )


def _days(storage: ArchiveStorage, hold: Hold, dataset: Dataset) -> list[date]:
    start = date.fromisoformat(hold.start) if hold.start else date.min
    end = date.fromisoformat(hold.end) if hold.end else date.max
    return [d for d in storage.list_partitions(dataset) if start <= d <= end]


def held_files(storage: ArchiveStorage, hold: Hold) -> set[str]:
    """Every archived file ``hold`` covers (as `Hold.covers` decides for each item)."""
    if not hold.active:
        return set()
    kinds = [k for k in (hold.types or HOLD_TYPES) if k in MESSAGE_KINDS]
    files: set[str] = set()
    if kinds:
        for day in _days(storage, hold, Dataset.MESSAGES):
            items = [
                i
                for i in archived_messages(storage, day, kinds, ())
                if hold.covers(i.kind, i.extension_id, day)
            ]
            if items:
                files.update(f.path for i in items for f in i.files if f.path)
                files.update(storage.files_of_day(day, MESSAGE_SIDE))
    if not hold.types or RECORDING in hold.types:
        for day in _days(storage, hold, Dataset.RECORDINGS):
            items = [
                i
                for i in archived_recordings(storage, day, ())
                if any(hold.covers(i.kind, e, day) for e in {i.extension_id, *i.related_extensions})
            ]
            if items:
                files.update(f.path for i in items for f in i.files if f.path)
                files.update(storage.files_of_day(day, CALL_SIDE))
    return files


def _set(storage: ArchiveStorage, paths: Iterable[str], on: bool, change: LegalHoldChange) -> None:
    for path in sorted(paths):
        try:
            storage.set_legal_hold(path, on)
        except Exception as exc:  # reported and audited; the archive's hold still blocks purge and erasure
            change.failed.append(f"{storage.relative(path)} ({type(exc).__name__})")
            continue
        (change.on if on else change.off).append(storage.relative(path))


def _audit(storage: ArchiveStorage, hold: Hold, action: str, operator: str, change: LegalHoldChange) -> None:
    audit.append(
        storage,
        command=f"{COMMAND} {action}",
        operator=operator,
        action="s3_legal_hold",
        scope={"hold": hold.id},
        details={"on": len(change.on), "off": len(change.off), "failed": change.failed},
    )


def place(storage: ArchiveStorage, *, operator: str, **hold: object) -> tuple[Hold, LegalHoldChange]:
    """Place a hold (see `holds.add_hold`) and, on a WORM archive, hold its objects at S3 too."""
    placed = add_hold(storage, operator=operator, **hold)  # type: ignore[arg-type]
    change = LegalHoldChange()
    if storage.worm is not None:
        _set(storage, held_files(storage, placed), True, change)
        _audit(storage, placed, "add", operator, change)
    return placed, change


def release(
    storage: ArchiveStorage, hold_id: str, *, reason: str, operator: str
) -> tuple[Hold, LegalHoldChange]:
    """Release a hold and, on a WORM archive, lift the S3 legal hold of the objects it alone covered."""
    released = release_hold(storage, hold_id, reason=reason, operator=operator)
    change = LegalHoldChange()
    if storage.worm is not None:
        before = held_files(storage, _as_active(released))
        still = files_held_by(storage, active_holds(storage))
        _set(storage, before - still, False, change)
        _audit(storage, released, "release", operator, change)
    return released, change


def files_held_by(storage: ArchiveStorage, holds: Sequence[Hold]) -> set[str]:
    return set().union(*(held_files(storage, h) for h in holds)) if holds else set()


def sync(storage: ArchiveStorage, *, operator: str) -> LegalHoldChange:
    """Set the S3 legal hold on every object an active hold covers (objects written since it was placed,
    or an interrupted `hold add`); nothing is turned off here."""
    change = LegalHoldChange()
    if storage.worm is None:
        return change
    for hold in active_holds(storage):
        mine = LegalHoldChange()
        missing: list[str] = []
        for path in held_files(storage, hold):
            try:
                if storage.object_lock(path).legal_hold:
                    continue
            except FileNotFoundError:  # gone between the listing and the look: nothing to hold
                continue
            missing.append(path)
        _set(storage, missing, True, mine)
        if mine.on or mine.failed:
            _audit(storage, hold, "sync", operator, mine)
        change.on += mine.on
        change.failed += mine.failed
    return change


def _as_active(hold: Hold) -> Hold:
    from dataclasses import replace

    return replace(hold, released_at=None, released_by=None, release_reason=None)

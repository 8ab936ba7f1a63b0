"""What the archive holds of a day, item by item, and whether each item is safe to delete at the source.

An item is a message (with its attachment files) or a call recording. It may be deleted at the source
only when, at that moment: its day passes every archive check, each of its files still has the size and
sha256 the manifest recorded, no legal hold covers it, and (messages) the source still has the version
that was archived (same lastModifiedTime). Everything here reads the archive; what RingCentral holds is
asked by the callers through the client, by explicit windows and ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from rc_pipeline.control.holds import Hold, covering
from rc_pipeline.days import DayWindow
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.columns import parse_iso
from rc_pipeline.transform.recordings import recordings_referenced
from rc_pipeline.verification import CALL_CHECKS, MESSAGE_CHECKS, RECORDING_CHECKS, DayVerdict, verify_day

MESSAGE_KINDS = ("SMS", "Fax", "VoiceMail", "Pager")
# The start of the reason an item is blocked when WORM is on and its archive copy is not locked.
NOT_LOCKED = "archive copy not under the required S3 Object Lock"
RECORDING = "Recording"


@dataclass(frozen=True)
class ArchivedFile:
    path: str | None
    bytes: int | None
    sha256: str | None


@dataclass
class Item:
    """One deletable thing as the archive knows it."""

    kind: str  # a message type, or "Recording"
    id: str
    extension_id: int | None
    day: date
    files: list[ArchivedFile] = field(default_factory=list)
    # Messages: the archived version's lastModifiedTime (compared with the source's).
    modified: datetime | None = None
    # Recordings: every mailbox that took part in the call (its legs'), for holds on any of them.
    related_extensions: tuple[int, ...] = ()
    reasons: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.reasons)

    def audit(self, **extra: object) -> dict[str, object]:
        """What the audit trail records of an item: ids, kind, mailbox, day and file hashes; no content."""
        return {
            "id": self.id,
            "kind": self.kind,
            "extension_id": self.extension_id,
            "day": self.day.isoformat(),
            "sha256": [f.sha256 for f in self.files],
            **extra,
        }


def day_verdict(storage: ArchiveStorage, window: DayWindow, kind: str) -> DayVerdict:
    """Every archive check of the item's day: the message store's, or the call side's with recordings."""
    checks = MESSAGE_CHECKS if kind in MESSAGE_KINDS else (*CALL_CHECKS, *RECORDING_CHECKS)
    return verify_day(storage, window, checks)


def archived_messages(
    storage: ArchiveStorage, day: date, kinds: Sequence[str], extensions: Sequence[int]
) -> list[Item]:
    """The day's archived messages of these types (and mailboxes, when given), with their files."""
    if not kinds or day not in storage.list_partitions(Dataset.MESSAGES):
        return []
    files: dict[int, list[ArchivedFile]] = {}
    if day in storage.list_partitions(Dataset.MESSAGE_ATTACHMENTS):
        for row in storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist():
            files.setdefault(row["message_id"], []).append(
                ArchivedFile(row["path"], row["bytes"], row["sha256"])
            )
    items = []
    for row in storage.read_parquet(Dataset.MESSAGES, day).to_pylist():
        if row["type"] not in kinds or (extensions and row["extension_id"] not in extensions):
            continue
        items.append(
            Item(
                kind=row["type"],
                id=str(row["id"]),
                extension_id=row["extension_id"],
                day=day,
                files=files.get(row["id"], []),
                modified=row["last_modified_time"],
            )
        )
    return items


def archived_recordings(storage: ArchiveStorage, day: date, extensions: Sequence[int]) -> list[Item]:
    """The day's recordings the manifest lists as verified, with the extension of the call (or leg)."""
    if day not in storage.list_partitions(Dataset.RECORDINGS):
        return []
    calls = storage.read_parquet(Dataset.CALLS, day)
    legs = storage.read_parquet(Dataset.CALL_LEGS, day)
    # A recording belongs to the mailbox of the call, or of the leg it was made on; a hold on any mailbox
    # that took part in the call covers it too (a recording deleted at the source has no trash).
    by_call = {r["id"]: r["extension_id"] for r in calls.select(["id", "extension_id"]).to_pylist()}
    by_leg = {
        (r["call_id"], r["leg_index"]): r["extension_id"]
        for r in legs.select(["call_id", "leg_index", "extension_id"]).to_pylist()
    }
    parties: dict[str, set[int]] = {}
    for call_id, extension_id in by_call.items():
        if extension_id is not None:
            parties.setdefault(call_id, set()).add(extension_id)
    for (call_id, _), extension_id in by_leg.items():
        if extension_id is not None:
            parties.setdefault(call_id, set()).add(extension_id)
    owner = {
        ref.recording_id: by_call.get(ref.call_id)
        if ref.leg_index is None
        else by_leg.get((ref.call_id, ref.leg_index))
        for ref in recordings_referenced(calls, legs)
    }
    items = []
    for row in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist():
        if row["status"] != "verified":
            continue
        extension_id = owner.get(row["recording_id"])
        related = tuple(sorted(parties.get(row["call_id"], set())))
        if extensions and extension_id not in extensions:
            continue
        items.append(
            Item(
                kind=RECORDING,
                id=row["recording_id"],
                extension_id=extension_id,
                day=day,
                files=[ArchivedFile(row["path"], row["bytes"], row["sha256"])],
                related_extensions=related,
            )
        )
    return items


def block_unsafe(
    storage: ArchiveStorage,
    items: Iterable[Item],
    holds: Sequence[Hold],
    verdicts: dict[tuple[date, str], DayVerdict],
) -> None:
    """Add a reason to every item that must not be deleted now: a failing day, a hold, a bad file, or
    (WORM on) a file not under the required Object Lock.

    Files are re-hashed and their locks read again here, every time: a copy that was intact (or
    locked) yesterday proves nothing today.
    """
    for item in items:
        verdict = verdicts[item.day, "messages" if item.kind in MESSAGE_KINDS else "calls"]
        if not verdict.passed:
            item.reasons.append(f"day {item.day} fails its checks ({verdict.describe()})")
        covered = {
            hold.id: hold
            for extension in {item.extension_id, *item.related_extensions}
            for hold in covering(holds, item.kind, extension, item.day)
        }
        for hold in covered.values():
            item.reasons.append(f"held by {hold.id} ({hold.reason})")
        for archived in item.files:
            check = storage.verify_file(archived.path, archived.bytes, archived.sha256)
            if not check.ok:
                item.reasons.append(f"archived file {check.describe()}")
            # WORM on: the archive copy must be one nobody can delete before deleting the source's.
            elif archived.path and (
                problem := storage.lock_problem(archived.path, in_force_at=datetime.now(UTC))
            ):
                item.reasons.append(f"{NOT_LOCKED} ({problem})")


def source_changed(item: Item, source: dict | None) -> str | None:
    """Why the source's version of a message is not the archived one (None: it is the same)."""
    if source is None:
        return None
    modified = parse_iso(source.get("lastModifiedTime"))
    if modified is None or item.modified is None or modified != item.modified:
        return "changed at the source since it was archived: re-archive the day first"
    return None

"""The audit trail as an erasure's memory: its actions, the ids and file hashes earlier runs recorded
(read only from a trail that verifies), and what may be said there about a failure."""

from __future__ import annotations

import contextlib
import os
import zipfile
from datetime import date, datetime

from rc_pipeline.control import audit
from rc_pipeline.control.erase.records import _in_mailbox
from rc_pipeline.ringcentral import RingCentralError
from rc_pipeline.storage import ArchiveStorage

COMMAND = "erase"


# Audit actions (command "erase"), in the order one erasure writes them. The deletes at the source use
# the same intent/outcome names as the purge's, so one query over the trail finds every delete.
STARTED = "erasure_started"
SOURCE_INTENT = "delete_intent"
SOURCE_OUTCOME = "delete_outcome"
ARCHIVE_INTENT = "archive_rewrite_intent"
ARCHIVE_DONE = "archive_rewrite_outcome"
# The extension's files of the capture layer (message-sync responses) removed.
CAPTURE_ERASED = "capture_erased"
FINISHED = "erasure_finished"


class AuditTrailBroken(ValueError):
    """The audit trail does not verify: an erasure reads earlier erasures' ids and file hashes from it,
    so an edited trail could make it remove other people's messages. Nothing is done."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(
            f"the audit trail does not verify ({problem}): an erasure takes the ids and file hashes of "
            "earlier erasures from it and will not trust an edited trail. Nothing was deleted or rewritten; "
            "restore the trail from its copy (WORM storage or a backup), then check it with "
            "`rc-pipeline audit verify`"
        )


def error_summary(exc: BaseException) -> str:
    """What an audit entry may say about a failure: the exception class, and for RingCentral's answers
    the HTTP status and error code. Never the exception's text (it can quote what a request carried)."""
    parts = [type(exc).__name__]
    if isinstance(exc, RingCentralError):
        if exc.status is not None:
            parts.append(f"HTTP {exc.status}")
        if exc.error_code:
            parts.append(str(exc.error_code))
    return " ".join(parts)


def trusted_entries(storage: ArchiveStorage) -> list[audit.AuditEntry]:
    """The audit trail's entries once the whole chain verifies; AuditTrailBroken otherwise."""
    verdict = audit.verify(storage)
    if not verdict.ok:
        raise AuditTrailBroken(str(verdict.problem))
    return audit.read_entries(storage)


# ------------------------------------------------------------------ the audit trail as memory
def _for_extension(entry: audit.AuditEntry, extension_id: int) -> bool:
    return entry.command == COMMAND and entry.scope.get("extension_id") == extension_id


def _audit_ids(entries: list[audit.AuditEntry], extension_id: int) -> dict[date, dict[int, str | None]]:
    """Message ids earlier erasures of this extension recorded, by day (so a re-run finds leftovers)."""
    known: dict[date, dict[int, str | None]] = {}
    for entry in entries:
        if not _for_extension(entry, extension_id) or entry.action not in (STARTED, ARCHIVE_INTENT):
            continue
        for item in entry.items:
            if "id" in item and item.get("day"):
                with contextlib.suppress(ValueError, TypeError):
                    known.setdefault(date.fromisoformat(item["day"]), {})[int(item["id"])] = item.get("kind")
    return known


def _trusted_after(entries: list[audit.AuditEntry], extension_id: int) -> dict[str, set[tuple[int, str]]]:
    """(bytes, sha256) an erasure of this extension recorded for each file it re-wrote."""
    trusted: dict[str, set[tuple[int, str]]] = {}
    for entry in entries:
        if _for_extension(entry, extension_id) and entry.action == ARCHIVE_INTENT:
            for item in entry.items:
                if item.get("path") and item.get("sha256_after"):
                    trusted.setdefault(item["path"], set()).add(
                        (int(item["bytes_after"]), item["sha256_after"])
                    )
    return trusted


def _unfinished_days(entries: list[audit.AuditEntry], extension_id: int) -> set[date]:
    started: dict[tuple[str, str], date] = {}
    done: set[tuple[str, str]] = set()
    for entry in entries:
        if not _for_extension(entry, extension_id) or "day" not in entry.scope:
            continue
        key = (str(entry.scope.get("run")), str(entry.scope["day"]))
        if entry.action == ARCHIVE_INTENT:
            started[key] = date.fromisoformat(entry.scope["day"])
        elif entry.action == ARCHIVE_DONE:
            done.add(key)
    return {day for key, day in started.items() if key not in done}


def erased_extension_ids(storage: ArchiveStorage, *, after: str | None = None) -> set[int]:
    """Extensions an erasure was started for (only those started after the ISO time ``after``, when
    given): a part of an export task fetched before then that must be downloaded again would bring
    their records back from RingCentral's copy (see `erased_mailboxes_in`). A time that cannot be
    compared counts the erasure in (refusing a download is the safe side)."""
    since = None
    with contextlib.suppress(ValueError, TypeError):
        since = datetime.fromisoformat(after) if after else None
    out = set()
    for entry in audit.read_entries(storage):
        if entry.command != COMMAND or entry.action != STARTED or "extension_id" not in entry.scope:
            continue
        try:
            counted = since is None or datetime.fromisoformat(entry.time) > since
        except (ValueError, TypeError):
            counted = True
        with contextlib.suppress(ValueError, TypeError):
            if counted:
                out.add(int(entry.scope["extension_id"]))
    return out


def erased_mailboxes_in(
    storage: ArchiveStorage, zip_path: str | os.PathLike[str], *, fetched_at: str | None
) -> set[int]:
    """The erased extensions whose mailbox has entries in the (local) zip at ``zip_path``: what a fresh
    download of a part of an export task fetched at ``fetched_at`` would bring back into the archive.
    Reads the zip's central directory only."""
    erased = erased_extension_ids(storage, after=fetched_at)
    if not erased:
        return set()
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    return {e for e in erased if any(_in_mailbox(name, e) for name in names)}


def _unfinished_runs(entries: list[audit.AuditEntry], extension_id: int) -> set[str]:
    """Runs of an erasure of this extension that started and have no `erasure_finished` entry (the
    process was killed): what they changed in the archive may not have reached the warehouse. A later
    run that finished with the warehouse rebuilt settles every run started before it."""
    pending: set[str] = set()
    for entry in entries:
        if not _for_extension(entry, extension_id):
            continue
        run = str(entry.scope.get("run"))
        if entry.action == STARTED:
            pending.add(run)
        elif entry.action == FINISHED:
            pending.discard(run)
            if entry.details.get("warehouse_rebuilt") is True:
                pending.clear()
    return pending

"""Purge at the source: delete at RingCentral what the archive provably holds, by explicit ids only.

`plan_purge` says, per day and type, what is archived and verified, what RingCentral still holds, what
would be deleted and what is blocked and why; it changes nothing. `execute_purge` deletes the plan's
items in batches (messages: at most 50 ids a request, per mailbox; recordings: at most 100), and before
each batch checks everything again at that moment: the day's archive checks, every file's sha256, the
legal holds, and (messages) that the source still has the archived version. Each batch is audited
before its request (the ids it is about to delete) and after it (the outcome per id). The endpoints
that delete by filter, or everything when given no id, are never used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from rc_pipeline.control import audit
from rc_pipeline.control.holds import HOLD_TYPES, active_holds
from rc_pipeline.control.inventory import (
    MESSAGE_KINDS,
    NOT_LOCKED,
    RECORDING,
    Item,
    archived_messages,
    archived_recordings,
    block_unsafe,
    day_verdict,
    source_changed,
)
from rc_pipeline.days import day_window, days_between
from rc_pipeline.directory import extension_ids
from rc_pipeline.ringcentral import BulkItem, NotFound, RingCentralClient
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.verification import DayVerdict

MODES = ("trash", "purge")
MESSAGE_BATCH = 50  # RingCentral's limit of ids in one path
RECORDING_BATCH = 100  # the call-recordings body's limit
SOURCE_AVAILABILITY = ("Alive", "Deleted")


class PurgeError(ValueError):
    """A purge request that cannot be right; the message says what."""


@dataclass(frozen=True)
class PurgeRequest:
    start: date
    end: date
    timezone: str
    kinds: tuple[str, ...] = MESSAGE_KINDS
    extensions: tuple[int, ...] = ()
    # trash: messages move to Deleted (restorable); purge: purged at once. Recordings are always gone.
    mode: str = "trash"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PurgeError(f"--mode {self.mode!r} must be one of {', '.join(MODES)}")
        unknown = sorted(set(self.kinds) - set(HOLD_TYPES))
        if unknown or not self.kinds:
            raise PurgeError(
                f"--types must name some of {', '.join(HOLD_TYPES)}; got {', '.join(unknown) or 'none'}"
            )
        days_between(self.start, self.end)

    @property
    def message_kinds(self) -> tuple[str, ...]:
        return tuple(k for k in self.kinds if k in MESSAGE_KINDS)

    def scope(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "types": list(self.kinds),
            "extensions": list(self.extensions),
            "mode": self.mode,
        }


@dataclass
class DayCounts:
    archived: int = 0  # archived and verified now
    at_source: int = 0
    to_delete: int = 0
    blocked: int = 0
    not_archived: int = 0  # at the source but not in the archive: never deleted
    gone: int = 0  # archived, no longer at the source (or already in the trash, in trash mode)


@dataclass
class PurgePlan:
    request: PurgeRequest
    items: list[Item] = field(default_factory=list)  # archived and still at the source
    counts: dict[tuple[date, str], DayCounts] = field(default_factory=lambda: defaultdict(DayCounts))

    @property
    def deletable(self) -> list[Item]:
        return [i for i in self.items if not i.blocked]

    def format(self) -> str:
        header = (
            f"{'day':<10}  {'type':<9}  {'archived':>8}  {'at source':>9}  {'to delete':>9}  {'blocked':>7}  "
            f"{'not archived':>12}  {'gone/trashed':>12}"
        )
        lines = [
            "archived: in the archive; not archived: at the source only, never deleted; gone/trashed: "
            "archived and no longer at the source (or already in its trash); blocked: see below",
            header,
            "-" * len(header),
        ]
        for (day, kind), c in sorted(self.counts.items()):
            at_source = "?" if kind == RECORDING else str(c.at_source)
            lines.append(
                f"{day.isoformat():<10}  {kind:<9}  {c.archived:>8}  {at_source:>9}  {c.to_delete:>9}  "
                f"{c.blocked:>7}  {'?' if kind == RECORDING else c.not_archived:>12}  {c.gone:>12}"
            )
        blocked = [i for i in self.items if i.blocked]
        if blocked:
            lines.append("")
            lines.append("Blocked:")
            for item in blocked[:200]:
                lines.append(
                    f"  {item.day} {item.kind} {item.id} (ext {item.extension_id}): {'; '.join(item.reasons)}"
                )
            if len(blocked) > 200:
                lines.append(f"  ... {len(blocked) - 200} more")
        if any(kind == RECORDING for _, kind in self.counts):
            lines.append(
                "(Recordings at the source are not counted: that costs a Heavy request each; one already"
            )
            lines.append(" gone answers 404 when deleted and is reported as gone.)")
        return "\n".join(lines)


def _source_messages(
    client: RingCentralClient,
    extension: int,
    window_start: datetime,
    window_end: datetime,
    kinds: Sequence[str],
) -> dict[str, dict]:
    try:
        return {
            str(m["id"]): m
            for m in client.iter_messages(
                extension,
                window_start,
                window_end,
                message_types=list(kinds),
                availability=SOURCE_AVAILABILITY,
            )
        }
    except NotFound:
        return {}  # the mailbox was deleted since: nothing of it left at the source


def _verdicts(
    storage: ArchiveStorage, items: Sequence[Item], timezone: str
) -> dict[tuple[date, str], DayVerdict]:
    needed = {(i.day, "messages" if i.kind in MESSAGE_KINDS else "calls"): i.kind for i in items}
    return {key: day_verdict(storage, day_window(key[0], timezone), kind) for key, kind in needed.items()}


def plan_purge(storage: ArchiveStorage, client: RingCentralClient, request: PurgeRequest) -> PurgePlan:
    """What a purge would delete, and why anything else is not; reads the source, changes nothing."""
    plan = PurgePlan(request)
    mailboxes = list(request.extensions) or extension_ids(storage, client)
    holds = active_holds(storage)
    for day in days_between(request.start, request.end):
        window = day_window(day, request.timezone)
        messages = archived_messages(storage, day, request.message_kinds, request.extensions)
        if request.message_kinds:
            source: dict[str, dict] = {}
            for mailbox in mailboxes:
                source.update(
                    _source_messages(client, mailbox, window.start, window.end, request.message_kinds)
                )
            archived_ids = {m.id for m in messages}
            for record in source.values():
                counts = plan.counts[day, str(record.get("type"))]
                counts.at_source += 1
                counts.not_archived += str(record["id"]) not in archived_ids
            for item in messages:
                record = source.get(item.id)
                if record is None or (request.mode == "trash" and record.get("availability") == "Deleted"):
                    plan.counts[day, item.kind].gone += 1
                    plan.counts[day, item.kind].archived += 1
                    continue
                if reason := source_changed(item, record):
                    item.reasons.append(reason)
                plan.items.append(item)
        if RECORDING in request.kinds:
            plan.items.extend(archived_recordings(storage, day, request.extensions))
    block_unsafe(storage, plan.items, holds, _verdicts(storage, plan.items, request.timezone))
    for item in plan.items:
        counts = plan.counts[item.day, item.kind]
        counts.archived += 1
        counts.blocked += item.blocked
        counts.to_delete += not item.blocked
    return plan


@dataclass
class PurgeResult:
    deleted: list[Item] = field(default_factory=list)
    skipped: list[Item] = field(default_factory=list)  # blocked at the moment of deletion
    gone: list[Item] = field(default_factory=list)  # no longer at the source when its turn came
    failed: list[tuple[Item, str]] = field(default_factory=list)
    audit_entries: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.deleted)} deleted, {len(self.skipped)} skipped (blocked at the moment of deletion), "
            f"{len(self.gone)} already gone, {len(self.failed)} failed"
            + (
                f"; audit entries {self.audit_entries[0]}..{self.audit_entries[-1]}"
                if self.audit_entries
                else ""
            )
        )


def _batches(items: Sequence[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _current_versions(
    client: RingCentralClient, extension: int, items: Sequence[Item]
) -> dict[str, dict | None]:
    """The source's version of each message now (None: gone), read by explicit ids (Light)."""
    if len(items) == 1:
        try:
            return {items[0].id: client.get_message(extension, items[0].id)}
        except NotFound:
            return {items[0].id: None}
    answers = client.get_messages(extension, [i.id for i in items])
    return {i.id: (a.body if a.ok else None) for i, a in zip(items, answers, strict=True)}


class Purger:
    """Deletes a plan's items batch by batch, re-checking each batch at the moment it goes."""

    def __init__(
        self,
        storage: ArchiveStorage,
        client: RingCentralClient,
        request: PurgeRequest,
        *,
        operator: str,
        progress: Callable[[str], None],
    ) -> None:
        self.storage, self.client, self.request = storage, client, request
        self.operator, self.progress = operator, progress
        self.result = PurgeResult()

    def _audit(self, action: str, items: Sequence[dict[str, object]], **details: object) -> None:
        entry = audit.append(
            self.storage,
            command="purge",
            operator=self.operator,
            action=action,
            scope=self.request.scope(),
            items=items,
            details=details,
        )
        self.result.audit_entries.append(entry.seq)

    def _unknown_outcome(self, items: Sequence[Item], exc: Exception, **details: object) -> None:
        """The request may or may not have reached RingCentral; its intent entry already names the ids.

        Only the error's kind and status go into the trail: its text could quote content."""
        status = getattr(exc, "status", None)
        why = f"unknown: {type(exc).__name__}" + (f" HTTP {status}" if status else "")
        self._audit("delete_outcome", [i.audit(outcome=why) for i in items], **details)

    def _recheck(self, batch: list[Item], verdicts: dict[tuple[date, str], DayVerdict]) -> list[Item]:
        """The items of ``batch`` that are still safe to delete now; the others are set aside."""
        for item in batch:
            item.reasons.clear()
        block_unsafe(self.storage, batch, active_holds(self.storage), verdicts)
        safe = []
        for item in batch:
            (self.result.skipped if item.blocked else safe).append(item)
        unlocked = [i for i in batch if any(r.startswith(NOT_LOCKED) for r in i.reasons)]
        if unlocked:
            # WORM is on and the archive copy could still be deleted: the refusal is evidence too.
            self._audit(
                "delete_refused",
                [i.audit(reasons=[r for r in i.reasons if r.startswith(NOT_LOCKED)]) for i in unlocked],
                worm=f"{self.storage.worm.s3_mode if self.storage.worm else 'off'}",
            )
        return safe

    def _delete_messages(self, extension: int, batch: list[Item], verdicts: dict) -> None:
        safe = self._recheck(batch, verdicts)
        if not safe:
            return
        current = _current_versions(self.client, extension, safe)
        ready = []
        for item in safe:
            record = current.get(item.id)
            if record is None or (self.request.mode == "trash" and record.get("availability") == "Deleted"):
                self.result.gone.append(item)
            elif reason := source_changed(item, record):
                item.reasons.append(reason)
                self.result.skipped.append(item)
            else:
                ready.append(item)
        if not ready:
            return
        purge = self.request.mode == "purge"
        self._audit("delete_intent", [i.audit() for i in ready], extension_id=extension, purge=purge)
        try:
            outcomes = self.client.delete_messages(extension, [i.id for i in ready], purge=purge)
        except NotFound as exc:
            if len(ready) == 1:
                outcomes = [BulkItem(status=404, body={})]  # one id answers 404 as a whole request
            else:
                self._unknown_outcome(ready, exc, extension_id=extension)
                raise
        except Exception as exc:
            self._unknown_outcome(ready, exc, extension_id=extension)
            raise
        outcome_items = []
        for item, answer in zip(ready, outcomes, strict=True):
            if answer.ok:
                self.result.deleted.append(item)
                outcome_items.append(item.audit(outcome="trashed" if not purge else "purged"))
            elif answer.status == 404:
                self.result.gone.append(item)
                outcome_items.append(item.audit(outcome="gone"))
            else:
                self.result.failed.append((item, f"HTTP {answer.status}"))
                outcome_items.append(item.audit(outcome=f"failed: HTTP {answer.status}"))
        self._audit("delete_outcome", outcome_items, extension_id=extension, purge=purge)

    def _delete_recordings(self, batch: list[Item], verdicts: dict) -> None:
        ready = self._recheck(batch, verdicts)
        if not ready:
            return
        self._audit("delete_intent", [i.audit() for i in ready])
        try:
            self.client.delete_recordings([i.id for i in ready])
            outcomes = {i.id: "deleted" for i in ready}
        except NotFound:
            # All or nothing: find which ones are already gone, one by one (bounded by the batch).
            outcomes = {}
            for item in ready:
                try:
                    self.client.delete_recordings([item.id])
                    outcomes[item.id] = "deleted"
                except NotFound:
                    outcomes[item.id] = "gone"
        except Exception as exc:
            self._unknown_outcome(ready, exc)
            raise
        for item in ready:
            (self.result.deleted if outcomes[item.id] == "deleted" else self.result.gone).append(item)
        self._audit("delete_outcome", [i.audit(outcome=outcomes[i.id]) for i in ready])

    def run(self, items: Sequence[Item]) -> PurgeResult:
        by_day: dict[date, list[Item]] = defaultdict(list)
        for item in items:
            by_day[item.day].append(item)
        for day in sorted(by_day):
            # The day's archive checks run again now, right before its first deletion.
            verdicts = _verdicts(self.storage, by_day[day], self.request.timezone)
            mailboxes: dict[int, list[Item]] = defaultdict(list)
            recordings = []
            for item in by_day[day]:
                if item.kind == RECORDING:
                    recordings.append(item)
                elif item.extension_id is None:
                    item.reasons.append("no mailbox recorded for this message: cannot address it by id")
                    self.result.skipped.append(item)
                else:
                    mailboxes[item.extension_id].append(item)
            for extension, mailbox_items in sorted(mailboxes.items()):
                for batch in _batches(mailbox_items, MESSAGE_BATCH):
                    self._delete_messages(extension, batch, verdicts)
            for batch in _batches(recordings, RECORDING_BATCH):
                self._delete_recordings(batch, verdicts)
            self.progress(f"{day}: {self.result.summary()}")
        return self.result


def execute_purge(
    storage: ArchiveStorage,
    client: RingCentralClient,
    plan: PurgePlan,
    *,
    operator: str,
    progress: Callable[[str], None] = lambda _: None,
) -> PurgeResult:
    """Delete the plan's deletable items (each re-checked at its moment); audited batch by batch.

    The plan itself is left as planned: the re-checks work on copies of its items.
    """
    items = [replace(item, reasons=[]) for item in plan.deletable]
    return Purger(storage, client, plan.request, operator=operator, progress=progress).run(items)


def trashed_by(storage: ArchiveStorage, seq: int) -> dict[int, list[str]]:
    """The message ids (by mailbox) that audit entry ``seq``, a trash-mode delete outcome, moved to the trash."""
    verdict = audit.verify(storage)
    if not verdict.ok:
        raise PurgeError(f"the audit trail is broken ({verdict.problem}): restore will not act on it")
    entry = {e.seq: e for e in audit.read_entries(storage)}.get(seq)
    if entry is None or entry.action != "delete_outcome":
        raise PurgeError(f"audit entry {seq} is not a purge's delete outcome (see `rc-pipeline audit list`)")
    by_mailbox: dict[int, list[str]] = defaultdict(list)
    for item in entry.items:
        if item.get("outcome") == "trashed":
            by_mailbox[int(item["extension_id"])].append(str(item["id"]))
    if not by_mailbox:
        raise PurgeError(f"audit entry {seq} names no message moved to the trash: nothing to restore")
    return dict(sorted(by_mailbox.items()))


def restore(
    storage: ArchiveStorage,
    client: RingCentralClient,
    seq: int,
    *,
    operator: str,
) -> dict[str, str]:
    """Bring back from the trash the messages an audit entry (a trash-mode delete outcome) names."""
    outcomes: dict[str, str] = {}
    for extension, ids in trashed_by(storage, seq).items():
        for start in range(0, len(ids), MESSAGE_BATCH):
            chunk = ids[start : start + MESSAGE_BATCH]
            scope = {"audit_entry": seq, "extension_id": extension}
            items = [{"id": i, "kind": "message", "extension_id": extension} for i in chunk]
            audit.append(
                storage,
                command="restore",
                operator=operator,
                action="restore_intent",
                scope=scope,
                items=items,
            )
            statuses: list[int] = []
            try:
                statuses = _restore(client, extension, chunk)
            finally:
                # Written whatever happened: an intent without its outcome would leave the trail unsure.
                for n, message_id in enumerate(chunk):
                    status = statuses[n] if statuses else None
                    outcomes[message_id] = (
                        "unknown: the request failed"
                        if status is None
                        else "restored"
                        if 200 <= status < 300
                        else f"failed: HTTP {status}"
                    )
                audit.append(
                    storage,
                    command="restore",
                    operator=operator,
                    action="restore_outcome",
                    scope=scope,
                    items=[{**i, "outcome": outcomes[str(i["id"])]} for i in items],
                )
    return outcomes


def _restore(client: RingCentralClient, extension: int, ids: list[str]) -> list[int]:
    """HTTP status per id of a restore (one id answers with the message, several with a 207)."""
    try:
        answer = client.restore_messages(extension, ids)
    except NotFound:
        if len(ids) > 1:
            raise
        return [404]
    return [part.status for part in answer] if isinstance(answer, list) else [200]

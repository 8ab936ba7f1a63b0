"""Marking messages Read or Unread at RingCentral, by explicit ids only, audited.

A selection is either explicit ids (their mailbox from the archive's `messages` table, or the one
--extension names) or one mailbox and a range of days (listed at the source with an explicit window).
Updates go 50 ids per request (RingCentral's bulk limit); a 207 answer carries a status per id, so
each id's outcome is recorded on its own. The audit trail gets the intent (ids) before the first
request and the outcomes after the last; never message content. `messages mark` is a dry run (what
would be marked, per mailbox; nothing sent) unless `--execute` is given.

Legal holds are not consulted: marking changes no content and deletes nothing. But RingCentral
bumps a message's lastModifiedTime when its read status changes, and the purge refuses to delete a
message whose lastModifiedTime differs from the archived copy's: marked messages are skipped by a
purge until their day is archived again (`rc-pipeline archive` for those days).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rc_pipeline.control import audit
from rc_pipeline.days import day_window
from rc_pipeline.ringcentral import BulkItem, RingCentralClient, RingCentralError
from rc_pipeline.ringcentral.multipart import MAX_BULK_IDS
from rc_pipeline.settings import ArchiveSettings, PipelineSettings, read, ringcentral_settings
from rc_pipeline.storage import ArchiveStorage, Dataset

READ, UNREAD = "Read", "Unread"
# What a mailbox listing offers to mark: messages in the trash are not read by anyone.
MARKABLE_AVAILABILITY = ("Alive",)
COMMAND = "messages mark"


class ReadStatusError(ValueError):
    """A selection that cannot be marked; the message says what to give instead."""


@dataclass(frozen=True)
class MarkOutcome:
    id: str
    extension_id: int
    status: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.error is None

    def audit(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "extension_id": self.extension_id,
            "outcome": "marked" if self.ok else f"failed: {self.error or f'HTTP {self.status}'}",
        }


@dataclass
class MarkResult:
    read_status: str
    outcomes: list[MarkOutcome] = field(default_factory=list)
    # Window selections: listed messages already in the wanted state (not sent).
    already: int = 0
    requests: int = 0
    audit_entries: list[int] = field(default_factory=list)

    @property
    def marked(self) -> list[MarkOutcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[MarkOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def describe(self) -> str:
        mailboxes = len({o.extension_id for o in self.outcomes})
        lines = [
            f"{len(self.marked)} message(s) marked {self.read_status} in {mailboxes} mailbox(es) "
            f"({self.requests} request(s)); {len(self.failed)} failed"
            + (f"; {self.already} already {self.read_status}" if self.already else "")
            + (f". Audit entries {', '.join(map(str, self.audit_entries))}." if self.audit_entries else ".")
        ]
        lines += [
            f"  failed {o.id} (extension {o.extension_id}): {o.error or f'HTTP {o.status}'}"
            for o in self.failed
        ]
        return "\n".join(lines)


@dataclass
class MarkPlan:
    """What a mark would send: the ids per mailbox (in request order), and the selection's scope."""

    read_status: str
    groups: dict[int, list[str]]
    selection: dict[str, Any]
    # Window selections: listed messages already in the wanted state (never sent).
    already: int = 0

    @property
    def ids(self) -> int:
        return sum(len(g) for g in self.groups.values())

    def describe(self) -> str:
        """The dry run: how many ids per mailbox would be marked, and in how many requests."""
        requests = sum(-(-len(g) // MAX_BULK_IDS) for g in self.groups.values())
        mailboxes = sum(1 for g in self.groups.values() if g)
        lines = [
            f"Dry run: {self.ids} message(s) in {mailboxes} mailbox(es) would be marked "
            f"{self.read_status} ({requests} request(s))"
            + (f"; {self.already} already {self.read_status}" if self.already else "")
            + "."
        ]
        lines += [
            f"  mailbox {extension_id}: {len(group)} id(s)"
            for extension_id, group in sorted(self.groups.items())
            if group
        ]
        return "\n".join(lines)


def _message_ids(ids: Iterable[int | str]) -> list[str]:
    """Distinct ids in the order given; each must be a message id (a positive whole number)."""
    out: list[str] = []
    for raw in ids:
        text = str(raw).strip()
        if not text.isdigit() or int(text) <= 0:
            raise ReadStatusError(f"{raw!r} is not a message id (a positive whole number)")
        text = str(int(text))
        if text not in out:
            out.append(text)
    return out


def mailboxes_of(storage: ArchiveStorage, ids: Sequence[str]) -> dict[int, list[str]]:
    """Each id's mailbox from the archive's `messages` table (newest day first, stopping when every id
    is found); ReadStatusError naming the ids the archive does not hold."""
    wanted = set(ids)
    owner: dict[str, int] = {}
    for day in reversed(storage.list_partitions(Dataset.MESSAGES)):
        table = storage.read_parquet(Dataset.MESSAGES, day).select(["id", "extension_id"])
        for row in table.to_pylist():
            key = str(row["id"])
            if key in wanted and key not in owner and row["extension_id"] is not None:
                owner[key] = int(row["extension_id"])
        if len(owner) == len(wanted):
            break
    unknown = [i for i in ids if i not in owner]
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise ReadStatusError(
            f"the archive holds no message {shown}: name the mailbox with --extension, or archive it first"
        )
    grouped: dict[int, list[str]] = {}
    for i in ids:
        grouped.setdefault(owner[i], []).append(i)
    return grouped


def check_selection(
    ids: Sequence[int | str] | None, extension_id: int | None, start: date | None, end: date | None
) -> None:
    """ReadStatusError unless the selection is explicit ids, or one mailbox and a range of days."""
    if ids:
        if start or end:
            raise ReadStatusError("give either message ids or --start/--end, not both")
        _message_ids(ids)
    elif start or end:
        if extension_id is None or start is None or end is None:
            raise ReadStatusError("a window selection needs --extension, --start and --end")
        if end < start:
            raise ReadStatusError(f"--end {end} is before --start {start}")
    else:
        raise ReadStatusError(
            "no messages selected: give --ids (with --extension, or ids the archive holds), or --extension "
            "with --start and --end; nothing was sent"
        )


def _window_selection(
    client: RingCentralClient, extension_id: int, start: date, end: date, tz: str, status: str
) -> tuple[list[str], int]:
    """(ids to mark, how many are already in that state) of one mailbox's days, listed at the source."""
    messages = list(
        client.iter_messages(
            extension_id,
            day_window(start, tz).start,
            day_window(end, tz).end,
            availability=MARKABLE_AVAILABILITY,
        )
    )
    if not messages:
        raise ReadStatusError(
            f"mailbox {extension_id} holds no message from {start} to {end} at RingCentral: nothing to mark"
        )
    pending = [str(m["id"]) for m in messages if m.get("readStatus") != status]
    return pending, len(messages) - len(pending)


def _batch_outcomes(
    client: RingCentralClient, extension_id: int, batch: list[str], status: str
) -> list[MarkOutcome]:
    """One request for up to 50 ids; every id gets its own outcome (207 parts, or the whole answer)."""
    try:
        answer = client.update_read_status(extension_id, batch, status)
    except RingCentralError as exc:
        # The request as a whole failed (one id answers 404 this way, too): each id says so. The HTTP
        # status and error code only (the class when RingCentral said neither): never the text.
        error = (
            " ".join(str(x) for x in (exc.status and f"HTTP {exc.status}", exc.error_code) if x)
            or type(exc).__name__
        )
        return [MarkOutcome(i, extension_id, exc.status or 0, error) for i in batch]
    parts = answer if isinstance(answer, list) else [BulkItem(status=200, body=answer or {})]
    if len(parts) != len(batch):
        return [
            MarkOutcome(i, extension_id, 0, f"answer had {len(parts)} parts for {len(batch)} ids")
            for i in batch
        ]
    outcomes = []
    for message_id, part in zip(batch, parts, strict=True):
        error = None
        if not part.ok:
            code = part.body.get("errorCode") or next(
                (e.get("errorCode") for e in part.body.get("errors") or [] if isinstance(e, dict)), None
            )
            error = " ".join(x for x in (f"HTTP {part.status}", code) if x)
        elif str(part.body.get("readStatus", status)) != status:
            error = f"RingCentral answered readStatus {part.body.get('readStatus')!r}"
        outcomes.append(MarkOutcome(message_id, extension_id, part.status, error))
    return outcomes


def plan_marks(
    storage: ArchiveStorage,
    client: RingCentralClient | None,
    *,
    read: bool,
    ids: Sequence[int | str] | None = None,
    extension_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    tz: str,
) -> MarkPlan:
    """What `mark_messages` would send, without sending any change.

    Select either ``ids`` (their mailbox from the archive, or ``extension_id`` for all of them; no
    request at all) or ``extension_id`` with ``start`` and ``end`` (days in ``tz``, inclusive; the
    mailbox is listed at the source with that explicit window, read only, and only messages not
    already in the wanted state are planned). ReadStatusError for an empty or ambiguous selection.
    """
    check_selection(ids, extension_id, start, end)
    status = READ if read else UNREAD
    if ids:
        selected = _message_ids(ids)
        groups = (
            {int(extension_id): selected} if extension_id is not None else mailboxes_of(storage, selected)
        )
        return MarkPlan(status, groups, {"selection": "ids"})
    assert extension_id is not None and start is not None and end is not None
    if client is None:
        raise ReadStatusError("a window selection is listed at RingCentral: a client is needed")
    pending, already = _window_selection(client, int(extension_id), start, end, tz, status)
    selection = {"selection": "window", "start": start.isoformat(), "end": end.isoformat(), "timezone": tz}
    return MarkPlan(status, {int(extension_id): pending} if pending else {}, selection, already)


def mark_messages(
    storage: ArchiveStorage,
    client: RingCentralClient,
    *,
    read: bool,
    ids: Sequence[int | str] | None = None,
    extension_id: int | None = None,
    start: date | None = None,
    end: date | None = None,
    tz: str,
    operator: str,
) -> MarkResult:
    """Mark messages Read (``read``) or Unread at RingCentral: the selection of `plan_marks`, sent.

    ReadStatusError, before any change is sent, for an empty or ambiguous selection. Holds are not
    consulted (nothing is deleted); marked messages get a new lastModifiedTime at RingCentral, so a
    purge skips them until their day is archived again.
    """
    plan = plan_marks(
        storage, client, read=read, ids=ids, extension_id=extension_id, start=start, end=end, tz=tz
    )
    status, groups, selection = plan.read_status, plan.groups, plan.selection
    result = MarkResult(status, already=plan.already)
    if not any(groups.values()):
        return result  # every listed message already has that status: nothing to change
    scope = {"read_status": status, **selection, "extensions": sorted(groups)}
    intent = [{"id": i, "extension_id": e} for e, group in groups.items() for i in group]
    result.audit_entries.append(
        audit.append(
            storage,
            command=COMMAND,
            operator=operator,
            action="read_status_intent",
            scope=scope,
            items=intent,
        ).seq
    )
    interrupted: str | None = None
    try:
        for ext, group in groups.items():
            for first in range(0, len(group), MAX_BULK_IDS):
                batch = group[first : first + MAX_BULK_IDS]
                result.requests += 1
                result.outcomes.extend(_batch_outcomes(client, ext, batch, status))
    except BaseException as exc:
        # The class (and HTTP status) only: an exception's text never goes into the trail.
        interrupted = type(exc).__name__ + (
            f" HTTP {exc.status}" if isinstance(exc, RingCentralError) and exc.status else ""
        )
        raise
    finally:
        done = {(o.id, o.extension_id) for o in result.outcomes}
        items = [o.audit() for o in result.outcomes] + [
            {**i, "outcome": "not sent"} for i in intent if (i["id"], i["extension_id"]) not in done
        ]
        details: dict[str, Any] = {"marked": len(result.marked), "failed": len(result.failed)}
        if interrupted:
            details["interrupted"] = interrupted
        result.audit_entries.append(
            audit.append(
                storage,
                command=COMMAND,
                operator=operator,
                action="read_status_outcome",
                scope=scope,
                items=items,
                details=details,
            ).seq
        )
    return result


# -------------------------------------------------------------------------------------------- CLI


def _ids(text: str) -> list[str]:
    return [part for part in text.split(",") if part.strip()]


def messages_command(argv: Sequence[str]) -> int:
    """`rc-pipeline messages mark --read|--unread ... [--execute]`. Exit 0 done (or, without --execute,
    planned), 1 some ids failed, 2 error."""
    parser = argparse.ArgumentParser(
        prog="rc-pipeline messages", description="Change messages at RingCentral."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    mark = sub.add_parser(
        "mark",
        help="mark messages Read or Unread, by ids or for one mailbox's days",
        description="Mark messages Read or Unread at RingCentral, 50 ids per request, audited. Select "
        "--ids (their mailbox from the archive, or --extension), or --extension with --start and --end "
        "(the mailbox is listed at RingCentral for those days). Without --execute it only prints how many "
        "ids per mailbox would be marked and sends nothing. Marking changes a message's lastModifiedTime "
        "at RingCentral: a purge skips it until its day is archived again.",
    )
    state = mark.add_mutually_exclusive_group(required=True)
    state.add_argument("--read", action="store_true", help="mark Read")
    state.add_argument("--unread", action="store_true", help="mark Unread")
    mark.add_argument(
        "--ids", nargs="+", type=_ids, default=[], help="message ids, space- or comma-separated"
    )
    mark.add_argument("--extension", type=int, help="the mailbox (extension id)")
    mark.add_argument("--start", type=date.fromisoformat, help="first day, YYYY-MM-DD (with --extension)")
    mark.add_argument("--end", type=date.fromisoformat, help="last day, YYYY-MM-DD (with --extension)")
    mark.add_argument("--execute", action="store_true", help="mark them; without it nothing is sent")
    mark.add_argument(
        "--operator", help="who runs this, for the audit trail (default RC_OPERATOR, the OS user)"
    )
    args = parser.parse_args(list(argv))
    ids = [i for group in args.ids for i in group]
    selection: dict[str, Any] = {
        "read": args.read,
        "ids": ids or None,
        "extension_id": args.extension,
        "start": args.start,
        "end": args.end,
    }
    try:
        settings = ArchiveSettings.from_env()
        storage = ArchiveStorage(settings.root, warehouse_path=settings.warehouse_path, worm=settings.worm)
        operator = args.operator or read("RC_OPERATOR") or audit.default_operator()
        tz = PipelineSettings.from_env().timezone
        # Refused before connecting when the selection cannot be right: nothing is sent then.
        check_selection(ids, args.extension, args.start, args.end)
        with contextlib.ExitStack() as stack:
            # An ids selection is planned from the archive alone: no login for a dry run of it.
            needs_client = args.execute or not ids
            client = (
                stack.enter_context(
                    RingCentralClient(
                        ringcentral_settings(),
                        throttle_dir=settings.throttle_dir,
                        throttle_url=settings.throttle_url,
                    )
                )
                if needs_client
                else None
            )
            if not args.execute:
                plan = plan_marks(storage, client, tz=tz, **selection)
                print(plan.describe())
                print("Nothing was sent; add --execute to mark them.")
                return 0
            assert client is not None
            result = mark_messages(storage, client, tz=tz, operator=operator, **selection)
    except (ValueError, RingCentralError, FileNotFoundError) as exc:
        print(f"rc-pipeline messages mark: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    print(result.describe())
    return 1 if result.failed else 0

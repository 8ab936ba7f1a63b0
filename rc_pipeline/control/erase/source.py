"""The source side: the mailbox listed by explicit windows, and purged by explicit ids (at most 50
per request, never an empty list, never the delete-by-filter endpoint), each answer taken per id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from rc_pipeline.control import audit
from rc_pipeline.control.erase.model import ErasureBlocked, ErasurePlan, ErasureResult, Progress, _blocked
from rc_pipeline.control.erase.records import _message_id
from rc_pipeline.control.erase.trail import COMMAND, SOURCE_INTENT, SOURCE_OUTCOME, error_summary
from rc_pipeline.control.holds import active_holds
from rc_pipeline.days import day_window
from rc_pipeline.ringcentral import BulkItem, NotFound, RingCentralClient, RingCentralError
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.transform.raw_shapes import coerce

# RingCentral takes up to 50 ids in one delete path (CMN-106 beyond): API-NOTES §11.
MAX_IDS_PER_REQUEST = 50
SOURCE_AVAILABILITY = ("Alive", "Deleted")
# Where the listing at the source starts when the caller names no earlier day: SMS are kept without a
# time limit, so the source is listed from well before any account could have messages.
SOURCE_FLOOR = date(2000, 1, 1)


@dataclass(frozen=True)
class _SourceMessage:
    id: int
    day: date
    kind: str | None
    availability: str | None


def _day_of(record: Mapping[str, Any], tz: ZoneInfo, fallback: date) -> date:
    text = str(record.get("creationTime") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(tz).date()
    except ValueError:
        return fallback


def _source_windows(
    person_days: Iterable[date], timezone: str, since: date, now: datetime
) -> list[tuple[date | None, datetime, datetime]]:
    """One explicit window per archived day of the person, and windows covering everything else from
    ``since`` to ``now``: together they cover what the source can still hold, without overlap."""
    windows: list[tuple[date | None, datetime, datetime]] = []
    cursor = day_window(since, timezone).start
    for day in sorted(set(person_days)):
        window = day_window(day, timezone)
        if window.start >= now:
            break
        if cursor < window.start:
            windows.append((None, cursor, window.start))
        windows.append((day, window.start, window.end))
        cursor = max(cursor, window.end)
    if cursor < now:
        windows.append((None, cursor, now))
    return windows


def _list_source(
    client: RingCentralClient,
    extension_id: int,
    windows: list[tuple[date | None, datetime, datetime]],
    timezone: str,
) -> tuple[dict[int, _SourceMessage], bool]:
    """What the source still holds of the mailbox (Alive and Deleted, every type), by id; False when
    RingCentral does not know the extension."""
    tz = ZoneInfo(timezone)
    found: dict[int, _SourceMessage] = {}
    for day, start, end in windows:
        try:
            # No type filter (every type, Text included); explicit dateFrom/dateTo, perPage 1000.
            for record in client.iter_messages(
                extension_id, start, end, availability=SOURCE_AVAILABILITY, message_types=()
            ):
                message_id = _message_id(record)
                if message_id is None:
                    continue
                found[message_id] = _SourceMessage(
                    message_id,
                    day or _day_of(record, tz, start.astimezone(tz).date()),
                    coerce(record.get("type"), pa.string()),
                    coerce(record.get("availability"), pa.string()),
                )
        except NotFound:
            return {}, False
    return found, True


# ------------------------------------------------------------------ execute: the source
def _delete_at_source(
    storage: ArchiveStorage,
    client: RingCentralClient,
    plan: ErasurePlan,
    scope: dict[str, Any],
    operator: str,
    result: ErasureResult,
    say: Progress,
) -> None:
    messages = sorted(
        ((message_id, d.day, d.kinds.get(message_id)) for d in plan.days for message_id in d.at_source),
        key=lambda m: m[0],
    )
    batches = [messages[i : i + MAX_IDS_PER_REQUEST] for i in range(0, len(messages), MAX_IDS_PER_REQUEST)]
    for number, batch in enumerate(batches, start=1):
        ids = [message_id for message_id, _, _ in batch]
        if not ids:
            continue  # never a request without ids: RingCentral would delete the whole mailbox
        # Holds are read again before every request: one may have been added while this runs.
        blocked = _blocked(batch, active_holds(storage), plan.extension_id)
        if blocked:
            for message_id, _, _ in messages[(number - 1) * MAX_IDS_PER_REQUEST :]:
                result.source.setdefault(message_id, "not_sent")
            raise ErasureBlocked(plan.extension_id, blocked)
        batch_scope = {**scope, "batch": number, "batches": len(batches), "purge": True}
        entry = audit.append(
            storage,
            command=COMMAND,
            operator=operator,
            action=SOURCE_INTENT,
            scope=batch_scope,
            items=[
                {
                    "id": str(i),
                    "kind": k or "unknown",
                    "day": d.isoformat(),
                    "extension_id": plan.extension_id,
                }
                for i, d, k in batch
            ],
        )
        result.audit_seqs.append(entry.seq)
        try:
            outcomes, error, stop = _delete_batch(client, plan.extension_id, ids)
        except BaseException as exc:
            # The request may or may not have reached RingCentral: say so per id (the intent names them).
            entry = audit.append(
                storage,
                command=COMMAND,
                operator=operator,
                action=SOURCE_OUTCOME,
                scope=batch_scope,
                items=[
                    {
                        "id": str(i),
                        "outcome": f"unknown: {error_summary(exc)}",
                        "extension_id": plan.extension_id,
                    }
                    for i in ids
                ],
                details={"error": error_summary(exc)},
            )
            result.audit_seqs.append(entry.seq)
            for message_id in ids:
                result.source[message_id] = "unknown"
            raise
        for message_id in ids:
            result.source[message_id] = outcomes[message_id].partition(":")[0]
        entry = audit.append(
            storage,
            command=COMMAND,
            operator=operator,
            action=SOURCE_OUTCOME,
            scope=batch_scope,
            items=[{"id": str(i), "outcome": outcomes[i], "extension_id": plan.extension_id} for i in ids],
            details={"error": error} if error else {},
        )
        result.audit_seqs.append(entry.seq)
        counts = Counter(result.source[i] for i in ids)
        say(
            f"source: batch {number}/{len(batches)}: "
            + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        )
        unsettled = [i for i in ids if result.source[i] in ("failed", "unknown")]
        if unsettled:
            why = error or "; ".join(sorted({outcomes[i].partition(": ")[2] for i in unsettled}))
            result.source_failures.append(
                f"batch {number}: {len(unsettled)} of {len(ids)} id(s) not purged ({why})"
            )
        if stop:
            # A refusal of the whole request (permissions, throttling beyond retries) would repeat.
            for message_id, _, _ in messages[number * MAX_IDS_PER_REQUEST :]:
                result.source.setdefault(message_id, "not_sent")
            return


def _delete_batch(
    client: RingCentralClient, extension_id: int, ids: list[int]
) -> tuple[dict[int, str], str | None, bool]:
    """One delete request (purge) for ``ids``: each id's audit outcome (``purged``, ``already_gone``,
    ``failed: HTTP <status>`` or ``unknown: <why>``), the error of the request as a whole (None when
    RingCentral answered per id), and whether to stop sending further batches.

    RingCentral answers a 204 (every id purged) or a 207 with a status per id: 2xx purged, 404 already
    gone (purged since the plan, or by someone else: the goal holds), anything else failed. A 404 for
    the whole request means that id is gone only when the request named one id; for several ids it
    says nothing about each one (the mailbox itself may be unknown), so they are recorded as unknown.
    """
    try:
        answers: list[BulkItem] = client.delete_messages(extension_id, ids, purge=True)
    except NotFound as exc:
        if len(ids) == 1:
            return {ids[0]: "already_gone"}, None, False
        error = error_summary(exc)
        return dict.fromkeys(ids, f"unknown: {error} for the whole request"), error, True
    except RingCentralError as exc:
        error = error_summary(exc)
        return dict.fromkeys(ids, f"failed: {error}"), error, True
    if not isinstance(answers, list) or len(answers) != len(ids):
        error = (
            f"answer had {len(answers) if isinstance(answers, list) else 'no'} part(s) for {len(ids)} id(s)"
        )
        return dict.fromkeys(ids, f"unknown: {error}"), error, True
    outcomes = {}
    for message_id, answer in zip(ids, answers, strict=True):
        if answer.ok:
            outcomes[message_id] = "purged"
        elif answer.status == 404:
            outcomes[message_id] = "already_gone"
        else:
            code = answer.body.get("errorCode") if isinstance(answer.body, Mapping) else None
            outcomes[message_id] = "failed: " + " ".join(x for x in (f"HTTP {answer.status}", code) if x)
    return outcomes, None, False

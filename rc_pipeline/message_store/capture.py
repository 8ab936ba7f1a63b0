"""Capture within minutes: new and changed messages through message-sync, kept as received.

The daily export or listing sees a day once it is over; a message its user purges an hour after it
arrived is gone by then. A capture run asks every extension's `message-sync` (Light group) for what
changed since its last run: FSync the first time (from the start of the lookback window), ISync
with the stored sync token afterwards, FSync again when RingCentral answers MSG-333 ("full sync
required"). Each response lands in the capture layer as received, in every day whose messages it
holds, and the attachments of captured messages are downloaded at once into the archive's attachment
store, so the purged message stays archived with its content. The day's tables take these records
in beside the day's export or listing (`rc_pipeline.message_store.tables`).

Order of writes, so a crash never loses a change: capture files, then each day's `_captures.json`,
then attachments and their index, and only then the new sync tokens. A crash before the tokens are
saved repeats the same changes next time (duplicates are harmless: the newest version wins).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from rc_pipeline.days import day_window
from rc_pipeline.directory import extension_ids
from rc_pipeline.downloads import download_all
from rc_pipeline.message_store.captured import (
    CaptureFile,
    capture_files,
    captured_attachment_index,
    message_day,
    write_capture_manifest,
)
from rc_pipeline.message_store.export_state import LEASE_WAIT_SECONDS, export_lease
from rc_pipeline.message_store.fetch import download_attachment
from rc_pipeline.message_store.raw import merged_attachment_index, read_attachment_index
from rc_pipeline.ringcentral import NotFound, RingCentralClient, RingCentralError
from rc_pipeline.ringcentral.errors import SyncRequired
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.messages import ArchivedFile, MessageRecord, attachment_key, attachments_of
from rc_pipeline.transform.raw_shapes import coerce

# Records asked for by a full sync. The daily export or listing archives whatever an FSync leaves out
# (`olderRecordsExist`): the capture exists for what arrives and changes from now on.
FULL_SYNC_RECORDS = 1000
# An incremental sync that keeps saying more changes wait is followed at most this many times a run.
MAX_INCREMENTAL_ROUNDS = 20


@dataclass(frozen=True)
class SyncState:
    """One extension's message-sync chain: the token to continue from, and where the chain began."""

    extension_id: int
    sync_token: str
    # When the FSync that began this chain ran: changes since then reach the archive through ISync.
    chain_started_at: str
    date_from: str
    last_sync_at: str
    sync_time: str | None = None
    full_syncs: int = 1

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> SyncState:
        return cls(
            extension_id=int(value["extension_id"]),
            sync_token=str(value["sync_token"]),
            chain_started_at=str(value["chain_started_at"]),
            date_from=str(value["date_from"]),
            last_sync_at=str(value["last_sync_at"]),
            sync_time=value.get("sync_time"),
            full_syncs=int(value.get("full_syncs") or 1),
        )


def load_state(storage: ArchiveStorage, extension_id: int) -> SyncState | None:
    """The stored sync state of an extension; None before its first capture."""
    try:
        return SyncState.from_json(storage.read_json(storage.capture_state_path(extension_id)))
    except FileNotFoundError:
        return None
    except (KeyError, TypeError, ValueError):
        # An unreadable token is no worse than a rejected one: a full sync starts a new chain.
        return None


def save_state(storage: ArchiveStorage, state: SyncState) -> None:
    storage.write_json(storage.capture_state_path(state.extension_id), asdict(state))


@dataclass
class CaptureReport:
    """What one capture run did."""

    stamp: str
    extensions: int = 0
    full_syncs: int = 0
    incremental_syncs: int = 0
    requests: int = 0
    # Extensions whose token RingCentral refused (MSG-333): synced in full again.
    full_sync_required: list[int] = field(default_factory=list)
    # Extensions whose full sync left older messages out (the daily export or listing has them).
    older_records_exist: list[int] = field(default_factory=list)
    extensions_not_found: list[int] = field(default_factory=list)
    failed_extensions: list[str] = field(default_factory=list)
    responses: int = 0
    records: int = 0
    files: int = 0
    # Days whose messages the run captured (their tables need rebuilding when already built).
    days: set[date] = field(default_factory=set)
    attachments_downloaded: int = 0
    attachments_already_archived: int = 0
    # Attachments RingCentral no longer had (purged before the capture reached them).
    attachments_gone: list[str] = field(default_factory=list)
    # Attachments that failed for another reason: retried by the next capture.
    attachments_pending: list[str] = field(default_factory=list)
    # Attachments not started within the run's time budget: taken first by the next capture.
    attachments_deferred: int = 0

    def summary(self) -> str:
        parts = [
            f"{self.extensions} extension(s): {self.incremental_syncs} incremental, {self.full_syncs} full sync(s)",
            f"{self.records} record(s) in {self.responses} response(s) over {len(self.days)} day(s)",
            f"{self.attachments_downloaded} attachment(s) downloaded",
        ]
        if self.full_sync_required:
            parts.append(f"full sync required for {len(self.full_sync_required)}")
        if self.attachments_gone:
            parts.append(f"{len(self.attachments_gone)} attachment(s) already gone at the source")
        if self.attachments_pending:
            parts.append(f"{len(self.attachments_pending)} attachment(s) pending retry")
        if self.attachments_deferred:
            parts.append(f"{self.attachments_deferred} attachment(s) left for the next capture (time budget)")
        if self.failed_extensions:
            parts.append(f"{len(self.failed_extensions)} extension(s) failed")
        return "; ".join(parts)


def full_sync_start(
    now: datetime, timezone: str, lookback_days: int, first_day: date | None = None
) -> datetime:
    """Where a full sync starts: the first day the daily schedule still archives (yesterday and the
    lookback days before it), never before the archive's first day."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    start = today - timedelta(days=lookback_days + 1)
    if first_day is not None:
        start = max(start, first_day)
    return day_window(start, timezone).start


def capture_stamp(now: datetime) -> str:
    """A capture run's name in file names: its UTC time to the microsecond."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass
class _Extension:
    """One extension's responses of this run, and the state to save once they are stored."""

    extension_id: int
    responses: list[tuple[Mapping[str, Any], bytes]]
    state: SyncState


def capture_messages(
    client: RingCentralClient,
    storage: ArchiveStorage,
    *,
    timezone: str,
    full_sync_from: datetime,
    progress: Callable[[str], None],
    now: datetime | None = None,
    attachment_seconds: float | None = None,
    lease_wait_seconds: float = LEASE_WAIT_SECONDS,
) -> CaptureReport:
    """One capture run over every extension of the directory (see the module's docstring).

    ``attachment_seconds`` bounds the time spent starting attachment downloads (a sensor tick has a
    timeout): the attachments not reached are kept pending and the next capture takes them first.
    LeaseBusy when another capture holds the capture layer for over ``lease_wait_seconds``.
    """
    now = now or datetime.now(UTC)
    report = CaptureReport(stamp=capture_stamp(now))
    with export_lease(storage, path=storage.capture_lease_path(), wait_seconds=lease_wait_seconds):
        synced: list[_Extension] = []
        for extension_id in extension_ids(storage, client):
            report.extensions += 1
            try:
                synced.append(_sync_extension(client, storage, extension_id, full_sync_from, now, report))
            except NotFound:
                report.extensions_not_found.append(extension_id)
            except (RingCentralError, ValueError) as exc:
                # One mailbox failing (or answering without a token) must not hold the others back;
                # its token stays where it was, so the next capture asks again from there.
                report.failed_extensions.append(f"{extension_id}: {exc}")
        captured = _store_responses(storage, synced, timezone, now, report)
        deadline = time.monotonic() + attachment_seconds if attachment_seconds is not None else None
        _archive_attachments(client, storage, captured, report, progress, deadline)
        for item in synced:
            save_state(storage, item.state)
    progress(f"capture {report.stamp}: {report.summary()}")
    return report


def _sync_extension(
    client: RingCentralClient,
    storage: ArchiveStorage,
    extension_id: int,
    full_sync_from: datetime,
    now: datetime,
    report: CaptureReport,
) -> _Extension:
    state = load_state(storage, extension_id)
    if state is not None:
        try:
            return _incremental(client, extension_id, state, now, report)
        except SyncRequired:
            report.full_sync_required.append(extension_id)
            # The chain is broken from now on, whether or not the full sync below succeeds: the days
            # fetched before now are no longer vouched for (the schedule exports them again).
            save_state(storage, replace(state, chain_started_at=now.astimezone(UTC).isoformat()))
    body, raw = _call(client, extension_id, report, sync_type="FSync", date_from=full_sync_from)
    report.full_syncs += 1
    info = _sync_info(body, extension_id)
    if info.get("olderRecordsExist"):
        report.older_records_exist.append(extension_id)
    stamp = now.astimezone(UTC).isoformat()
    new_state = SyncState(
        extension_id=extension_id,
        sync_token=_token(info, extension_id),
        chain_started_at=stamp,
        date_from=full_sync_from.astimezone(UTC).isoformat(),
        last_sync_at=stamp,
        sync_time=info.get("syncTime"),
        full_syncs=(state.full_syncs + 1) if state is not None else 1,
    )
    return _Extension(extension_id, [(body, raw)], new_state)


def _incremental(
    client: RingCentralClient, extension_id: int, state: SyncState, now: datetime, report: CaptureReport
) -> _Extension:
    responses: list[tuple[Mapping[str, Any], bytes]] = []
    token = state.sync_token
    info: Mapping[str, Any] = {}
    for _ in range(MAX_INCREMENTAL_ROUNDS):
        body, raw = _call(client, extension_id, report, sync_type="ISync", sync_token=token)
        report.incremental_syncs += 1
        responses.append((body, raw))
        info = _sync_info(body, extension_id)
        token = _token(info, extension_id)
        if not (info.get("olderRecordsExist") and body.get("records")):
            break
    # Changes left unread (RingCentral still says older ones exist): the chain has a gap, and only what
    # is fetched from now on is vouched for.
    gap = bool(info.get("olderRecordsExist"))
    new_state = SyncState(
        extension_id=extension_id,
        sync_token=token,
        chain_started_at=now.astimezone(UTC).isoformat() if gap else state.chain_started_at,
        date_from=state.date_from,
        last_sync_at=now.astimezone(UTC).isoformat(),
        sync_time=info.get("syncTime") or state.sync_time,
        full_syncs=state.full_syncs,
    )
    return _Extension(extension_id, responses, new_state)


def _call(
    client: RingCentralClient, extension_id: int, report: CaptureReport, **params: Any
) -> tuple[Mapping[str, Any], bytes]:
    """One message-sync request: the parsed body and the bytes as received."""
    body, raw = client.message_sync_response(extension_id, record_count=_record_count(params), **params)
    report.requests += 1
    return body, raw


def _record_count(params: Mapping[str, Any]) -> int | None:
    return FULL_SYNC_RECORDS if params.get("sync_type") == "FSync" else None


def _sync_info(body: Mapping[str, Any], extension_id: int) -> Mapping[str, Any]:
    info = body.get("syncInfo")
    if not isinstance(info, Mapping):
        raise ValueError(f"message-sync of extension {extension_id} answered without syncInfo")
    return info


def _token(info: Mapping[str, Any], extension_id: int) -> str:
    token = info.get("syncToken")
    if not isinstance(token, str) or not token:
        raise ValueError(f"message-sync of extension {extension_id} answered without a syncToken")
    return token


def _store_responses(
    storage: ArchiveStorage, synced: list[_Extension], timezone: str, now: datetime, report: CaptureReport
) -> list[tuple[date, MessageRecord]]:
    """Write each extension's responses into every day they hold messages of, then each day's
    `_captures.json`. Returns (day, record) for every record captured, in the order received."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    captured: list[tuple[date, MessageRecord]] = []
    new_files: dict[date, list[CaptureFile]] = {}
    for item in synced:
        by_day: dict[date, list[bytes]] = {}
        for body, raw in item.responses:
            report.responses += 1
            records = [r for r in body.get("records") or [] if isinstance(r, Mapping)]
            report.records += len(records)
            for record in records:
                # A record without a creation time is kept in the day it was captured on.
                day = message_day(record, timezone) or today
                captured.append((day, MessageRecord(record, item.extension_id)))
                if raw not in by_day.setdefault(day, []):
                    by_day[day].append(raw)
            # A response without records only moves the token on: nothing in it to archive.
        for day, lines in sorted(by_day.items()):
            path = storage.capture_file_path(day, item.extension_id, report.stamp)
            size, sha256, responses, records = storage.write_capture_file(path, lines)
            new_files.setdefault(day, []).append(
                CaptureFile(path, item.extension_id, report.stamp, size, sha256, responses, records)
            )
            report.files += 1
    for day, files in new_files.items():
        known = {f.path: f for f in capture_files(storage, day)}
        known.update({f.path: f for f in files})
        write_capture_manifest(storage, day, known.values())
        report.days.add(day)
    return captured


def _archive_attachments(
    client: RingCentralClient,
    storage: ArchiveStorage,
    captured: list[tuple[date, MessageRecord]],
    report: CaptureReport,
    progress: Callable[[str], None],
    deadline: float | None = None,
) -> None:
    """Download the attachments of captured messages (and earlier failures) into the archive."""
    latest: dict[int, tuple[date, MessageRecord]] = {}
    for day, item in _pending(storage) + captured:
        message_id = coerce(item.record.get("id"), pa.int64())
        if message_id is not None:
            latest[message_id] = (day, item)
    wanted: list[tuple[date, str, int, MessageRecord, Mapping[str, Any]]] = []
    indexes: dict[date, dict[str, ArchivedFile]] = {}
    known: dict[date, dict[str, Mapping[str, Any]]] = {}
    for message_id, (day, item) in sorted(latest.items()):
        if item.record.get("availability") == "Purged":
            continue  # nothing left to download: the content is whatever an earlier capture kept
        if day not in known:
            known[day] = _known_attachments(storage, day)
            indexes[day] = {}
        for attachment in attachments_of(item.record):
            key = attachment_key(message_id, coerce(attachment.get("id"), pa.int64()))
            prior = known[day].get(key)
            if prior and storage.verify_file(prior.get("path"), prior.get("bytes"), prior.get("sha256")).ok:
                indexes[day][key] = ArchivedFile(
                    str(prior["path"]), int(prior["bytes"]), str(prior["sha256"])
                )
                report.attachments_already_archived += 1
            else:
                wanted.append((day, key, message_id, item, attachment))

    def work(job: tuple[date, str, int, MessageRecord, Mapping[str, Any]]) -> ArchivedFile | Exception | None:
        day, _, message_id, _, attachment = job
        if deadline is not None and time.monotonic() > deadline:
            return None  # out of time this run: pending, taken first by the next capture
        try:
            return download_attachment(client, storage, day, message_id, attachment)
        except (RingCentralError, OSError, ValueError) as exc:
            return exc

    outcomes = download_all(wanted, work, progress=progress, what="captured attachments downloaded")
    pending: list[dict[str, Any]] = []
    for (day, key, _, item, _), outcome in zip(wanted, outcomes, strict=True):
        if isinstance(outcome, ArchivedFile):
            indexes[day][key] = outcome
            report.attachments_downloaded += 1
        elif isinstance(outcome, NotFound):
            report.attachments_gone.append(key)
        else:
            if outcome is None:
                report.attachments_deferred += 1
            else:
                report.attachments_pending.append(f"{key}: {outcome}")
            entry = {"day": day.isoformat(), "extension_id": item.mailbox_extension_id, "record": item.record}
            if entry not in pending:
                pending.append(entry)
    for day, index in indexes.items():
        if index:
            previous = captured_attachment_index(storage, day)
            storage.write_json(
                storage.attachment_index_path(Dataset.RAW_MESSAGE_CAPTURE, day),
                {k: v.to_json() for k, v in sorted(merged_attachment_index(previous, index).items())},
            )
    storage.write_json(storage.capture_pending_path(), {"messages": pending})


def _known_attachments(storage: ArchiveStorage, day: date) -> dict[str, Mapping[str, Any]]:
    """Attachments of ``day`` already archived by any path: the daily listing or export, or a capture."""
    known: dict[str, Mapping[str, Any]] = {}
    for dataset in (Dataset.RAW_MESSAGE_STORE, Dataset.RAW_MESSAGE_EXPORT):
        with contextlib.suppress(FileNotFoundError, ValueError):
            known.update(read_attachment_index(storage, dataset, day))
    known.update(captured_attachment_index(storage, day))
    return known


def _pending(storage: ArchiveStorage) -> list[tuple[date, MessageRecord]]:
    """Messages whose attachments a previous capture could not download."""
    try:
        value = storage.read_json(storage.capture_pending_path())
    except FileNotFoundError:
        return []
    items = value.get("messages") if isinstance(value, dict) else None
    pending = []
    for item in items or []:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            pending.append(
                (date.fromisoformat(item["day"]), MessageRecord(item["record"], item.get("extension_id")))
            )
    return pending

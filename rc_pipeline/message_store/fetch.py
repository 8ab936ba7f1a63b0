"""Fetching a partition's message store from RingCentral into the raw layer: plain functions.

Two paths end in the same place (message records in the raw layer, attachment files under
`message_store/content/`, an attachment index): the export (`fetch_export`) downloads the zips of a
completed message-store-report task; the listing (`fetch_listing`) pages through every extension's
message store and fetches attachments from the attachment-content endpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from rc_pipeline.directory import extension_ids
from rc_pipeline.downloads import download_all
from rc_pipeline.message_store.captured import captured_attachment_index
from rc_pipeline.message_store.raw import (
    extract_attachments,
    merged_attachment_index,
    open_export_parts,
    read_attachment_index,
    write_attachment_index,
)
from rc_pipeline.ringcentral import NotFound, RingCentralClient, RingCentralError
from rc_pipeline.storage import ArchiveStorage, Dataset, ExportManifest, ExportPart
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.transform.messages import (
    ArchivedFile,
    MessageRecord,
    attachment_file_extension,
    attachment_key,
    attachments_of,
)
from rc_pipeline.transform.raw_shapes import coerce

# What the listing path asks for: the trash ("Deleted") is still the account's message store and is
# what RingCentral purges next, so it is archived too. "Purged" messages have no content left.
LISTING_AVAILABILITY = ("Alive", "Deleted")


@dataclass
class FetchResult:
    """What a fetch put into the raw layer."""

    messages: int = 0
    attachments: int = 0
    parts: list[ExportPart] = field(default_factory=list)
    from_content_endpoint: int = 0
    skipped_existing: int = 0
    unrecognised_entries: list[str] = field(default_factory=list)
    unmatched_entries: list[str] = field(default_factory=list)
    matched_by_folder: list[str] = field(default_factory=list)
    failed_attachments: list[str] = field(default_factory=list)
    extensions_listed: int = 0
    extensions_not_found: list[int] = field(default_factory=list)
    # The task was committed before and RingCentral no longer knows it: the archive's copy stands.
    kept_committed: bool = False


def download_attachment(
    client: RingCentralClient,
    storage: ArchiveStorage,
    day: date,
    message_id: int,
    attachment: Mapping[str, Any],
) -> ArchivedFile:
    """Stream one attachment from the attachment-content endpoint to its archive path."""
    attachment_id = coerce(attachment.get("id"), pa.int64())
    target = storage.message_attachment_path(
        day, message_id, attachment_id, attachment_file_extension(attachment)
    )
    with storage.staged_file(target) as local:
        result = client.download_attachment(dict(attachment), local)
    return ArchivedFile(target, result.size, result.sha256)


def fetch_attachments(
    client: RingCentralClient,
    storage: ArchiveStorage,
    day: date,
    wanted: list[tuple[MessageRecord, Mapping[str, Any]]],
    previous: Mapping[str, Mapping[str, Any]],
    result: FetchResult,
    progress: Callable[[str], None],
) -> dict[str, ArchivedFile]:
    """Download the attachments in ``wanted`` that are not already archived intact (per ``previous``).

    An indexed file is reused only when its size and sha256 still match: a damaged file of the same
    size is downloaded again rather than trusted.
    """
    index: dict[str, ArchivedFile] = {}
    todo = []
    for item, attachment in wanted:
        message_id = coerce(item.record.get("id"), pa.int64())
        key = attachment_key(message_id, attachment.get("id"))
        prior = previous.get(key)
        if prior and storage.verify_file(prior.get("path"), prior.get("bytes"), prior.get("sha256")).ok:
            index[key] = ArchivedFile(prior["path"], prior["bytes"], prior["sha256"])
            result.skipped_existing += 1
        else:
            todo.append((key, message_id, attachment))

    def work(job: tuple[str, int, Mapping[str, Any]]) -> ArchivedFile | str:
        key, message_id, attachment = job
        try:
            return download_attachment(client, storage, day, message_id, attachment)
        except (RingCentralError, OSError, ValueError) as exc:
            return f"{key}: {exc}"

    outcomes = download_all(todo, work, progress=progress, what="attachments downloaded", every=50)
    for (key, _, _), outcome in zip(todo, outcomes, strict=True):
        if isinstance(outcome, ArchivedFile):
            index[key] = outcome
            result.from_content_endpoint += 1
        else:
            result.failed_attachments.append(outcome)
    return index


def fetch_export(
    client: RingCentralClient,
    storage: ArchiveStorage,
    day: date,
    task_id: str,
    window: tuple[str, str],
    limits: ZipLimits,
    progress: Callable[[str], None],
) -> FetchResult:
    """Download every zip of a completed task, vet them, extract the attachments, commit the task.

    The zips are kept as received under `task=<id>/` and never removed: earlier tasks of the day
    hold messages RingCentral may have purged since. Nothing is extracted until every part has
    been opened and vetted, and nothing extracted is visible until every entry came out whole.
    The attachment index is merged with the earlier one. The task's marker, then the partition's
    manifest (the commit marker) are written last. Attachments a zip lacks are fetched from the
    attachment-content endpoint so the archive is complete either way.
    """
    result = FetchResult()
    try:
        archives = client.list_message_store_report_archives(task_id)
    except NotFound:
        kept = _kept_committed(storage, day, task_id)
        if kept is None:
            raise
        progress(
            f"{day} is complete: task {task_id} is committed in the archive and every part verifies; "
            "RingCentral no longer knows the task (404), nothing to download"
        )
        return kept
    if not archives:
        raise ValueError(f"task {task_id} completed but RingCentral lists no archive for it")
    committed = _committed_task(storage, day, task_id)
    recorded = {p.index: p for p in committed.parts} if committed else {}
    for index, record in enumerate(archives):
        path = storage.export_part_path(day, task_id, index)
        size = record.get("size")
        known = recorded.get(index)
        if known is not None:
            # The task was committed: its manifest, not RingCentral's listing, says what the part holds.
            # An erasure re-writes parts (and the manifest), so their size no longer matches RingCentral's;
            # a part that still has its recorded size and sha256 is kept as it is.
            if storage.verify_file(path, known.bytes, known.sha256).ok:
                result.parts.append(ExportPart(index, path, known.bytes, known.sha256))
                continue
        elif size is not None and storage.exists(path) and storage.size(path) == int(size):
            # Not committed yet: a part already here with RingCentral's size is kept (no hash to compare).
            result.parts.append(ExportPart(index, path, int(size), storage.file_sha256(path)))
            continue
        # Missing, or damaged against the committed manifest: downloaded again.
        with storage.staged_file(path) as local:
            downloaded = client.download_message_store_archive(record, local)
            if committed is not None:
                _refuse_erased_records(storage, local, committed, index)
        result.parts.append(ExportPart(index, path, downloaded.size, downloaded.sha256))
        progress(f"archive part {index}: {downloaded.size:,} bytes")
    paths = [p.path for p in result.parts]
    try:
        previous = read_attachment_index(storage, Dataset.RAW_MESSAGE_EXPORT, day)
    except FileNotFoundError:
        previous = {}
    with open_export_parts(storage, paths, limits) as (zips, contents):
        extraction = extract_attachments(storage, day, zips, paths, contents, limits)
        result.unrecognised_entries = contents.unrecognised
        result.messages = len(contents.records)
    result.unmatched_entries = extraction.unmatched_entries
    result.matched_by_folder = extraction.matched_by_folder
    index = dict(extraction.index)
    if extraction.absent:
        progress(
            f"{len(extraction.absent)} attachment(s) not in the zips: fetching them from the content endpoint"
        )
        index.update(fetch_attachments(client, storage, day, extraction.absent, previous, result, progress))
    result.attachments = len(index)
    if result.failed_attachments:
        raise AttachmentsFailed(result.failed_attachments)
    marker = storage.export_task_manifest_path(day, task_id)
    # A re-download of a committed task keeps its first fetch time: the order of exports is the
    # order RingCentral produced them in, which decides ties between equal lastModifiedTimes.
    fetched_at = (
        storage.read_json(marker).get("fetched_at") if storage.exists(marker) else None
    ) or datetime.now(UTC).isoformat()
    manifest = ExportManifest(
        task_id=task_id,
        window_start=window[0],
        window_end=window[1],
        parts=tuple(result.parts),
        fetched_at=fetched_at,
        messages=result.messages,
        attachments=result.attachments,
    )
    # From here the old commit (if any) is withdrawn until the new one lands.
    storage.remove(storage.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, day))
    write_attachment_index(storage, Dataset.RAW_MESSAGE_EXPORT, day, merged_attachment_index(previous, index))
    storage.write_export_task_manifest(day, manifest)
    storage.write_export_manifest(day, manifest)
    return result


def _committed_task(storage: ArchiveStorage, day: date, task_id: str) -> ExportManifest | None:
    """The task's committed manifest (its marker), None when the task was never committed."""
    marker = storage.export_task_manifest_path(day, task_id)
    if not storage.exists(marker):
        return None
    return ExportManifest.from_json(storage.fs.cat_file(marker))


def _kept_committed(storage: ArchiveStorage, day: date, task_id: str) -> FetchResult | None:
    """What the archive holds of a committed task whose every part still has its recorded size and
    sha256, on a day whose commit marker is written, or None (never committed, damaged, or the day
    not committed yet: then the source's 404 is the run's failure)."""
    committed = _committed_task(storage, day, task_id)
    if committed is None or not committed.parts:
        return None
    if not storage.exists(storage.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, day)):
        return None
    parts = [(storage.export_part_path(day, task_id, p.index), p) for p in committed.parts]
    if not all(storage.verify_file(path, p.bytes, p.sha256).ok for path, p in parts):
        return None
    return FetchResult(
        messages=committed.messages,
        attachments=committed.attachments,
        parts=list(committed.parts),
        kept_committed=True,
    )


def _refuse_erased_records(
    storage: ArchiveStorage, local: Any, committed: ExportManifest, index: int
) -> None:
    """RingCentral's copy of a part of a task committed before an erasure still holds the erased
    mailboxes: such a download is refused before it is published (the stored part stays as it is)."""
    from rc_pipeline.control.erase import erased_mailboxes_in

    erased = erased_mailboxes_in(storage, local, fetched_at=committed.fetched_at)
    if erased:
        raise ErasedRecordsRefused(committed.task_id, index, erased)


def fetch_listing(
    client: RingCentralClient,
    storage: ArchiveStorage,
    day: date,
    window_start: datetime,
    window_end: datetime,
    progress: Callable[[str], None],
) -> FetchResult:
    """List every extension's message store for the window (all types, perPage 1000, explicit
    dateFrom/dateTo), keep the pages as received, then fetch each attachment's content."""
    result = FetchResult()
    pages: list[bytes] = []
    records: list[MessageRecord] = []
    for extension_id in extension_ids(storage, client):
        try:
            for page in client.iter_message_pages(
                extension_id, window_start, window_end, availability=LISTING_AVAILABILITY
            ):
                pages.append(page.raw)
                records.extend(MessageRecord(r, extension_id) for r in page.records)
        except NotFound:
            # Deleted since the snapshot: nothing left to list (named in the metadata).
            result.extensions_not_found.append(extension_id)
            continue
        result.extensions_listed += 1
    progress(f"{len(records)} messages in {len(pages)} pages from {result.extensions_listed} extensions")
    try:
        previous = read_attachment_index(storage, Dataset.RAW_MESSAGE_STORE, day)
    except FileNotFoundError:
        previous = {}
    # Attachments a capture already archived (sha256 verified in `fetch_attachments`) cost no request.
    previous = {**captured_attachment_index(storage, day), **previous}
    # The index is withdrawn first: it must never describe pages other than the ones beside it.
    storage.remove(storage.attachment_index_path(Dataset.RAW_MESSAGE_STORE, day))
    storage.write_raw_pages(day, pages, window_start, window_end, dataset=Dataset.RAW_MESSAGE_STORE)
    wanted = [(item, a) for item in records for a in attachments_of(item.record)]
    index = fetch_attachments(client, storage, day, wanted, previous, result, progress)
    # Merged, not replaced: attachments of messages purged since an earlier listing stay indexed.
    write_attachment_index(storage, Dataset.RAW_MESSAGE_STORE, day, merged_attachment_index(previous, index))
    result.messages = len(records)
    result.attachments = len(index)
    if result.failed_attachments:
        raise AttachmentsFailed(result.failed_attachments)
    return result


class AttachmentsFailed(RuntimeError):
    """Some attachments could not be downloaded; the ones that were are kept for the next run."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        shown = "; ".join(failures[:10])
        super().__init__(f"{len(failures)} attachment(s) failed to download ({shown})")


class ErasedRecordsRefused(RuntimeError):
    """A part of a committed export task had to be downloaded again (missing or damaged), and
    RingCentral's copy holds mailboxes erased since: publishing it would bring erased records back."""

    def __init__(self, task_id: str, index: int, extensions: set[int]) -> None:
        self.task_id, self.index, self.extensions = task_id, index, extensions
        names = ", ".join(map(str, sorted(extensions)))
        super().__init__(
            f"archive part {index} of export task {task_id} is missing or damaged, and RingCentral's copy "
            f"still holds the mailbox(es) of erased extension(s) {names}: it was not stored. Restore the "
            "part from a backup of the archive (the task's manifest names its size and sha256)"
        )

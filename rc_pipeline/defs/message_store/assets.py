"""Message-store assets: start an export task, download and extract it (or list each extension), type it."""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from rc_pipeline.message_store.export_state import COMPLETED, GAVE_UP, load_entry
from rc_pipeline.message_store.export_tasks import request_export
from rc_pipeline.message_store.fetch import AttachmentsFailed, FetchResult, fetch_export, fetch_listing
from rc_pipeline.message_store.tables import raw_dataset, write_message_tables
from rc_pipeline.settings import MessageStoreSettings
from rc_pipeline.storage import Dataset
from rc_pipeline.storage.zipsafe import ZipSafetyError

from ..metadata import measure, preview
from ..names import (
    API_POOL,
    EXTENSIONS,
    MESSAGE_ATTACHMENTS,
    MESSAGE_GROUP,
    MESSAGE_STORE_ARCHIVE,
    MESSAGE_STORE_EXPORT_TASK,
    MESSAGES,
)
from ..partitions import partition_window
from ..resources import ArchiveResource, RingCentralResource


def _fetch_metadata(result: FetchResult) -> dict[str, object]:
    return {
        "messages": dg.MetadataValue.int(result.messages),
        "attachments_archived": dg.MetadataValue.int(result.attachments),
        "attachments_from_content_endpoint": result.from_content_endpoint,
        "attachments_already_archived": result.skipped_existing,
        "kept_committed_archive": result.kept_committed,
    }


def build_export_task_asset(
    daily: dg.PartitionsDefinition, settings: MessageStoreSettings
) -> dg.AssetsDefinition:
    @dg.asset(
        key=MESSAGE_STORE_EXPORT_TASK,
        partitions_def=daily,
        pool=API_POOL,
        group_name=MESSAGE_GROUP,
        kinds={"ringcentral"},
        description=(
            "Asks RingCentral for a message-store export (all message types) of the partition's window "
            "and records the task in state/message_store_export/. A partition whose export is still "
            "queued or running is not submitted again; beyond RingCentral's 2 running tasks the request "
            "waits in the queue. message_store_export_sensor follows it up."
        ),
    )
    def message_store_export_task(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        window = partition_window(context)
        client = ringcentral.get_client()
        with measure(client) as spend:
            entry, new = request_export(
                client,
                archive.storage(),
                settings,
                window.start,
                window.end,
                context.partition_key,
                datetime.now(UTC),
            )
        context.log.info(("requested " if new else "already live, not re-submitted: ") + entry.describe())
        return dg.MaterializeResult(
            metadata={
                "task_id": entry.task_id or "(queued: waiting for a free export slot)",
                "state": entry.state,
                "task_status": entry.task_status or "",
                "new_request": new,
                "attempt": entry.attempt,
                "window_start": entry.window_start,
                "window_end": entry.window_end,
                "requested_at": entry.requested_at,
                "submitted_at": entry.submitted_at or "",
                **spend.metadata(),
            }
        )

    return message_store_export_task


def build_message_assets(
    daily: dg.PartitionsDefinition, settings: MessageStoreSettings
) -> list[dg.AssetsDefinition]:
    export = settings.source == "export"
    raw = raw_dataset(export)

    @dg.asset(
        key=MESSAGE_STORE_ARCHIVE,
        deps=[MESSAGE_STORE_EXPORT_TASK] if export else [EXTENSIONS],
        partitions_def=daily,
        pool=API_POOL,
        group_name=MESSAGE_GROUP,
        kinds={"ringcentral", "zip" if export else "json"},
        description=(
            "The partition's message store in the raw layer, and every attachment under "
            "message_store/content/YYYY/MM/DD/<messageId>/<attachmentId>.<ext>. "
            + (
                "Export path: downloads every zip of the completed export task (verified size and "
                "sha256), keeps them as received, vets every entry (no absolute paths, '..', symlinks, "
                "bombs) and extracts the attachments."
                if export
                else "Listing path: lists each extension's message store for the window (all types, "
                "perPage 1000) and downloads attachments from the attachment-content endpoint."
            )
        ),
    )
    def message_store_archive(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        window = partition_window(context)
        storage = archive.storage()
        client = ringcentral.get_client()
        extra: dict[str, object] = {}
        try:
            with measure(client) as spend:
                if export:
                    entry = load_entry(storage, window.day)
                    if entry is None:
                        raise dg.Failure(
                            f"no message-store export was requested for {window.day}: materialise "
                            "message_store_export_task for this partition first"
                        )
                    extra = {"task_id": entry.task_id or "", "task_status": entry.task_status or ""}
                    if entry.state == GAVE_UP:
                        raise dg.Failure(
                            description=entry.error or f"message-store export gave up: {entry.describe()}",
                            metadata={
                                "task_id": entry.task_id or "",
                                "attempts": dg.MetadataValue.json(entry.history),
                            },
                        )
                    if entry.state != COMPLETED:
                        raise dg.Failure(
                            f"message-store export of {window.day} is not completed yet ({entry.describe()}); "
                            "message_store_export_sensor requests this run when it is"
                        )
                    result = fetch_export(
                        client,
                        storage,
                        window.day,
                        str(entry.task_id),
                        (entry.window_start, entry.window_end),
                        settings.zip_limits,
                        context.log.info,
                    )
                    extra["parts"] = dg.MetadataValue.json(
                        [{"index": p.index, "bytes": p.bytes, "sha256": p.sha256} for p in result.parts]
                    )
                    extra["unrecognised_zip_entries"] = dg.MetadataValue.json(
                        result.unrecognised_entries[:50]
                    )
                    # Content the zips hold that no attachment claimed: reported, never dropped silently.
                    extra["unmatched_content_entries"] = dg.MetadataValue.json(result.unmatched_entries[:50])
                    extra["unmatched_content_count"] = len(result.unmatched_entries)
                    extra["matched_by_folder"] = dg.MetadataValue.json(result.matched_by_folder[:50])
                    if result.unmatched_entries:
                        context.log.warning(
                            f"{len(result.unmatched_entries)} zip content entr(ies) match no attachment: "
                            + ", ".join(result.unmatched_entries[:10])
                        )
                else:
                    result = fetch_listing(
                        client, storage, window.day, window.start, window.end, context.log.info
                    )
                    extra["extensions_listed"] = result.extensions_listed
                    extra["extensions_not_found"] = dg.MetadataValue.json(result.extensions_not_found)
        except ZipSafetyError as exc:
            # Nothing of this export was committed; the partition's previous archive stays in force.
            raise dg.Failure(description=f"message-store export of {window.day} rejected: {exc}") from None
        except AttachmentsFailed as exc:
            raise dg.Failure(
                description=str(exc), metadata={"failed": dg.MetadataValue.json(exc.failures[:50])}
            ) from None
        return dg.MaterializeResult(
            metadata={
                "source": settings.source,
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
                "path": dg.MetadataValue.path(storage.partition_dir(raw, window.day)),
                **_fetch_metadata(result),
                **extra,
                **spend.metadata(),
            }
        )

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                MESSAGES,
                deps=[MESSAGE_STORE_ARCHIVE],
                group_name=MESSAGE_GROUP,
                kinds={"parquet"},
                description="One typed row per message of the partition (newest version of each id).",
            ),
            dg.AssetSpec(
                MESSAGE_ATTACHMENTS,
                deps=[MESSAGE_STORE_ARCHIVE],
                group_name=MESSAGE_GROUP,
                kinds={"parquet"},
                description="One row per attachment: ids, type, content type, size, archived path and sha256.",
            ),
        ],
        partitions_def=daily,
    )
    def messages_and_attachments(
        context: dg.AssetExecutionContext, archive: ArchiveResource
    ) -> Iterator[dg.MaterializeResult]:
        window = partition_window(context)
        day = window.day
        storage = archive.storage()
        try:
            tables = write_message_tables(storage, window, export=export, limits=settings.zip_limits)
        except FileNotFoundError:
            raise dg.Failure(
                f"no complete raw message store for {day} under {storage.partition_dir(raw, day)}: "
                "materialise message_store_archive first"
            ) from None
        messages, attachments = tables.messages, tables.attachments
        yield dg.MaterializeResult(
            asset_key=MESSAGES,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(messages.num_rows),
                "duplicates_dropped": tables.duplicates_dropped,
                "by_type": dg.MetadataValue.json(
                    {
                        t: messages.column("type").to_pylist().count(t)
                        for t in sorted(set(messages.column("type").to_pylist()) - {None})
                    }
                ),
                "path": dg.MetadataValue.path(storage.parquet_path(Dataset.MESSAGES, day)),
                "preview": preview(
                    messages, ["id", "extension_id", "type", "direction", "creation_time", "read_status"]
                ),
            },
        )
        missing = attachments.column("status").to_pylist().count("missing")
        yield dg.MaterializeResult(
            asset_key=MESSAGE_ATTACHMENTS,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(attachments.num_rows),
                "missing": dg.MetadataValue.int(missing),
                "bytes_total": dg.MetadataValue.int(
                    sum(b or 0 for b in attachments.column("bytes").to_pylist())
                ),
                "path": dg.MetadataValue.path(storage.parquet_path(Dataset.MESSAGE_ATTACHMENTS, day)),
                "preview": preview(
                    attachments, ["message_id", "attachment_id", "type", "content_type", "bytes"]
                ),
            },
        )

    return [message_store_archive, messages_and_attachments]

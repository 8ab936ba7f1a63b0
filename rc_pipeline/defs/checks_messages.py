"""Asset checks of the message store: attachments intact, ids unique, mailboxes known, export complete."""

from typing import Any

import dagster as dg
import pyarrow as pa

from rc_pipeline.ringcentral import NotFound
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.checks import duplicate_ids

from .message_config import MessageStoreConfig
from .message_fetch import LISTING_AVAILABILITY, extension_ids
from .names import MESSAGE_ATTACHMENTS, MESSAGES
from .partitions import partition_window
from .resources import ArchiveResource, RingCentralResource

SHOWN_IDS = 50


def _shown(values: list[Any]) -> dg.MetadataValue:
    return dg.MetadataValue.json(sorted((str(v) for v in values), key=lambda v: (len(v), v))[:SHOWN_IDS])


def known_extension_ids(storage: ArchiveStorage) -> set[int]:
    """Every extension id in any `extensions` snapshot: a mailbox deleted since still existed then."""
    known: set[int] = set()
    for snapshot in storage.list_partitions(Dataset.EXTENSIONS):
        known.update(storage.read_parquet(Dataset.EXTENSIONS, snapshot).column("id").to_pylist())
    return known


def damaged_attachments(storage: ArchiveStorage, table: pa.Table) -> tuple[list[str], list[str]]:
    """(missing, damaged) keys ``messageId/attachmentId``: no archived file, or size/sha256 differ."""
    missing, damaged = [], []
    for row in table.select(["message_id", "attachment_id", "status", "path", "bytes", "sha256"]).to_pylist():
        key = f"{row['message_id']}/{row['attachment_id']}"
        if row["status"] != "archived" or not row["path"] or not storage.exists(row["path"]):
            missing.append(key)
        elif storage.size(row["path"]) != row["bytes"] or storage.file_sha256(row["path"]) != row["sha256"]:
            damaged.append(key)
    return missing, damaged


def build_message_checks(
    daily: dg.PartitionsDefinition, settings: MessageStoreConfig
) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=MESSAGE_ATTACHMENTS,
        partitions_def=daily,
        description="Every attachment has an archived file whose size and sha256 match its row.",
    )
    def message_attachments_complete(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        storage = archive.storage()
        table = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day)
        missing, damaged = damaged_attachments(storage, table)
        return dg.AssetCheckResult(
            passed=not missing and not damaged,
            metadata={
                "attachments": table.num_rows,
                "verified": table.num_rows - len(missing) - len(damaged),
                "missing": _shown(missing),
                "size_or_sha256_mismatch": _shown(damaged),
            },
        )

    @dg.asset_check(asset=MESSAGES, partitions_def=daily, description="Every message id appears once.")
    def messages_ids_unique(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        dupes = duplicate_ids(archive.storage().read_parquet(Dataset.MESSAGES, day))
        return dg.AssetCheckResult(passed=not dupes, metadata={"count": len(dupes), "ids": _shown(dupes)})

    @dg.asset_check(
        asset=MESSAGES,
        partitions_def=daily,
        description="Every message's extension is in the `extensions` snapshots.",
    )
    def messages_extensions_known(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        storage = archive.storage()
        known = known_extension_ids(storage)
        if not known:
            return dg.AssetCheckResult(
                passed=False, metadata={"problem": "no extensions snapshot: materialise `extensions` first"}
            )
        used = set(storage.read_parquet(Dataset.MESSAGES, day).column("extension_id").to_pylist())
        unknown = sorted(i for i in used - known if i is not None) + (["(none)"] if None in used else [])
        return dg.AssetCheckResult(
            passed=not unknown, metadata={"extensions_used": len(used), "unknown": _shown(unknown)}
        )

    checks = [message_attachments_complete, messages_ids_unique, messages_extensions_known]
    if settings.source == "export" and settings.reconcile:

        @dg.asset_check(
            asset=MESSAGES,
            partitions_def=daily,
            description=(
                "Every message a per-extension listing of the window reports (Alive and Deleted, the "
                "listing path's basis) is archived. Archived messages the listing lacks are expected "
                "(deleted or purged since the export) and only counted. One API call per extension; "
                "RC_MESSAGE_RECONCILE=false turns it off."
            ),
        )
        def messages_match_listing(
            context: dg.AssetCheckExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
        ) -> dg.AssetCheckResult:
            window = partition_window(context)
            storage = archive.storage()
            client = ringcentral.get_client()
            exported = set(storage.read_parquet(Dataset.MESSAGES, window.day).column("id").to_pylist())
            listed: set[int] = set()
            for extension_id in extension_ids(storage, client):
                try:
                    listed.update(
                        int(m["id"])
                        for m in client.iter_messages(
                            extension_id, window.start, window.end, availability=LISTING_AVAILABILITY
                        )
                    )
                except NotFound:
                    continue  # the extension was deleted since: nothing of it to list
            missing, extra = sorted(listed - exported), sorted(exported - listed)
            return dg.AssetCheckResult(
                passed=not missing,
                metadata={
                    "exported": len(exported),
                    "listed": len(listed),
                    "missing_count": len(missing),
                    "listed_not_exported": _shown(missing),
                    "exported_not_listed": _shown(extra),
                    "exported_not_listed_count": len(extra),
                },
            )

        checks.append(messages_match_listing)
    return checks

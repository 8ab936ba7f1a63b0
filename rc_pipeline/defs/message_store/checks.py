"""Asset checks of the message store: attachments intact, ids unique, mailboxes known, export complete."""

import dagster as dg

from rc_pipeline.directory import extension_ids, known_extension_ids
from rc_pipeline.integrity import damaged_attachments
from rc_pipeline.message_store.fetch import LISTING_AVAILABILITY
from rc_pipeline.ringcentral import NotFound
from rc_pipeline.storage import Dataset
from rc_pipeline.transform.checks import duplicate_ids

from ..metadata import id_list, shown_ids
from ..names import MESSAGE_ATTACHMENTS, MESSAGES
from ..partitions import partition_window
from ..resources import ArchiveResource, RingCentralResource


def build_message_checks(daily: dg.PartitionsDefinition, reconcile: bool) -> list[dg.AssetChecksDefinition]:
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
                "missing": shown_ids(missing),
                "size_or_sha256_mismatch": shown_ids(damaged),
            },
        )

    @dg.asset_check(asset=MESSAGES, partitions_def=daily, description="Every message id appears once.")
    def messages_ids_unique(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        dupes = duplicate_ids(archive.storage().read_parquet(Dataset.MESSAGES, day))
        return dg.AssetCheckResult(passed=not dupes, metadata=id_list(dupes))

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
            passed=not unknown, metadata={"extensions_used": len(used), "unknown": shown_ids(unknown)}
        )

    checks = [message_attachments_complete, messages_ids_unique, messages_extensions_known]
    if reconcile:

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
                    "listed_not_exported": shown_ids(missing),
                    "exported_not_listed": shown_ids(extra),
                    "exported_not_listed_count": len(extra),
                },
            )

        checks.append(messages_match_listing)
    return checks

"""Asset checks of the message store: attachments intact, ids unique, mailboxes known, export complete."""

import dagster as dg

from rc_pipeline.directory import extension_ids
from rc_pipeline.message_store.fetch import LISTING_AVAILABILITY
from rc_pipeline.ringcentral import NotFound
from rc_pipeline.storage import Dataset
from rc_pipeline.verification import MESSAGE_CHECKS

from ..archive_checks import archive_checks
from ..metadata import shown_ids
from ..names import MESSAGES
from ..partitions import partition_window
from ..resources import ArchiveResource, RingCentralResource


def build_message_checks(daily: dg.PartitionsDefinition, reconcile: bool) -> list[dg.AssetChecksDefinition]:
    checks = archive_checks(daily, MESSAGE_CHECKS)
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

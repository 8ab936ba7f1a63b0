"""Call recordings: every recording the day's calls and legs reference, downloaded and verified."""

import dagster as dg

from rc_pipeline.calls.recordings import archive_recordings
from rc_pipeline.storage import Dataset

from ..metadata import measure, preview, shown_ids
from ..names import API_POOL, CALL_GROUP, CALL_LEGS, CALLS, RECORDINGS
from ..partitions import partition_window
from ..resources import ArchiveResource, RingCentralResource


def build_recording_assets(
    daily: dg.PartitionsDefinition, budget: int | None = None
) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RECORDINGS,
        deps=[CALLS, CALL_LEGS],
        partitions_def=daily,
        pool=API_POOL,
        group_name=CALL_GROUP,
        kinds={"ringcentral", "parquet"},
        description=(
            "Audio of every recording referenced by the day's calls and legs, streamed to "
            "recordings/YYYY/MM/DD/<id>.<mp3|wav> and verified; a manifest row per recording. "
            "Re-runs fetch only what is missing. Earliest deadline first"
            + (
                f"; at most {budget} per run (RC_RECORDING_BUDGET), the rest listed as deferred with "
                "their deadlines, not failed."
                if budget
                else "."
            )
        ),
    )
    def recordings(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        day = partition_window(context).day
        storage = archive.storage()
        client = ringcentral.get_client()
        with measure(client) as spend:
            result = archive_recordings(client, storage, day, context.log.info, budget=budget)
        if result.failed:
            # The manifest is written first so the next run keeps what succeeded and retries the rest.
            details = "; ".join(f"{r['recording_id']}: {r['error']}" for r in result.failed[:10])
            raise dg.Failure(
                description=(
                    f"{len(result.failed)} of {result.referenced} recordings failed to download ({details})"
                ),
                metadata={"failed_recording_ids": [r["recording_id"] for r in result.failed]},
            )
        if result.deferred:
            context.log.warning(
                f"{len(result.deferred)} recordings deferred by RC_RECORDING_BUDGET={budget}; the earliest "
                f"is deleted by RingCentral at {result.earliest_deadline}"
            )
        manifest = storage.read_parquet(Dataset.RECORDINGS, day)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(result.manifest_rows),
                "recordings_referenced": result.referenced,
                "downloaded_now": result.downloaded,
                "skipped_already_archived": result.referenced - len(result.fetched),
                "missing_at_ringcentral": dg.MetadataValue.json(result.missing_ids),
                # At risk, not failed: left by the budget for a later run, earliest deadline first.
                "deferred_count": dg.MetadataValue.int(len(result.deferred)),
                "deferred_earliest_deadline": dg.MetadataValue.text(result.earliest_deadline or "-"),
                "deferred_recording_ids": shown_ids(r["recording_id"] for r in result.deferred),
                "recording_budget": dg.MetadataValue.text(str(budget) if budget else "no limit"),
                "bytes_downloaded": dg.MetadataValue.int(result.bytes_downloaded),
                "bytes_total": dg.MetadataValue.int(result.bytes_total),
                "preview": preview(manifest, ["recording_id", "call_id", "content_type", "bytes", "status"]),
                **spend.metadata(),
            }
        )

    return [recordings]

"""Call-log assets: raw pages as received, then typed `calls` and `call_legs`."""

from collections.abc import Iterable, Iterator

import dagster as dg

from rc_pipeline.calls.captured import build_day_tables
from rc_pipeline.ringcentral import Page
from rc_pipeline.storage import Dataset

from ..metadata import measure, preview
from ..names import API_POOL, CALL_GROUP, CALL_LEGS, CALL_LOG_RAW, CALLS
from ..partitions import partition_window
from ..resources import ArchiveResource, RingCentralResource

LOG_EVERY_PAGES = 10


def _raw_with_progress(pages: Iterable[Page], log: dg.DagsterLogManager) -> Iterator[bytes]:
    records = 0
    for n, page in enumerate(pages, start=1):
        records += len(page.records)
        if n % LOG_EVERY_PAGES == 0:
            log.info(f"call log: {n} pages, {records} records so far")
        yield page.raw


def build_call_assets(daily: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=CALL_LOG_RAW,
        partitions_def=daily,
        pool=API_POOL,
        group_name=CALL_GROUP,
        kinds={"ringcentral", "json"},
        description=(
            "The account call log in Detailed view for the partition's window, every page exactly as "
            "RingCentral sent it (gzip NDJSON), with a manifest of the window and record counts."
        ),
    )
    def call_log_raw(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        window = partition_window(context)
        client = ringcentral.get_client()
        storage = archive.storage()
        context.log.info(
            f"listing calls {window.start.isoformat()} .. {window.end.isoformat()} ({window.hours:g} h)"
        )
        with measure(client) as spend:
            pages = client.iter_call_log_pages(window.start, window.end, view="Detailed")
            manifest = storage.write_raw_call_log(
                window.day, _raw_with_progress(pages, context.log), window.start, window.end
            )
        return dg.MaterializeResult(
            metadata={
                "records": dg.MetadataValue.int(manifest.records_received),
                "records_reported_by_ringcentral": manifest.records_reported,
                "pages": manifest.pages,
                "bytes_gzip": dg.MetadataValue.int(manifest.bytes),
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
                "window_hours": window.hours,
                "sha256": manifest.sha256,
                "path": dg.MetadataValue.path(storage.raw_pages_path(window.day)),
                **spend.metadata(),
            }
        )

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                CALLS,
                deps=[CALL_LOG_RAW],
                group_name=CALL_GROUP,
                kinds={"parquet"},
                description=(
                    "One typed row per call (newest version of each id) for the partition: the day's "
                    "listed pages plus every change extract-sync captured for the day."
                ),
            ),
            dg.AssetSpec(
                CALL_LEGS,
                deps=[CALL_LOG_RAW],
                group_name=CALL_GROUP,
                kinds={"parquet"},
                description="One typed row per call leg, with the leg's own extension and recording.",
            ),
        ],
        partitions_def=daily,
    )
    def calls_and_legs(
        context: dg.AssetExecutionContext, archive: ArchiveResource
    ) -> Iterator[dg.MaterializeResult]:
        window = partition_window(context)
        day = window.day
        storage = archive.storage()
        # The day's listings plus everything extract-sync captured for it: no request to RingCentral.
        stats = build_day_tables(storage, window)
        calls = storage.read_parquet(Dataset.CALLS, day)
        legs = storage.read_parquet(Dataset.CALL_LEGS, day)
        yield dg.MaterializeResult(
            asset_key=CALLS,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(stats.calls),
                "duplicates_dropped": stats.duplicates_dropped,
                "records_without_id": stats.records_without_id,
                "path": dg.MetadataValue.path(storage.parquet_path(Dataset.CALLS, day)),
                "preview": preview(
                    calls, ["id", "start_time", "direction", "result", "duration_s", "recording_id"]
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key=CALL_LEGS,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(stats.legs),
                "path": dg.MetadataValue.path(storage.parquet_path(Dataset.CALL_LEGS, day)),
                "preview": preview(
                    legs, ["call_id", "leg_index", "leg_type", "extension_id", "result", "recording_id"]
                ),
            },
        )

    return [call_log_raw, calls_and_legs]

"""The extension directory, snapshotted per day so history is never overwritten."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import Dataset
from rc_pipeline.transform.extensions import extensions_table
from rc_pipeline.transform.pages import records_from_pages

from ..metadata import measure, preview
from ..names import API_POOL, DIRECTORY_GROUP, EXTENSIONS
from ..resources import ArchiveResource, RingCentralResource


def build_directory_assets(config: PipelineSettings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=EXTENSIONS,
        pool=API_POOL,
        group_name=DIRECTORY_GROUP,
        kinds={"ringcentral", "parquet"},
        description=(
            "Every extension of the account (all types and statuses): raw pages as received and a typed "
            "Parquet snapshot, one per snapshot date."
        ),
    )
    def extensions(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        client = ringcentral.get_client()
        storage = archive.storage()
        now = datetime.now(ZoneInfo(config.timezone))
        snapshot = now.date()
        with measure(client) as spend:
            pages = [page.raw for page in client.iter_extension_pages()]
        manifest = storage.write_raw_pages(
            snapshot, pages, now, now, dataset=Dataset.RAW_EXTENSIONS, window_is_fetch_time=True
        )
        table = extensions_table(records_from_pages(pages), snapshot)
        rows = storage.write_parquet(Dataset.EXTENSIONS, snapshot, table)
        context.log.info(f"{rows} extensions in the snapshot of {snapshot}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(rows),
                "snapshot_date": snapshot.isoformat(),
                "raw_pages": manifest.pages,
                "by_type": dg.MetadataValue.json(
                    {
                        t: table.column("type").to_pylist().count(t)
                        for t in set(table.column("type").to_pylist())
                    }
                ),
                "preview": preview(table, ["id", "extension_number", "name", "type", "status"]),
                **spend.metadata(),
            }
        )

    return [extensions]

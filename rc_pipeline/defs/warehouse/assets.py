"""The DuckDB analytics layer, refreshed for the changed partitions (or rebuilt whole) into a new file
and swapped in atomically."""

import dagster as dg

from rc_pipeline.warehouse import build_warehouse, input_datasets

from ..names import ANALYTICS_GROUP, ASSET_OF_DATASET, DUCKDB_POOL, WAREHOUSE
from ..resources import ArchiveResource

# Rebuild once after any upstream partition is updated, when nothing upstream is still running.
# `AutomationCondition.eager()` would never fire here: it also requires that no upstream partition is
# missing, and a daily archive always has days not fetched yet (or one failed day) upstream.
WAREHOUSE_CONDITION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild after upstream updates")


class WarehouseConfig(dg.Config):
    """Launchpad config of the warehouse asset."""

    # Recompute every mart from all history instead of the partitions changed since the last build
    # (a refresh falls back to this by itself when its state or the mart definitions changed).
    full_rebuild: bool = False


def build_warehouse_assets() -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=WAREHOUSE,
        # The datasets the warehouse's views read, declared once in rc_pipeline/warehouse/build.py.
        deps=[ASSET_OF_DATASET[dataset] for dataset in input_datasets()],
        pool=DUCKDB_POOL,
        group_name=ANALYTICS_GROUP,
        kinds={"duckdb"},
        automation_condition=WAREHOUSE_CONDITION,
        description=(
            "warehouse.duckdb for analysts: views over every Parquet dataset and marts (daily volume, "
            "missed-call rate, talk time, recording coverage, messages). Refreshed for the days whose "
            "partitions changed since the last build (config full_rebuild: all history) in a copy that "
            "is then swapped in, so open analyst connections never block it or see half a refresh."
        ),
    )
    def warehouse(
        context: dg.AssetExecutionContext, config: WarehouseConfig, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        storage = archive.storage()
        stats = build_warehouse(storage, storage.warehouse_path, full=config.full_rebuild)
        context.log.info(f"warehouse at {storage.warehouse_path}: {stats.describe()}")
        return dg.MaterializeResult(metadata=stats.metadata())

    return [warehouse]

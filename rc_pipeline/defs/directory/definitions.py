"""The directory domain: the extension snapshot asset, its job (with the warehouse) and schedule."""

import dagster as dg

from ..context import DefsContext
from ..names import EXTENSIONS, SNAPSHOT_JOB, WAREHOUSE
from .assets import build_directory_assets
from .automation import build_snapshot_schedule


def build(ctx: DefsContext) -> dg.Definitions:
    job = dg.define_asset_job(
        SNAPSHOT_JOB,
        selection=dg.AssetSelection.assets(EXTENSIONS, WAREHOUSE),
        description="Snapshot the extension directory and rebuild the DuckDB warehouse.",
    )
    return dg.Definitions(
        assets=build_directory_assets(ctx.pipeline),
        jobs=[job],
        schedules=[build_snapshot_schedule(job, ctx.pipeline)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

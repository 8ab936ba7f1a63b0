"""The call-log domain: raw pages -> calls and legs, their checks, and the daily call-side job.

The job also materialises `recordings` (their own folder): a day of the call side is complete only
with the audio its calls reference.
"""

import dagster as dg

from ..context import DefsContext
from ..names import ARCHIVE_JOB, CALL_REBUILD_ASSETS, CALL_REBUILD_JOB, CALL_SIDE_ASSETS
from .active import ACTIVE_CALL_SNAPSHOTS_SPEC, build_active_calls_sensor
from .assets import build_call_assets
from .automation import build_daily_schedule
from .capture import build_changes_sensor
from .checks import build_checks


def build(ctx: DefsContext) -> dg.Definitions:
    job = dg.define_asset_job(
        ARCHIVE_JOB,
        selection=dg.AssetSelection.assets(*CALL_SIDE_ASSETS),
        description="Archive one day of the call side: raw call log, calls, legs, recordings, with their checks.",
    )
    rebuild = dg.define_asset_job(
        CALL_REBUILD_JOB,
        selection=dg.AssetSelection.assets(*CALL_REBUILD_ASSETS),
        description=(
            "Rebuild calls, legs and recordings of a day from the raw layer (its listings plus the changes "
            "extract-sync captured): no call-log listing; downloads only recordings not yet archived."
        ),
    )
    return dg.Definitions(
        assets=[*build_call_assets(ctx.daily), ACTIVE_CALL_SNAPSHOTS_SPEC],
        asset_checks=build_checks(ctx.daily),
        jobs=[job, rebuild],
        schedules=[build_daily_schedule(job, ctx.pipeline)],
        sensors=[build_changes_sensor(rebuild, ctx.pipeline), *build_active_calls_sensor(ctx.pipeline)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

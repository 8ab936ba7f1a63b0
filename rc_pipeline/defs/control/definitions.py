"""The control domain: retention snapshot and its check, legal holds, and the purge at the source.

The purge job deletes nothing unless its run config says `execute: true`; the purge schedule exists
only when RC_PURGE_AFTER_DAYS is set, and starts stopped.
"""

import dagster as dg

from ..context import DefsContext
from ..names import CONTROL_JOB, LEGAL_HOLDS, RETENTION_SETTINGS
from .automation import build_control_schedule, build_purge_schedule
from .holds import build_holds_assets
from .purge import build_purge_job
from .retention import build_retention_assets, build_retention_checks


def build(ctx: DefsContext) -> dg.Definitions:
    snapshot_job = dg.define_asset_job(
        CONTROL_JOB,
        selection=dg.AssetSelection.assets(RETENTION_SETTINGS, LEGAL_HOLDS),
        description="Snapshot RingCentral's retention settings (with its check) and list the legal holds.",
    )
    purge_job = build_purge_job(ctx.pipeline.timezone)
    schedules = [build_control_schedule(snapshot_job, ctx.pipeline)]
    if ctx.purge_after_days is not None:
        schedules.append(build_purge_schedule(purge_job, ctx.pipeline, ctx.purge_after_days))
    return dg.Definitions(
        assets=[*build_retention_assets(ctx.pipeline), *build_holds_assets()],
        asset_checks=build_retention_checks(ctx.pipeline),
        jobs=[snapshot_job, purge_job],
        schedules=schedules,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

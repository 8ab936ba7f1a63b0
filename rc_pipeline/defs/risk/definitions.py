"""The retention-risk domain: the daily report asset, its check and schedule (logic in rc_pipeline.risk)."""

import dagster as dg

from ..context import DefsContext
from ..names import RETENTION_RISK, RISK_JOB
from .assets import build_risk_assets
from .automation import build_risk_schedule
from .checks import build_risk_checks


def build(ctx: DefsContext) -> dg.Definitions:
    job = dg.define_asset_job(
        RISK_JOB,
        selection=dg.AssetSelection.assets(RETENTION_RISK),
        description="Report what RingCentral deletes within the horizon and whether the archive holds it.",
    )
    return dg.Definitions(
        assets=build_risk_assets(ctx.daily, ctx.pipeline, ctx.risk_horizon_days),
        asset_checks=build_risk_checks(ctx.daily),
        jobs=[job],
        schedules=[build_risk_schedule(job, ctx.pipeline)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

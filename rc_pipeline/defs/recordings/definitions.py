"""The recordings domain: audio of every recorded call, and the check that proves it intact.

Scheduled with the call side (`archive_calls_daily` selects it), since it reads the day's calls.
"""

import dagster as dg

from ..context import DefsContext
from ..names import DEFERRED_RECORDINGS_JOB, RECORDINGS
from .assets import build_recording_assets
from .automation import build_deferred_recordings_sensor
from .checks import build_recording_checks


def build(ctx: DefsContext) -> dg.Definitions:
    deferred = dg.define_asset_job(
        DEFERRED_RECORDINGS_JOB,
        selection=dg.AssetSelection.assets(RECORDINGS),
        description=(
            "Fetch a day's recordings not archived yet, nearest deadline first, within "
            "RC_RECORDING_BUDGET; reads the day's calls from the archive (no call-log request)."
        ),
    )
    return dg.Definitions(
        assets=build_recording_assets(ctx.daily, ctx.recording_budget),
        asset_checks=build_recording_checks(ctx.daily),
        jobs=[deferred],
        sensors=[build_deferred_recordings_sensor(deferred)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

"""The recordings domain: audio of every recorded call, and the check that proves it intact.

Scheduled with the call side (`archive_calls_daily` selects it), since it reads the day's calls.
"""

import dagster as dg

from ..context import DefsContext
from .assets import build_recording_assets
from .checks import build_recording_checks


def build(ctx: DefsContext) -> dg.Definitions:
    return dg.Definitions(
        assets=build_recording_assets(ctx.daily, ctx.recording_budget),
        asset_checks=build_recording_checks(ctx.daily),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

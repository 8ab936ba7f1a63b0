"""Verification: re-run every check of archived days without calling RingCentral.

What a compliance admin runs before deleting anything at the source, to show each partition is
complete and every file intact (`rc-pipeline verify` runs the same job).
"""

import dagster as dg

from ..context import DefsContext
from ..names import CALL_SIDE_ASSETS, MESSAGE_STORE_ASSETS, MESSAGES_MATCH_LISTING, VERIFY_JOB


def build(ctx: DefsContext) -> dg.Definitions:
    selection = dg.AssetSelection.checks_for_assets(*CALL_SIDE_ASSETS, *MESSAGE_STORE_ASSETS)
    if ctx.reconciles:
        # The export-vs-listing reconciliation asks RingCentral; everything else reads the archive only.
        selection -= dg.AssetSelection.checks(MESSAGES_MATCH_LISTING)
    job = dg.define_asset_job(
        VERIFY_JOB,
        selection=selection,
        description=(
            "Re-verify archived partitions (counts, ids, windows, file sizes and sha256) without calling "
            "RingCentral."
        ),
    )
    return dg.Definitions(jobs=[job])


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

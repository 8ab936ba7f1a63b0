"""Legal holds in the UI: a small asset whose materialisation lists every hold and what it covers."""

import dagster as dg

from rc_pipeline.control import legal_hold
from rc_pipeline.control.holds import load_holds

from ..names import CONTROL_GROUP, LEGAL_HOLDS
from ..resources import ArchiveResource


def build_holds_assets() -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=LEGAL_HOLDS,
        group_name=CONTROL_GROUP,
        kinds={"json"},
        description=(
            "The legal holds in the archive root (control/holds/): what they cover and why. Nothing they "
            "cover is deleted at the source or erased. Placed and released with `rc-pipeline hold`. On a "
            "WORM archive (RC_WORM_MODE) each materialisation also sets the S3 legal hold on every object "
            "an active hold covers that lacks it (objects written since the hold was placed)."
        ),
    )
    def legal_holds(context: dg.AssetExecutionContext, archive: ArchiveResource) -> dg.MaterializeResult:
        storage = archive.storage()
        holds = load_holds(storage)
        active = [h for h in holds if h.active]
        context.log.info(f"{len(active)} active hold(s), {len(holds) - len(active)} released")
        synced = legal_hold.sync(storage, operator=f"dagster run {context.run.run_id}")
        if synced.failed:
            # The archive's holds still stop purge and erasure; S3 would not stop a delete by other means.
            raise RuntimeError(synced.describe())
        if storage.worm is not None:
            context.log.info(synced.describe())
        rows = ["| hold | covers | reason | since |", "|---|---|---|---|"]
        rows += [f"| {h.id} | {h.describe().split(': ', 1)[1].rsplit('; reason:', 1)[0]} | {h.reason} | {h.created_at[:10]} |" for h in active]  # fmt: skip
        return dg.MaterializeResult(
            metadata={
                "active_holds": dg.MetadataValue.int(len(active)),
                "released_holds": dg.MetadataValue.int(len(holds) - len(active)),
                "s3_legal_holds_set": dg.MetadataValue.int(len(synced.on)),
                "s3_legal_holds_failed": dg.MetadataValue.int(len(synced.failed)),
                "holds": dg.MetadataValue.md("\n".join(rows) if active else "_no active hold_"),
            }
        )

    return [legal_holds]

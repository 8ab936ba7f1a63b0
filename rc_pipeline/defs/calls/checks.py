"""Asset checks of the call log: ids unique, typed tables equal to the raw pages, calls inside the
window, legs attached to calls (rc_pipeline.verification). Failures carry the offending ids."""

import dagster as dg

from rc_pipeline.verification import CALL_CHECKS

from ..archive_checks import archive_checks


def build_checks(daily: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    return archive_checks(daily, CALL_CHECKS)

"""The recordings check: every recording the day's calls reference is archived and intact."""

import dagster as dg

from rc_pipeline.verification import RECORDING_CHECKS

from ..archive_checks import archive_checks


def build_recording_checks(daily: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    return archive_checks(daily, RECORDING_CHECKS)

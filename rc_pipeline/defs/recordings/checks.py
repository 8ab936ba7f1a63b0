"""The recordings check: every recording the day's calls reference is archived and intact."""

import dagster as dg

from rc_pipeline.integrity import missing_or_damaged
from rc_pipeline.storage import Dataset
from rc_pipeline.transform.recordings import recordings_referenced

from ..metadata import shown_ids
from ..names import RECORDINGS
from ..partitions import partition_window
from ..resources import ArchiveResource


def build_recording_checks(daily: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=RECORDINGS,
        partitions_def=daily,
        description=(
            "Every recording the day's calls reference is archived: the file exists and its size and "
            "sha256 match the manifest. Missing or damaged ids are listed."
        ),
    )
    def recordings_complete(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        storage = archive.storage()
        referenced = recordings_referenced(
            storage.read_parquet(Dataset.CALLS, day), storage.read_parquet(Dataset.CALL_LEGS, day)
        )
        # A day never archived raises FileNotFoundError: `verify` reports it as not archived.
        manifest = {r["recording_id"]: r for r in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()}
        missing, damaged = missing_or_damaged(
            storage, {r.recording_id: manifest.get(r.recording_id) for r in referenced}, "verified"
        )
        return dg.AssetCheckResult(
            passed=not missing and not damaged,
            metadata={
                "referenced": len(referenced),
                "verified": len(referenced) - len(missing) - len(damaged),
                "missing": shown_ids(missing),
                "size_or_sha256_mismatch": shown_ids(damaged),
            },
        )

    return [recordings_complete]

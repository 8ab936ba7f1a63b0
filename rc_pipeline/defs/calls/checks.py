"""Asset checks of the call log: ids unique, typed tables equal to the raw pages, calls inside the
window, legs attached to calls. Failures carry the offending ids."""

from typing import Any

import dagster as dg

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.checks import duplicate_ids, orphan_legs, records_outside_window
from rc_pipeline.transform.pages import records_from_pages

from ..metadata import id_list, shown_ids
from ..names import CALL_LEGS, CALLS
from ..partitions import partition_window
from ..resources import ArchiveResource


def raw_call_ids(storage: ArchiveStorage, day: Any) -> set[str]:
    return {str(r["id"]) for r in records_from_pages(storage.read_raw_call_log_pages(day)) if r.get("id")}


def build_checks(daily: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=CALLS, partitions_def=daily, description="Every call id appears once.")
    def calls_ids_unique(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        dupes = duplicate_ids(archive.storage().read_parquet(Dataset.CALLS, day))
        return dg.AssetCheckResult(passed=not dupes, metadata=id_list(dupes))

    @dg.asset_check(
        asset=CALLS,
        partitions_def=daily,
        description="The typed calls hold exactly the distinct call ids of the raw pages.",
    )
    def calls_match_raw(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        storage = archive.storage()
        typed = set(storage.read_parquet(Dataset.CALLS, day).column("id").to_pylist())
        raw = raw_call_ids(storage, day)
        missing, extra = sorted(raw - typed), sorted(typed - raw)
        return dg.AssetCheckResult(
            passed=not missing and not extra,
            metadata={
                "raw_distinct_ids": len(raw),
                "typed_rows": len(typed),
                "missing_from_calls": shown_ids(missing),
                "not_in_raw": shown_ids(extra),
            },
        )

    @dg.asset_check(
        asset=CALLS,
        partitions_def=daily,
        description="Every call started inside the partition's window (catches wrong dateFrom/dateTo or timezone).",
    )
    def calls_inside_window(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        window = partition_window(context)
        calls = archive.storage().read_parquet(Dataset.CALLS, window.day)
        outside = records_outside_window(calls, window.start, window.end)
        return dg.AssetCheckResult(
            passed=not outside,
            metadata={
                **id_list(outside),
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
            },
        )

    @dg.asset_check(
        asset=CALL_LEGS, partitions_def=daily, description="Every leg belongs to a call of the same day."
    )
    def legs_belong_to_calls(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        storage = archive.storage()
        orphans = orphan_legs(
            storage.read_parquet(Dataset.CALLS, day), storage.read_parquet(Dataset.CALL_LEGS, day)
        )
        return dg.AssetCheckResult(passed=not orphans, metadata=id_list(orphans))

    return [calls_ids_unique, calls_match_raw, calls_inside_window, legs_belong_to_calls]

"""Asset checks that prove each partition complete; failures carry the offending ids."""

import warnings
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.call_log import read_partition
from rc_pipeline.transform.checks import duplicate_ids, orphan_legs, records_outside_window
from rc_pipeline.transform.pages import records_from_pages
from rc_pipeline.transform.recordings import recordings_referenced

from .names import CALL_LEGS, CALLS, RECORDINGS
from .partitions import partition_window
from .resources import ArchiveResource

SHOWN_IDS = 50

# Partitioned asset checks are a preview feature in dagster 1.13; they are exactly what proving each
# day complete needs, so we use them and keep the warning out of every run's log.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=Warning
)


def _ids(values: list[str]) -> dict[str, Any]:
    return {"count": len(values), "ids": dg.MetadataValue.json(sorted(values)[:SHOWN_IDS])}


def raw_call_ids(storage: ArchiveStorage, day: Any) -> set[str]:
    return {str(r["id"]) for r in records_from_pages(storage.read_raw_call_log_pages(day)) if r.get("id")}


def build_checks(daily: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=CALLS, partitions_def=daily, description="Every call id appears once.")
    def calls_ids_unique(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        day = partition_window(context).day
        dupes = duplicate_ids(read_partition(archive.storage(), Dataset.CALLS, day))
        return dg.AssetCheckResult(passed=not dupes, metadata=_ids(dupes))

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
        typed = set(read_partition(storage, Dataset.CALLS, day).column("id").to_pylist())
        raw = raw_call_ids(storage, day)
        missing, extra = sorted(raw - typed), sorted(typed - raw)
        return dg.AssetCheckResult(
            passed=not missing and not extra,
            metadata={
                "raw_distinct_ids": len(raw),
                "typed_rows": len(typed),
                "missing_from_calls": dg.MetadataValue.json(missing[:SHOWN_IDS]),
                "not_in_raw": dg.MetadataValue.json(extra[:SHOWN_IDS]),
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
        calls = read_partition(archive.storage(), Dataset.CALLS, window.day)
        outside = records_outside_window(calls, window.start, window.end)
        return dg.AssetCheckResult(
            passed=not outside,
            metadata={
                **_ids(outside),
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
            read_partition(storage, Dataset.CALLS, day), read_partition(storage, Dataset.CALL_LEGS, day)
        )
        return dg.AssetCheckResult(passed=not orphans, metadata=_ids(orphans))

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
        referenced = {
            r.recording_id
            for r in recordings_referenced(
                read_partition(storage, Dataset.CALLS, day), read_partition(storage, Dataset.CALL_LEGS, day)
            )
        }
        with storage.fs.open(storage.parquet_path(Dataset.RECORDINGS, day), "rb") as fh:
            manifest = {r["recording_id"]: r for r in pq.read_table(fh).to_pylist()}
        missing, damaged = [], []
        for rec_id in referenced:
            row = manifest.get(rec_id)
            if (
                row is None
                or row["status"] != "verified"
                or not row["path"]
                or not storage.exists(row["path"])
            ):
                missing.append(rec_id)
            elif (
                storage.size(row["path"]) != row["bytes"] or storage.file_sha256(row["path"]) != row["sha256"]
            ):
                damaged.append(rec_id)
        return dg.AssetCheckResult(
            passed=not missing and not damaged,
            metadata={
                "referenced": len(referenced),
                "verified": len(referenced) - len(missing) - len(damaged),
                "missing": dg.MetadataValue.json(sorted(missing)[:SHOWN_IDS]),
                "size_or_sha256_mismatch": dg.MetadataValue.json(sorted(damaged)[:SHOWN_IDS]),
            },
        )

    return [calls_ids_unique, calls_match_raw, calls_inside_window, legs_belong_to_calls, recordings_complete]

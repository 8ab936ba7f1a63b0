"""Call recordings: every recording the day's calls and legs reference, downloaded and verified."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from rc_pipeline.ringcentral import NotFound, RingCentralClient, RingCentralError
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.audio import audio_seconds
from rc_pipeline.transform.call_log import read_partition
from rc_pipeline.transform.recordings import RecordingRef, recordings_referenced, write_recordings_manifest

from .metadata import measure, preview
from .names import API_POOL, CALL_GROUP, CALL_LEGS, CALLS, RECORDINGS
from .partitions import partition_window
from .resources import ArchiveResource, RingCentralResource

# Downloads overlap network latency; the client's throttle keeps them inside the Heavy budget.
DOWNLOAD_THREADS = 4


def previous_manifest(storage: ArchiveStorage, day: date) -> dict[str, dict[str, Any]]:
    path = storage.parquet_path(Dataset.RECORDINGS, day)
    if not storage.exists(path):
        return {}
    with storage.fs.open(path, "rb") as fh:
        return {row["recording_id"]: row for row in pq.read_table(fh).to_pylist()}


def already_archived(storage: ArchiveStorage, row: dict[str, Any] | None) -> bool:
    """A verified row whose file still has its recorded size and sha256: nothing to fetch.

    Re-hashing costs local reads only; trusting the size alone would leave a file damaged in place
    (same length, other bytes) unrepaired while RingCentral still holds the original.
    """
    if not row or row.get("status") != "verified" or not row.get("path"):
        return False
    path = row["path"]
    return (
        storage.exists(path)
        and storage.size(path) == row.get("bytes")
        and storage.file_sha256(path) == row.get("sha256")
    )


def fetch_recording(
    client: RingCentralClient, storage: ArchiveStorage, day: date, ref: RecordingRef
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "recording_id": ref.recording_id,
        "call_id": ref.call_id,
        "leg_index": ref.leg_index,
    }
    try:
        incoming = storage.recording_incoming_path(day, ref.recording_id)
        result = client.download_recording(
            {"id": ref.recording_id, "contentUri": ref.content_uri} if ref.content_uri else ref.recording_id,
            incoming,
        )
        seconds = audio_seconds(incoming, result.content_type)
        path = storage.publish_recording(incoming, day, ref.recording_id, result.content_type or "")
    except NotFound as exc:
        # Gone at RingCentral (retention, deletion): record it; the completeness check lists it.
        return {**row, "status": "missing", "error": str(exc)}
    except (RingCentralError, OSError, ValueError) as exc:
        return {**row, "status": "failed", "error": str(exc)}
    return {
        **row,
        "content_type": result.content_type,
        "bytes": result.size,
        "sha256": result.sha256,
        "duration_s": round(seconds) if seconds is not None else None,
        "path": path,
        "status": "verified",
        "error": None,
    }


def build_recording_assets(daily: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RECORDINGS,
        deps=[CALLS, CALL_LEGS],
        partitions_def=daily,
        pool=API_POOL,
        group_name=CALL_GROUP,
        kinds={"ringcentral", "parquet"},
        description=(
            "Audio of every recording referenced by the day's calls and legs, streamed to "
            "recordings/YYYY/MM/DD/<id>.<mp3|wav> and verified; a manifest row per recording. "
            "Re-runs fetch only what is missing."
        ),
    )
    def recordings(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        day = partition_window(context).day
        storage = archive.storage()
        client = ringcentral.get_client()
        refs = recordings_referenced(
            read_partition(storage, Dataset.CALLS, day), read_partition(storage, Dataset.CALL_LEGS, day)
        )
        before = previous_manifest(storage, day)
        rows: list[dict[str, Any]] = []
        todo: list[RecordingRef] = []
        for ref in refs:
            prior = before.get(ref.recording_id)
            if already_archived(storage, prior):
                rows.append({**prior, "call_id": ref.call_id, "leg_index": ref.leg_index})
            else:
                todo.append(ref)
        context.log.info(
            f"{len(refs)} recordings referenced, {len(rows)} already archived, {len(todo)} to fetch"
        )
        done = 0
        lock = threading.Lock()

        def work(ref: RecordingRef) -> dict[str, Any]:
            nonlocal done
            row = fetch_recording(client, storage, day, ref)
            with lock:
                done += 1
                if done % 10 == 0 or done == len(todo):
                    context.log.info(f"recordings: {done}/{len(todo)} fetched")
            return row

        with measure(client) as spend, ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS) as pool:
            fetched = list(pool.map(work, todo))
        rows.extend(fetched)
        count = write_recordings_manifest(rows, day, storage)
        failed = [r for r in rows if r["status"] == "failed"]
        missing = [r["recording_id"] for r in rows if r["status"] == "missing"]
        new_bytes = sum(r.get("bytes") or 0 for r in fetched if r["status"] == "verified")
        if failed:
            # The manifest is written first so the next run keeps what succeeded and retries the rest.
            details = "; ".join(f"{r['recording_id']}: {r['error']}" for r in failed[:10])
            raise dg.Failure(
                description=f"{len(failed)} of {len(refs)} recordings failed to download ({details})",
                metadata={"failed_recording_ids": [r["recording_id"] for r in failed]},
            )
        manifest = read_partition(storage, Dataset.RECORDINGS, day)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(count),
                "recordings_referenced": len(refs),
                "downloaded_now": sum(1 for r in fetched if r["status"] == "verified"),
                "skipped_already_archived": len(refs) - len(todo),
                "missing_at_ringcentral": dg.MetadataValue.json(missing),
                "bytes_downloaded": dg.MetadataValue.int(new_bytes),
                "bytes_total": dg.MetadataValue.int(sum(r.get("bytes") or 0 for r in rows)),
                "preview": preview(manifest, ["recording_id", "call_id", "content_type", "bytes", "status"]),
                **spend.metadata(),
            }
        )

    return [recordings]

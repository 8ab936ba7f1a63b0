"""An identical re-fetch changes nothing in a raw partition: page file and manifest stay byte for byte
(and mtime) as they were; the time of the check is recorded in state/raw_checked/."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import dagster as dg

from rc_pipeline.defs.names import EXTENSIONS, SNAPSHOT_JOB
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.sample_records import sample_call_log_pages
from rc_pipeline_tests.pipelinehelpers import pipeline_for

DAY = date(2026, 3, 1)
WINDOW = ("2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00")


def _partition(directory: str) -> dict[str, tuple[bytes, int, int]]:
    """Every file of a partition: content, modification time and inode (a replace changes the inode)."""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(Path(directory).iterdir())
    }


def test_identical_refetch_leaves_the_partition_untouched(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    pages = list(sample_call_log_pages(DAY, 25, per_page=10))
    first = storage.write_raw_call_log(DAY, pages, *WINDOW, fetched_at="2026-03-02T01:00:00+00:00")
    directory = storage.partition_dir(Dataset.RAW_CALL_LOG, DAY)
    before = _partition(directory)

    again = storage.write_raw_call_log(DAY, pages, *WINDOW, fetched_at="2026-03-05T01:00:00+00:00")

    assert _partition(directory) == before
    assert again == first
    checked = storage.read_json(storage.raw_checked_path(DAY))
    assert checked == {
        "checked_at": "2026-03-05T01:00:00+00:00",
        "fetched_at": "2026-03-02T01:00:00+00:00",
        "sha256": first.sha256,
    }
    assert storage.raw_last_fetch(DAY) == "2026-03-05T01:00:00+00:00"
    assert not [n for n in os.listdir(directory) if n.startswith(".")]  # no temp file left behind

    # A fetch that differs is a new manifest (and the identical-check of the old content no longer counts).
    changed = storage.write_raw_call_log(DAY, pages[:-1], *WINDOW, fetched_at="2026-03-06T01:00:00+00:00")
    assert changed.fetched_at == "2026-03-06T01:00:00+00:00" and len(changed.superseded) == 1
    assert storage.raw_last_fetch(DAY) == "2026-03-06T01:00:00+00:00"


def test_same_pages_for_another_window_is_a_new_manifest(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    pages = list(sample_call_log_pages(DAY, 25, per_page=10))
    storage.write_raw_call_log(DAY, pages, *WINDOW, fetched_at="2026-03-02T01:00:00+00:00")
    wider = storage.write_raw_call_log(
        DAY, pages, WINDOW[0], "2026-03-02T01:00:00+00:00", fetched_at="2026-03-03T01:00:00+00:00"
    )
    assert wider.window_end == "2026-03-02T01:00:00+00:00"
    assert storage.read_manifest(DAY).fetched_at == "2026-03-03T01:00:00+00:00"
    assert storage.superseded_pages_paths(DAY) == []  # same pages: nothing set aside


def test_extensions_snapshot_taken_again_unchanged_keeps_its_manifest(simulator, tmp_path):
    defs = pipeline_for(simulator, str(tmp_path))
    job = defs.resolve_job_def(SNAPSHOT_JOB)
    instance = dg.DagsterInstance.ephemeral()
    assert job.execute_in_process(instance=instance, asset_selection=[EXTENSIONS]).success
    storage = ArchiveStorage(str(tmp_path))
    (snapshot,) = storage.list_partitions(Dataset.RAW_EXTENSIONS)
    directory = storage.partition_dir(Dataset.RAW_EXTENSIONS, snapshot)
    before = _partition(directory)
    assert job.execute_in_process(instance=instance, asset_selection=[EXTENSIONS]).success
    assert _partition(directory) == before
    assert storage.exists(storage.raw_checked_path(snapshot, Dataset.RAW_EXTENSIONS))


def test_a_task_committed_on_a_day_not_committed_yet_is_requested_and_not_vouched_for(tmp_path):
    """A download killed between its task's marker and the day's marker leaves a day that reads as not
    archived: the sensor must request its task again, and a 404 for it must not pass as complete."""
    from rc_pipeline.defs.message_store.automation import task_committed
    from rc_pipeline.message_store.export_state import ExportEntry
    from rc_pipeline.message_store.fetch import _kept_committed
    from rc_pipeline.storage import ExportManifest, ExportPart

    storage = ArchiveStorage(str(tmp_path))
    day = date(2026, 3, 1)
    part = storage.export_part_path(day, "T1", 0)
    storage.atomic_write_bytes(part, b"zip bytes")
    manifest = ExportManifest(
        task_id="T1",
        window_start="2026-03-01T00:00:00Z",
        window_end="2026-03-02T00:00:00Z",
        parts=(ExportPart(0, part, storage.size(part), storage.file_sha256(part)),),
        fetched_at="2026-03-02T01:00:00Z",
        messages=1,
        attachments=0,
    )
    storage.write_export_task_manifest(day, manifest)
    entry = ExportEntry(
        partition=day.isoformat(),
        window_start=manifest.window_start,
        window_end=manifest.window_end,
        state="completed",
        requested_at=manifest.fetched_at,
        updated_at=manifest.fetched_at,
        task_id="T1",
    )
    assert not task_committed(storage, entry)
    assert _kept_committed(storage, day, "T1") is None
    storage.write_export_manifest(day, manifest)
    assert task_committed(storage, entry)
    assert _kept_committed(storage, day, "T1") is not None

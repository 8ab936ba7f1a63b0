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

"""Every local file and directory the pipeline writes is owner-only (0600/0700) whatever the umask, or
group-readable (0640/0750) with RC_ARCHIVE_GROUP_READ."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from rc_pipeline.backfill import run_archive
from rc_pipeline.defs.names import EXTENSIONS, SNAPSHOT_JOB, WAREHOUSE
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.modes import make_dirs, open_new
from rc_pipeline_tests.pipelinehelpers import pipeline_for, yesterday


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, which makes files world-readable
    try:
        yield
    finally:
        os.umask(previous)


def _wrong_modes(root: Path, dir_mode: int, file_mode: int) -> dict[str, str]:
    wrong = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = dir_mode if path.is_dir() else file_mode
        if mode != expected:
            wrong[str(path.relative_to(root))] = oct(mode)
    return wrong


def test_a_full_run_writes_owner_only(make_simulator, tmp_path, umask_022, monkeypatch):
    monkeypatch.delenv("RC_ARCHIVE_GROUP_READ", raising=False)
    sim = make_simulator(extensions=4, calls_per_day=12, messages_per_day=3)
    root = tmp_path / "archive"
    day = yesterday()
    summaries = run_archive(
        pipeline_for(sim, str(root)), day, day, instance=dg.DagsterInstance.ephemeral(), show_progress=False
    )
    assert all(not s.failures for s in summaries), [s.failures for s in summaries]
    storage = ArchiveStorage(str(root))
    # The run wrote what matters most: recordings, attachments, raw pages, tables, the warehouse.
    assert list((root / "recordings").rglob("*.*")) and list((root / "message_store").rglob("*.*"))
    assert storage.list_partitions(Dataset.MESSAGES) == [day] and Path(storage.warehouse_path).exists()
    assert _wrong_modes(root, 0o700, 0o600) == {}


def test_group_read_opens_the_archive_to_the_group(simulator, tmp_path, umask_022, monkeypatch):
    monkeypatch.setenv("RC_ARCHIVE_GROUP_READ", "1")
    root = tmp_path / "archive"
    defs = pipeline_for(simulator, str(root))
    job = defs.resolve_job_def(SNAPSHOT_JOB)
    assert job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=[EXTENSIONS, WAREHOUSE]
    ).success
    assert (root / "warehouse.duckdb").exists() and list((root / "raw").rglob("_manifest.json"))
    assert _wrong_modes(root, 0o750, 0o640) == {}


def test_umask_neither_widens_nor_narrows_a_new_file(tmp_path, monkeypatch):
    monkeypatch.delenv("RC_ARCHIVE_GROUP_READ", raising=False)
    previous = os.umask(0o000)  # a umask that would leave files world-writable
    try:
        with open_new(tmp_path / "f", "wb") as handle:
            handle.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_new_directories_keep_the_group_a_setgid_root_hands_down(tmp_path, umask_022, monkeypatch):
    monkeypatch.setenv("RC_ARCHIVE_GROUP_READ", "1")
    root = tmp_path / "archive"
    root.mkdir()
    os.chmod(root, 0o2750)  # what `chmod g+s` on a group-shared archive root gives
    make_dirs(root / "recordings" / "2026")
    for directory in (root / "recordings", root / "recordings" / "2026"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o2750

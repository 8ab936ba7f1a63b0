"""kill -9 as a test: `rc-pipeline archive` killed at ten random moments, then let finish, leaves the
archive a clean run leaves (typed tables, recordings and attachments by sha256, committed raw
partitions), no temporary file anywhere, and no export task running at the source untracked.
The longer version is benchmark scenario 10 (`python -m bench --only 10`)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.kill9 import KillSizes, run_kill_test
from rc_pipeline.storage import ArchiveStorage, atomic_open
from rc_pipeline.storage.temps import owner_prefix, sweep_archive_temporaries

ROOT = Path(__file__).resolve().parent.parent


def test_kill9_at_random_moments_then_a_final_run_equals_a_clean_run(tmp_path):
    report = run_kill_test(tmp_path, KillSizes(days=1, kills=10), timeout=120.0)
    assert report.kills >= 10, (report.kills, report.attempts)
    # The moments are spread: kills landed while requests were in flight and while none were.
    assert len(report.phases) >= 2, report.phases
    assert report.tasks_at_source > 0  # export tasks were created (and could have been orphaned)
    assert report.failed_runs == []
    assert report.final_returncode == 0, report.final_output
    assert report.orphans == []
    assert report.leftovers == []
    assert report.differences == []


def _killed_writer(target: Path, code: str) -> None:
    """Run ``code`` in a child process that SIGKILLs itself inside it (no cleanup runs)."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from rc_pipeline.storage.atomic import atomic_open\n"
        f"target = Path({str(target)!r})\n" + code + "\nos.kill(os.getpid(), signal.SIGKILL)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert run.returncode == -signal.SIGKILL


def _under(root: Path, paths: list[str]) -> list[str]:
    # The sweep also looks at the shared temp directory's top level: other processes' leftovers.
    return [p for p in paths if p.startswith(f"{root}/")]


def test_a_sweep_removes_what_killed_writers_left_and_nothing_a_live_writer_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    root = tmp_path / "archive"
    day_dir = root / "parquet" / "calls" / "date=2026-01-01"
    day_dir.mkdir(parents=True)
    # A writer killed inside an atomic write: its temp sibling stays, the target never appears.
    _killed_writer(
        day_dir / "part-0.parquet",
        "writer = atomic_open(str(target)); h = writer.__enter__(); h.write(b'half'); h.flush()",
    )
    (dead,) = [p for p in day_dir.iterdir() if p.name.startswith(".tmp-")]
    assert not (day_dir / "part-0.parquet").exists()
    storage = ArchiveStorage(str(root))
    with atomic_open(str(day_dir / "live.parquet")) as live:  # this process, writing right now
        live.write(b"in progress")
        # An interrupted download (a part and its lock) nobody continues, and one being downloaded.
        (day_dir / ".orphan.mp3.part").write_bytes(b"x")
        (day_dir / ".busy.mp3.part").write_bytes(b"y")
        with open(day_dir / ".busy.mp3.lock", "w") as busy:
            fcntl.flock(busy.fileno(), fcntl.LOCK_EX)
            assert _under(root, sweep_archive_temporaries(storage)) == [str(dead)]
            assert (day_dir / ".orphan.mp3.part").exists(), "a resumable part went before the run ended"
            removed = sweep_archive_temporaries(storage, partial_downloads=True)
        assert _under(root, removed) == [str(day_dir / ".orphan.mp3.part")]
        assert (day_dir / ".busy.mp3.part").exists()
        assert len([p for p in day_dir.iterdir() if p.name.startswith(owner_prefix())]) == 1
    assert (day_dir / "live.parquet").read_bytes() == b"in progress"


def test_the_sweep_leaves_what_it_does_not_own_and_never_stops_on_it(tmp_path):
    """Another user's temp file (a shared temp folder) is not this sweep's to remove; one it cannot
    remove is left and the sweep goes on."""
    from rc_pipeline.storage import temps

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid now names a dead writer of this host
    name = temps.owner_prefix().replace(f"x{os.getpid()}-", f"x{child.pid}-")
    mine, theirs = tmp_path / f"{name}mine", tmp_path / f"{name}theirs"
    mine.write_bytes(b"x")
    theirs.write_bytes(b"x")
    if os.geteuid() == 0:
        os.chown(theirs, 65534, 65534)
    else:
        theirs.unlink()  # a non-root test cannot make another user's file; the owned case still runs
    live_writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / temps.owner_prefix().replace(f"x{os.getpid()}-", f"x{live_writer.pid}-")
        live.write_bytes(b"being written")
        removed = temps.sweep_dead_writers([str(tmp_path)])
        assert removed == [str(mine)]
        assert not mine.exists()
        assert theirs.exists() or os.geteuid() != 0
        assert live.exists(), "a live writer's temp file was removed"
    finally:
        live_writer.kill()
        live_writer.wait()
    assert temps.sweep_dead_writers([str(tmp_path)]) == [str(live)]  # its writer is gone now

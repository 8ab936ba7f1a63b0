"""Scenario 10: kill -9 at random moments, then one uninterrupted run: the same archive as a clean run.

`rc-pipeline archive` runs as a child process against a simulator in this process and is killed with
SIGKILL at seeded random moments spread over the run (from its start, up to a clean
run's length, so kills land in the listing, the recording downloads, the export polls and downloads,
the Parquet writes and the warehouse build). After each kill no export task may be running at the
source that the archive's state does not track. Then one run is let finish, and the archive must
equal the clean run's: every typed table's rows, every recording and attachment (sha256), every
committed raw partition; no temporary file left under the root or in the local staging folders; no
export task orphaned.

The clean run goes first, against the same simulator (the days are in the past: both runs see the
same data), into its own root. `run_kill_test` is what the short test (rc_pipeline_tests/test_kill9.py)
and this scenario share; `run` is the scenario with more days and more kills.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.common import REPO, Result, bench_env, simulator_environ
from rc_pipeline.message_store.export_state import SUBMITTED, SUBMITTING, load_all
from rc_pipeline.simulator import RunningSimulator, SimulatorConfig, start_simulator
from rc_pipeline.simulator.exports import FINISHED
from rc_pipeline.storage import ArchiveStorage

# What a temporary file or directory of the pipeline looks like (storage.layout.TEMP_PREFIX, the
# resumable download's `.<name>.part`, the warehouse's private build copy).
TEMP_MARKERS = (".tmp-", ".part")
# Columns that say when a run looked, not what the source holds: equal data, different run moments.
RUN_MOMENT_COLUMNS = frozenset({"snapshot_time"})


@dataclass(frozen=True)
class KillSizes:
    days: int = 2
    extensions: int = 6
    calls_per_day: int = 30
    messages_per_day: int = 2
    kills: int = 10
    seed: int = 12
    # A cap on attempts: a run that finishes before its kill moment counts as an attempt, not a kill.
    max_attempts: int = 40


@dataclass
class KillReport:
    kills: int = 0
    attempts: int = 0
    # Where each kill landed, from the request the child made last (or "local" when it made none in
    # the last half second: Parquet, warehouse, extraction, start-up).
    phases: Counter = field(default_factory=Counter)
    clean_seconds: float = 0.0
    killed_total_seconds: float = 0.0
    final_seconds: float = 0.0
    orphans: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    final_returncode: int | None = None
    final_output: str = ""
    # Runs that ended before their kill moment with an error.
    failed_runs: list[str] = field(default_factory=list)
    tasks_at_source: int = 0

    @property
    def ok(self) -> bool:
        problems = self.orphans or self.differences or self.leftovers or self.failed_runs
        return not problems and self.final_returncode == 0


def simulator_config(sizes: KillSizes) -> SimulatorConfig:
    return SimulatorConfig(
        seed=sizes.seed,
        extensions=sizes.extensions,
        days=sizes.days + 2,
        calls_per_day=sizes.calls_per_day,
        messages_per_day=sizes.messages_per_day,
        # Windows of about a second: the kills, not the rate limits, are under test.
        rate_limit_scale=0.01,
        export_task_seconds=1.0,
    )


def archive_env(sim: RunningSimulator, root: Path, tmpdir: Path, start: date) -> dict[str, str]:
    """The child's environment: RC_* pointing at the simulator, its own TMPDIR (checked for leftovers)."""
    env = bench_env()
    env.update(simulator_environ(sim))
    env.update(
        RC_ARCHIVE_ROOT=str(root),
        RC_TIMEZONE="UTC",
        RC_START_DATE=start.isoformat(),
        RC_EXPORT_POLL_SECONDS="1",
        RC_EXPORT_RETRY_BACKOFF_SECONDS="0",
        # The simulator's tasks take a second: a task a killed run may have created without learning
        # its id holds its slot for a minute (as 6 hours hold it for RingCentral's slower tasks).
        RC_EXPORT_TIMEOUT_MINUTES="1",
        # Every run logs in, and a budget shared across processes holds RingCentral's 5 logins a minute
        # until the account announces its (here scaled) limits: without sharing, the simulator's limits
        # are the only ones, as for the clean run.
        RC_THROTTLE_DIR="none",
        TMPDIR=str(tmpdir),
        DAGSTER_HOME="",
    )
    return env


class Child:
    """One `rc-pipeline` process started by the fork server."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server, self.pid = server, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(queue.Empty):
                self.returncode = self.server.exit_code(block=False)
        return self.returncode

    def wait(self, timeout: float) -> int:
        if self.returncode is None:
            self.returncode = self.server.exit_code(block=True, timeout=timeout)
        return self.returncode

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)


class ForkServer:
    """`python -m bench.forkserver`: pays the pipeline's imports once, forks one child per run."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=bench_env(),
            cwd=REPO,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.current: Child | None = None
        threading.Thread(target=self._read, daemon=True).start()
        if self.lines.get(timeout=120) != "ready":
            raise RuntimeError("the fork server did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> Child:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        kind, _, value = self.lines.get(timeout=60).partition(" ")
        assert kind == "pid", kind
        self.current = Child(self, int(value))
        return self.current

    def exit_code(self, *, block: bool, timeout: float | None = None) -> int:
        kind, _, value = self.lines.get(block=block, timeout=timeout).partition(" ")
        assert kind == "exit", kind
        return int(value)

    def close(self) -> None:
        if self.current is not None and self.current.returncode is None:
            with contextlib.suppress(ProcessLookupError, queue.Empty):
                self.current.kill()  # a test that failed midway: no run outlives it
                self.current.wait(timeout=10)
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a child still running (a test that failed midway)
            self.proc.kill()
            self.proc.wait()


def start_archive(server: ForkServer, env: dict[str, str], start: date, end: date, log: Path) -> Child:
    argv = ["archive", "--start", start.isoformat(), "--end", end.isoformat(), "--no-progress"]
    return server.start(argv, env, log)


def _phase(sim: RunningSimulator, since: float) -> str:
    """Where the child was when killed: the kind of its last request within half a second, else local."""
    now = time.time()
    recent = [e for e in sim.request_log.snapshot()[-50:] if e.wall_time >= max(since, now - 0.5)]
    if not recent:
        return "local (Parquet, warehouse, extraction)"
    path = recent[-1].path
    if "message-store-report" in path:
        return "export download" if "/archive/" in path else "export polling"
    if "/recording/" in path:
        return "recording download"
    if "call-log" in path:
        return "call-log listing"
    if "/oauth/" in path:
        return "login"
    if path.rstrip("/").endswith("/extension") or "/account/~" == path[-10:]:
        return "directory listing"
    return "other request"


def orphaned_tasks(sim: RunningSimulator, storage: ArchiveStorage) -> list[str]:
    """Export tasks running at the source that the archive no longer tracks.

    Tracked: the task of a submitted entry and every abandoned task with an id. A process killed
    between its POST and the save of the answer leaves the entry SUBMITTING (the task's id was never
    learnt, and the entry says so): one untracked task per such entry is accounted for.
    """
    running = {t.id for t in sim.exports.tasks() if t.status() not in FINISHED}
    entries = load_all(storage)
    tracked = {e.task_id for e in entries if e.state == SUBMITTED}
    tracked |= {str(a["task_id"]) for e in entries for a in e.abandoned if a.get("task_id")}
    untracked = sorted(running - tracked)
    submitting = sum(1 for e in entries if e.state == SUBMITTING)
    return untracked if len(untracked) > submitting else []


def temporary_leftovers(*folders: Path) -> list[str]:
    """Every temporary file or directory (a `.tmp-` name, a `.part` download) under the folders."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if any(marker in path.name for marker in TEMP_MARKERS):
                found.append(str(path))
    return sorted(found)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_files(root: Path) -> dict[str, str]:
    """Recordings and attachments: relative path -> sha256."""
    files = {}
    for top in ("recordings", "message_store/content"):
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[str(path.relative_to(root))] = _sha256(path)
    return files


def _committed_raw(root: Path) -> set[str]:
    """Raw partitions with their commit marker (a manifest), by dataset and partition folder."""
    return {str(p.parent.relative_to(root)) for p in (root / "raw").rglob("_manifest.json")}


def _table(path: Path, root: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    keep = [c for c in table.column_names if c not in RUN_MOMENT_COLUMNS]
    rows = table.select(keep).to_pylist()
    prefix = str(root)
    # Paths are the same files under another root.
    normal = [
        tuple((k, v.replace(prefix, "<root>") if isinstance(v, str) else v) for k, v in sorted(row.items()))
        for row in rows
    ]
    return sorted(normal, key=repr)


def archive_differences(clean: Path, killed: Path) -> list[str]:
    """What differs between two archives: typed tables (rows), content files (sha256), raw commits."""
    out = []
    clean_tables = {str(p.relative_to(clean)) for p in (clean / "parquet").rglob("*.parquet")}
    killed_tables = {str(p.relative_to(killed)) for p in (killed / "parquet").rglob("*.parquet")}
    if not clean_tables:
        out.append("the clean run wrote no typed table")
    for name in sorted(clean_tables ^ killed_tables):
        out.append(f"table file only in the {'clean' if name in clean_tables else 'killed'} run: {name}")
    for name in sorted(clean_tables & killed_tables):
        if _table(clean / name, clean) != _table(killed / name, killed):
            out.append(f"table differs: {name}")
    clean_files, killed_files = _content_files(clean), _content_files(killed)
    if not clean_files:
        out.append("the clean run archived no recording or attachment")
    for name in sorted(set(clean_files) | set(killed_files)):
        if clean_files.get(name) != killed_files.get(name):
            out.append(f"content differs: {name} ({clean_files.get(name)} vs {killed_files.get(name)})")
    for name in sorted(_committed_raw(clean) ^ _committed_raw(killed)):
        out.append(f"raw partition committed in one run only: {name}")
    return out


def run_kill_test(
    workdir: Path, sizes: KillSizes, log: Callable[[str], None] = lambda _m: None, timeout: float = 300.0
) -> KillReport:
    """Clean run, then `sizes.kills` kill -9s at random moments, then a final run; compare."""
    report = KillReport()
    end = datetime.now(UTC).date() - timedelta(days=2)  # past days only: nothing changes between runs
    start = end - timedelta(days=sizes.days - 1)
    clean_root, killed_root = workdir / "clean", workdir / "killed"
    clean_tmp, killed_tmp = workdir / "tmp-clean", workdir / "tmp-killed"
    for folder in (clean_tmp, killed_tmp, workdir / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    server = ForkServer()
    try:
        with start_simulator(simulator_config(sizes)) as sim:
            # The clean run's length is the span the kill moments are drawn from.
            clean_env = archive_env(sim, clean_root, clean_tmp, start)
            began = time.monotonic()
            proc = start_archive(server, clean_env, start, end, workdir / "logs" / "clean.log")
            if proc.wait(timeout=timeout) != 0:
                raise RuntimeError(f"the clean run failed:\n{_tail(workdir / 'logs' / 'clean.log')}")
            report.clean_seconds = time.monotonic() - began
            log(f"   clean run: {report.clean_seconds:.1f} s")
            _kill_then_finish(server, sim, archive_env(sim, killed_root, killed_tmp, start), workdir, sizes,
                              start, end, report, timeout, log)  # fmt: skip
            log(f"   {report.kills} kills in {report.attempts} runs: {dict(report.phases)}")
    finally:
        server.close()
    report.leftovers = temporary_leftovers(killed_root, killed_tmp)
    report.differences = archive_differences(clean_root, killed_root)
    return report


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no output)"


def _kill_then_finish(
    server: ForkServer,
    sim: RunningSimulator,
    env: dict[str, str],
    workdir: Path,
    sizes: KillSizes,
    start: date,
    end: date,
    report: KillReport,
    timeout: float,
    log: Callable[[str], None],
) -> None:
    rng = random.Random(f"kill9:{sizes.seed}")
    storage = ArchiveStorage(env["RC_ARCHIVE_ROOT"])
    started_all = time.monotonic()
    while report.kills < sizes.kills and report.attempts < sizes.max_attempts:
        report.attempts += 1
        output = workdir / "logs" / f"killed-{report.attempts}.log"
        began, began_wall = time.monotonic(), time.time()
        proc = start_archive(server, env, start, end, output)
        moment = rng.uniform(0.0, report.clean_seconds)
        while proc.poll() is None and time.monotonic() < began + moment:
            time.sleep(0.01)
        if proc.poll() is not None:
            # Finished before its moment: an uninterrupted run, not a kill. It must have succeeded.
            if proc.returncode != 0:
                report.failed_runs.append(f"run {report.attempts} exited {proc.returncode}:\n{_tail(output)}")
            continue
        phase = _phase(sim, began_wall)
        proc.kill()
        proc.wait(timeout=timeout)
        report.kills += 1
        report.phases[phase] += 1
        log(f"   kill {report.kills} at {moment:.1f} s of run {report.attempts} ({phase})")
        orphans = orphaned_tasks(sim, storage)
        if orphans:
            report.orphans.append(f"after kill {report.kills} ({phase}): {orphans}")
    report.killed_total_seconds = time.monotonic() - started_all
    report.tasks_at_source = len(sim.exports.tasks())

    began = time.monotonic()
    output = workdir / "logs" / "final.log"
    report.final_returncode = start_archive(server, env, start, end, output).wait(timeout=timeout)
    report.final_seconds = time.monotonic() - began
    report.final_output = _tail(output)
    log(f"   final run: {report.final_seconds:.1f} s, exit {report.final_returncode}")
    report.orphans += [f"after the final run: {t}" for t in orphaned_tasks(sim, storage)]
    unfinished = [e.describe() for e in load_all(storage) if e.live]
    report.orphans += [f"export still live after the final run: {d}" for d in unfinished]


def run(workdir: Path, sizes: KillSizes, log: Callable[[str], None]) -> list[Result]:
    """The scenario: more days and more kills than the test."""
    folder = workdir / "kill9"
    folder.mkdir(parents=True, exist_ok=True)
    report = run_kill_test(folder, sizes, log, timeout=1800.0)
    if not report.ok:
        log("   " + "\n   ".join(report.differences + report.leftovers + report.orphans)[:4000])
    name = "10"
    return [
        Result(name, "kill -9 during runs", report.kills, f">= {sizes.kills}", report.kills >= sizes.kills),
        Result(name, "kill phases reached", len(report.phases)),
        Result(name, "final run s", round(report.final_seconds, 1)),
        Result(name, "differences from a clean run", len(report.differences), "0", not report.differences),
        Result(name, "temporary files left", len(report.leftovers), "0", not report.leftovers),
        Result(name, "export tasks orphaned", len(report.orphans), "0", not report.orphans),
    ]

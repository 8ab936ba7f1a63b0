"""`rc-pipeline ui` stopped by SIGTERM leaves no process behind (dg dev, dagster dev, webserver,
daemon, code server, gRPC servers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, session id, state), read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        table[int(entry)] = (int(fields[1]), int(fields[3]), fields[0])
    return table


def _tree(root: int) -> set[int]:
    """``root`` and every process below it (by parent links), plus every process of the sessions they
    lead or share, whose parents may already have gone."""
    table = _processes()
    found = {root} if root in table else set()
    grew = True
    while grew:
        below = {pid for pid, (ppid, _, _) in table.items() if ppid in found} - found
        grew = bool(below)
        found |= below
    sessions = {table[pid][1] for pid in found} - {os.getsid(0)}
    return found | {pid for pid, (_, sid, _) in table.items() if sid in sessions}


def _alive(pids: set[int]) -> set[int]:
    table = _processes()
    return {pid for pid in pids if pid in table and table[pid][2] != "Z"}


def test_sigterm_stops_every_process_ui_started(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
        "RC_ARCHIVE_ROOT": str(tmp_path / "archive"),
    }
    ui = subprocess.Popen(
        [sys.executable, "-m", "rc_pipeline.cli", "ui", "--port", str(_free_port()), "--days", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[int] = set()
    try:
        # Wait until dg dev has started a process of its own (its code server comes first, then the
        # webserver and the daemon): a grandchild is what a signal to `ui` alone used to leave running.
        # The test does not wait for the UI to answer.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(seen) < 3:
            seen |= _tree(ui.pid)
            time.sleep(0.3)
        assert len(seen) >= 3, f"ui started only {len(seen)} process(es)"
        ui.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen |= _tree(ui.pid) if ui.poll() is None else set()
            if not _alive(seen):
                break
            time.sleep(0.3)
        left = _alive(seen)
        assert not left, {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in left}
        assert ui.wait(timeout=5) == 0
    finally:
        for pid in _alive(seen | {ui.pid}):
            os.kill(pid, signal.SIGKILL)


def test_a_tree_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    """The children ignore SIGTERM (an ignored signal stays ignored across exec): the group is
    SIGKILLed once the grace period is over, and nothing is left."""
    script = (
        "import os, sys\n"
        "from rc_pipeline.process_group import run_process_group\n"
        "tree = \"trap '' TERM INT; sleep 300 & sleep 300 & wait\"\n"
        "sys.exit(run_process_group(['sh', '-c', tree], os.environ, grace_seconds=1.0))\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 4:  # python, sh, two sleeps
            seen |= _tree(parent.pid)
            time.sleep(0.1)
        assert len(seen) >= 4, seen
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=15) == 0
        deadline = time.monotonic() + 5
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(seen)
    finally:
        for pid in _alive(seen | {parent.pid}):
            os.kill(pid, signal.SIGKILL)

"""Run a command that starts a tree of processes, and never leave any of them behind.

`dg dev` starts `dagster dev`, which starts the webserver, the daemon and code servers (each with
gRPC servers of its own). A signal to the parent alone stopped the parent and left the rest running.
The command runs in a session (and process group) of its own: SIGINT and SIGTERM received here are
forwarded to the whole group, which gets ``grace_seconds`` to stop cleanly, then SIGKILL. Every
process started below it inherits the group (Dagster starts its children without a new session).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` still exists (zombies waiting to be reaped included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(proc: subprocess.Popen, signum: int, grace_seconds: float) -> None:
    """Send ``signum`` to the group led by ``proc``, wait up to ``grace_seconds``, then SIGKILL it."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None and not group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_process_group(command: Sequence[str], env: Mapping[str, str], grace_seconds: float = 20.0) -> int:
    """Run ``command`` in a new session until it ends or SIGINT/SIGTERM arrives; its exit code.

    On a signal the whole group is stopped (see `stop_group`); whatever the way out (a signal, an
    exception, the command ending by itself), no process of the group is left running.
    """
    proc = subprocess.Popen(list(command), env=dict(env), start_new_session=True)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        while proc.poll() is None and not received:
            time.sleep(0.2)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        # The signal (if any) was forwarded already; this waits for the group, and kills what stays.
        stop_group(proc, received[0] if received else signal.SIGTERM, grace_seconds)
    return 0 if received else int(proc.returncode or 0)

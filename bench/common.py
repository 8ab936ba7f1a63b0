"""Shared pieces of the benchmarks: result rows, the table, JSON output, child processes and RSS."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


@dataclass
class Result:
    """One measured figure: `target` is a human-readable bound, `met` None when there is no target."""

    scenario: str
    metric: str
    value: float | int | str
    target: str | None = None
    met: bool | None = None


def fmt_value(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def render_table(results: Sequence[Result]) -> str:
    rows = [
        (
            r.scenario,
            r.metric,
            fmt_value(r.value),
            r.target or "",
            "" if r.met is None else ("yes" if r.met else "NO"),
        )
        for r in results
    ]
    head = ("scenario", "metric", "value", "target", "met")
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'>' if i == 2 else '<'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*head), "  ".join("-" * w for w in widths)]
    out += [fmt.format(*row) for row in rows]
    return "\n".join(out)


def render_markdown(results: Sequence[Result]) -> str:
    out = ["| scenario | metric | value | target | met |", "|---|---|---:|---|---|"]
    for r in results:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        out.append(f"| {r.scenario} | {r.metric} | {fmt_value(r.value)} | {r.target or ''} | {met} |")
    return "\n".join(out)


def write_results(results: Sequence[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    os.replace(tmp, path)


def bench_env() -> dict[str, str]:
    """Environment for child processes: the repo importable, no RC_* settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


@dataclass
class ChildRun:
    returncode: int
    stdout: str
    stderr: str
    max_rss_bytes: int
    wall_seconds: float

    def peak_rss_bytes(self) -> int:
        """The child's own peak RSS when it reported one (VmHWM), else what wait4 said."""
        try:
            return int(self.last_json().get("peak_rss_bytes") or self.max_rss_bytes)
        except (RuntimeError, ValueError):
            return self.max_rss_bytes

    def last_json(self) -> dict[str, Any]:
        """The last stdout line that is a JSON object (how children report their measurements)."""
        for line in reversed(self.stdout.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"child printed no JSON result; stderr:\n{self.stderr[-3000:]}")


def run_child(args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> ChildRun:
    """Run `python args...`, wait with os.wait4 and return its own peak RSS (not its siblings')."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or bench_env(),
        cwd=REPO,
        text=True,
    )
    try:
        out, err = _communicate_then_reap(proc, timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    returncode, rusage = proc._bench_status  # type: ignore[attr-defined]
    return ChildRun(returncode, out, err, rusage.ru_maxrss * 1024, time.monotonic() - started)


def _communicate_then_reap(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    # communicate() would reap the child with waitpid and lose its rusage; read the pipes first with
    # threads, then reap it with wait4 ourselves.
    import threading

    chunks: dict[str, str] = {}

    def drain(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    readers = [
        threading.Thread(target=drain, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=drain, args=("err", proc.stderr), daemon=True),
    ]
    for t in readers:
        t.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise TimeoutError(f"child {proc.args} ran longer than {timeout:.0f} s")
        time.sleep(0.05)
    for t in readers:
        t.join(timeout=10)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc._bench_status = (proc.returncode, rusage)  # type: ignore[attr-defined]
    return chunks.get("out", ""), chunks.get("err", "")


def own_peak_rss_bytes() -> int:
    """This process's peak RSS since exec (VmHWM).

    A child's ru_maxrss (wait4, RUSAGE_CHILDREN) also counts the pages it shared with the benchmark
    process between fork and exec, so children report this figure themselves."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def simulator_environ(sim: Any) -> dict[str, str]:
    """The RC_* variables that point a child process (the CLI) at a running simulator."""
    settings = simulator_settings(sim)
    return {
        "RC_SERVER_URL": settings.server_url,
        "RC_MEDIA_URL": settings.media_url,
        "RC_CLIENT_ID": settings.client_id,
        "RC_CLIENT_SECRET": settings.client_secret,
        "RC_JWT": settings.jwt,
    }


def simulator_settings(sim: Any) -> Any:
    """Client settings for a running simulator (its hosts and demo credentials)."""
    from rc_pipeline.ringcentral import RingCentralSettings

    return RingCentralSettings(
        server_url=sim.base_url,
        media_url=sim.media_url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        jwt=sim.jwt,
    )

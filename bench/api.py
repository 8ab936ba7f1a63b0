"""Scenarios 1 and 2: API efficiency against the minimum, and rate-limit utilisation with 4 runs at once
(2b: the same runs split over two machines that share the budget only through PostgreSQL).

The simulator runs in this process (its request log is the ground truth of what was sent); the
pipeline runs in child processes (`bench.archive_worker`), each with its own client and throttle, all
logging in with the same credentials, so they share one budget on the server exactly as concurrent
Dagster runs would. Rate-limit windows are scaled from 60 s to `window` seconds and every group's
count multiplied by `count_scale`; ratios are scale-free.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.common import REPO, Result, bench_env
from rc_pipeline.apispec import match_operation
from rc_pipeline.plan import GroupLimit, Volume, call_log_pages, extension_pages, make_plan
from rc_pipeline.ringcentral.throttle import DEFAULT_LIMITS
from rc_pipeline.simulator import RunningSimulator, SimulatorConfig, start_simulator
from rc_pipeline.simulator.exports import FINISHED
from rc_pipeline.storage import ArchiveStorage, Dataset

# What each operation the pipeline may call counts as.
KIND = {
    "readCompanyCallLog": "call_log_pages",
    "readUserCallLog": "call_log_pages",
    "readCallRecordingContent": "recordings",
    "createMessageStoreReport": "export_create",
    "readMessageStoreReportTask": "export_polls",
    "readMessageStoreReportArchive": "export_list",
    "readMessageStoreReportArchiveContent": "export_parts",
    "listExtensions": "extension_pages",
    "getToken": "auth",
    "revokeToken": "auth",
}


@dataclass(frozen=True)
class ApiSizes:
    days: int
    calls_per_day: int
    recording_share: float
    window: float
    count_scale: int
    extensions: int = 20
    runs: int = 4


def limits_for(sizes: ApiSizes) -> dict[str, tuple[int, float]]:
    return {g: (n * sizes.count_scale, sizes.window) for g, (n, _) in DEFAULT_LIMITS.items()}


def sim_config(sizes: ApiSizes) -> SimulatorConfig:
    return SimulatorConfig(
        seed=5,
        extensions=sizes.extensions,
        days=sizes.days + 2,
        calls_per_day=sizes.calls_per_day,
        recording_share=sizes.recording_share,
        rate_limits=limits_for(sizes),
        # RingCentral's penalty equals its window (60 s); scaled the same way.
        penalty_seconds=sizes.window,
    )


def archived_days(sizes: ApiSizes) -> list[date]:
    last = datetime.now(UTC).date() - timedelta(days=1)
    return [last - timedelta(days=n) for n in range(sizes.days - 1, -1, -1)]


@dataclass
class Minimum:
    """The least requests the archived range needs, from the simulator's ground truth."""

    calls: int = 0
    call_log_pages: int = 0
    recordings: int = 0
    extension_pages: int = 0


def minimum_for(sim: RunningSimulator, days: list[date]) -> Minimum:
    """From the records the simulator lists for each day right now (calls, and distinct recordings
    referenced by a call or any of its legs), as the pipeline sees them."""
    m = Minimum()
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        records = sim.account.call_records(start, start + timedelta(days=1))
        recordings = set()
        for record in records:
            for item in (record, *(record.get("legs") or [])):
                if (item.get("recording") or {}).get("id"):
                    recordings.add(item["recording"]["id"])
        m.calls += len(records)
        m.call_log_pages += call_log_pages(len(records))
        m.recordings += len(recordings)
    m.extension_pages = extension_pages(len(sim.account.extensions()))
    return m


@dataclass
class Sent:
    by_group: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)
    status_429: int = 0
    first: float = 0.0
    last: float = 0.0


def count_sent(sim: RunningSimulator) -> Sent:
    sent = Sent()
    entries = sim.request_log.snapshot()
    for e in entries:
        op = match_operation(e.method, e.path)
        kind = KIND.get(op.operation_id) if op else None
        sent.by_group[e.group or "?"] += 1
        if kind:
            sent.by_kind[kind] += 1
        else:
            sent.other[f"{e.group} {op.operation_id if op else e.path}"] += 1
        sent.status_429 += e.status == 429
    if entries:
        sent.first, sent.last = entries[0].monotonic, entries[-1].monotonic
    return sent


def export_minimum(sim: RunningSimulator) -> tuple[int, int]:
    """(least export requests for the tasks the pipeline created, those tasks) : create + list + parts."""
    tasks = [t for t in sim.exports.tasks() if t.status() in FINISHED]
    parts = sum(len(t.archives) if t.archives is not None else 1 for t in tasks)
    return 2 * len(tasks) + parts, len(tasks)


def start_workers(
    sim: RunningSimulator, specs: list[dict], workdir: Path, sizes: ApiSizes, env: dict | None = None
) -> list[subprocess.Popen]:
    env = {**bench_env(), **(env or {})}
    # The export poll interval (30 s, for real RingCentral) scales with the windows, like everything else.
    env["RC_EXPORT_POLL_SECONDS"] = str(max(1.0, 30.0 * sizes.window / 60.0))
    procs = []
    for n, spec in enumerate(specs):
        path = workdir / f"worker-{n}.json"
        path.write_text(
            json.dumps(
                {
                    **spec,
                    "server_url": sim.base_url,
                    "media_url": sim.media_url,
                    "client_id": sim.client_id,
                    "client_secret": sim.client_secret,
                    "jwt": sim.jwt,
                }
            )
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.archive_worker", str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=open(workdir / f"worker-{n}.err", "w"),
                text=True,
                cwd=REPO,
                env=env,
            )
        )
    for p in procs:
        line = p.stdout.readline() if p.stdout else ""
        if line.strip() != "READY":
            for q in procs:
                q.kill()
            raise RuntimeError(f"a worker did not start: {line!r}; see {workdir}/worker-*.err")
    return procs


def go_and_wait(procs: list[subprocess.Popen], cap: float) -> tuple[float, list[dict], bool]:
    """Release the workers together; wait until all are done or `cap` seconds passed (then stop them).

    Returns (wall seconds, reports, whether every worker finished)."""
    started = time.monotonic()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("GO\n")
        p.stdin.flush()
    finished = True
    for p in procs:
        try:
            p.wait(timeout=max(0.1, cap - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            finished = False
            break
    wall = time.monotonic() - started
    if not finished:
        for p in procs:
            p.kill()
    reports = []
    for p in procs:
        out = p.stdout.read() if p.stdout else ""
        p.wait()
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if lines:
            reports.append(json.loads(lines[-1]))
        else:
            reports.append(
                {"error": f"stopped at the {cap:.0f} s cap" if not finished else f"exit {p.returncode}"}
            )
    return wall, reports, finished


def _floor(sent: Sent, sizes: ApiSizes) -> tuple[float, str]:
    """The floor the announced limits impose: max over groups of requests / limit x window."""
    limits = limits_for(sizes)
    per_group = {g: n / limits[g][0] * limits[g][1] for g, n in sent.by_group.items() if g in limits}
    group = max(per_group, key=per_group.get)
    return per_group[group], group


def _efficiency(scenario: str, sim: RunningSimulator, days: list[date], log) -> tuple[list[Result], Sent]:
    minimum = minimum_for(sim, days)
    sent = count_sent(sim)
    k = sent.by_kind
    exp_min, tasks = export_minimum(sim)
    export_sent = k["export_create"] + k["export_list"] + k["export_parts"]
    pairs = [
        ("call-log pages", k["call_log_pages"], minimum.call_log_pages),
        ("recording downloads", k["recordings"], minimum.recordings),
        ("extension pages", k["extension_pages"], minimum.extension_pages),
    ]
    if export_sent or tasks:
        pairs.append(("export create/list/parts", export_sent, exp_min))
    heavy_min = minimum.call_log_pages + minimum.recordings + (exp_min if (export_sent or tasks) else 0)
    heavy_sent = sent.by_group["Heavy"] - k["export_polls"]
    medium_sent, medium_min = sent.by_group["Medium"], minimum.extension_pages
    ratio = (heavy_sent + medium_sent) / (heavy_min + medium_min)
    results = [
        Result(scenario, "calls archived", minimum.calls),
        *[Result(scenario, f"{name} sent / minimum", f"{s:,} / {m:,}") for name, s, m in pairs],
    ]
    if not (export_sent or tasks):
        results.append(
            Result(scenario, "message export requests", "none: no export assets in the pipeline yet")
        )
    else:
        polls = k["export_polls"] / max(tasks, 1)
        results.append(
            Result(
                scenario,
                "export status polls per task (Heavy, not in the minimum)",
                round(polls, 2),
                "<= 10",
                polls <= 10,
            )
        )
    results += [
        Result(scenario, "Heavy sent (excl. polls) / minimum", round(heavy_sent / heavy_min, 4)),
        Result(scenario, "Medium sent / minimum", round(medium_sent / medium_min, 4)),
    ]
    for key, n in sorted(sent.other.items()):
        results.append(Result(scenario, f"other: {key} (not in the minimum)", n))
    results += [
        Result(scenario, "Auth requests (logins + revokes)", sent.by_group["Auth"]),
        Result(
            scenario,
            "requests sent / minimum (Heavy+Medium, excl. polls)",
            round(ratio, 4),
            "<= 1.02",
            ratio <= 1.02,
        ),
        Result(scenario, "429s received", sent.status_429, "0", sent.status_429 == 0),
    ]
    log(f"  {scenario}: by kind {dict(k)}, other {dict(sent.other)}, 429s {sent.status_429}")
    return results, sent


def run(workdir: Path, sizes: ApiSizes, *, log=print) -> tuple[list[Result], dict]:
    days = archived_days(sizes)
    day_keys = [d.isoformat() for d in days]
    results: list[Result] = []
    limits = limits_for(sizes)
    context: dict = {}

    # -- scenario 1: one backfill run (`rc-pipeline archive` semantics) ---------------------------
    s1 = "1 API efficiency"
    root = workdir / "archive-1"
    with start_simulator(sim_config(sizes)) as sim:
        expected = minimum_for(sim, days)
        heavy_limit, window = limits["Heavy"]
        # Generous: 4x the Heavy floor of the minimum (plus exports) and two minutes for the rest.
        cap = 120 + 4 * (expected.call_log_pages + expected.recordings + 6 * len(days)) / heavy_limit * window
        procs = start_workers(
            sim,
            [{"mode": "sequential", "days": day_keys, "root": str(root), "deadline_seconds": cap + 60}],
            workdir,
            sizes,
        )
        wall, reports, _ = go_and_wait(procs, cap)
        failures = [f for r in reports for f in r.get("failures", [])] + [
            r["error"] for r in reports if "error" in r
        ]
        rows, sent = _efficiency(s1, sim, days, log)
        floor, group = _floor(sent, sizes)
        floor_1, group_1 = floor, group
        heavy_1 = sent.by_group["Heavy"]
        context["exports_seen"] = sent.by_kind["export_create"] > 0
        minimum = minimum_for(sim, days)
        context["volume"] = Volume(
            days=len(days),
            calls_per_day=minimum.calls / len(days),
            recordings_per_day=minimum.recordings / len(days),
            extensions=len(sim.account.extensions()),
            sampled_days=len(days),
        )
        results += rows
        results += [
            Result(s1, "days failed", len(failures), "0", not failures),
            Result(s1, "wall s (1 run)", round(wall, 1)),
            Result(s1, f"wall / floor ({group}-bound floor {floor:.0f} s)", round(wall / floor, 3)),
        ]
        if failures:
            log("  failures: " + "; ".join(failures[:5]))
    shutil.rmtree(root, ignore_errors=True)

    # -- scenario 2: the same backfill as 4 runs at once sharing one budget ------------------------
    s2 = f"2 concurrency ({sizes.runs} runs)"
    root = workdir / "archive-2"
    claims = workdir / "claims"
    claims.mkdir(exist_ok=True)
    # Stop at 1.5x the floor scenario 1's requests impose (plus 30 s): the target is 1.05x.
    cap = 30 + 1.5 * floor_1
    with start_simulator(sim_config(sizes)) as sim:
        specs = [queue_spec(day_keys, root, claims, n, cap) for n in range(sizes.runs)]
        wall, reports, finished, failures = run_queue_workers(sim, specs, workdir, sizes, cap)
        sent = count_sent(sim)
        if finished:
            floor, group = _floor(sent, sizes)
        else:
            # Unfinished: its own requests are not the whole backfill; use scenario 1's (the same work).
            floor, group = floor_1, group_1
        minimum = minimum_for(sim, days)
        ratio = wall / floor
        penalties = sum(r.get("client_penalty_s", 0) for r in reports)
        completed = len(ArchiveStorage(str(root)).list_partitions(Dataset.RECORDINGS))
        if not finished:
            log(f"  {s2}: stopped at the {cap:.0f} s cap with {completed}/{len(days)} days complete")
        results += [
            Result(
                s2, "finished before the cap (1.5 x floor + 30 s)", "yes" if finished else f"no, {cap:.0f} s"
            ),
            Result(s2, "days archived completely", completed, f"{len(days)}", completed == len(days)),
            Result(s2, "days failed", len(failures), "0", not failures),
            Result(
                s2,
                "Heavy requests sent / minimum",
                f"{sent.by_group['Heavy']:,} / {minimum.call_log_pages + minimum.recordings:,}",
            ),
            Result(s2, f"floor s ({group}: requests / limit x window)", round(floor, 1)),
            Result(
                s2, "wall s (GO to last run done" + ("" if finished else ", or the cap") + ")", round(wall, 1)
            ),
            Result(s2, "wall / floor", round(ratio, 3), "<= 1.05", ratio <= 1.05),
            Result(s2, "429s received (each starts a penalty)", sent.status_429, "0", sent.status_429 == 0),
        ]
        if finished:
            results.append(Result(s2, "penalty s waited (all runs)", round(penalties, 1)))
        context["scenario2_wall"] = wall if finished else None
        context["scenario1_heavy_sent"] = heavy_1
        log(
            f"  {s2}: wall {wall:.1f} s, floor {floor:.1f} s ({group}), 429s {sent.status_429}, by kind {dict(sent.by_kind)}"
        )
        if failures:
            log("  failures: " + "; ".join(failures[:5]))
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(claims, ignore_errors=True)
    context["limits"] = {g: GroupLimit(n, w, announced=True) for g, (n, w) in limits_for(sizes).items()}
    context["days"] = days
    return results, context


def two_machines(
    workdir: Path, sizes: ApiSizes, *, machines: int = 2, database_url: str | None = None, log=print
) -> list[Result]:
    """Scenario 2 on several machines: `sizes.runs` runs at once split over `machines`, each machine
    with its own throttle folder, so RingCentral's budget is shared only through a PostgreSQL database
    (RC_THROTTLE_URL): `database_url`, else a server started for the purpose from this machine's
    PostgreSQL binaries."""
    from rc_pipeline_tests.pghelpers import LocalPostgres, find_bindir

    scenario = f"2b two machines ({sizes.runs} runs on {machines}, PostgreSQL budget)"
    with contextlib.ExitStack() as stack:
        if database_url is None:
            bindir = find_bindir()
            if bindir is None:
                return [Result(scenario, "skipped", "no PostgreSQL server binaries (initdb, pg_ctl) here")]
            server = stack.enter_context(LocalPostgres(bindir))
            database_url = server.url(server.create_database("rc_throttle"))
        return _two_machines(workdir, sizes, machines, database_url, scenario, log)


def queue_spec(day_keys: list[str], root: Path, claims: Path, n: int, cap: float, **extra: str) -> dict:
    """Worker ``n`` of a run that takes days from a shared queue (claims), the first one also
    snapshotting the directory; ``extra`` adds worker options (its throttle folder or database)."""
    return {
        "mode": "queue",
        "days": day_keys,
        "root": str(root),
        "claims_dir": str(claims),
        "snapshot": n == 0,
        "deadline_seconds": cap + 60,
        **extra,
    }


def run_queue_workers(sim, specs: list[dict], workdir: Path, sizes: ApiSizes, cap: float):
    """Start the workers, let them go at once, wait up to ``cap``: (wall, reports, finished, failures)."""
    procs = start_workers(sim, specs, workdir, sizes)
    wall, reports, finished = go_and_wait(procs, cap)
    # Runs stopped at the cap report nothing: their unfinished days count as not archived, not failed.
    failures = [f for r in reports for f in r.get("failures", [])] + [
        r["error"] for r in reports if "error" in r and finished
    ]
    return wall, reports, finished, failures


def _two_machines(
    workdir: Path, sizes: ApiSizes, machines: int, url: str, scenario: str, log
) -> list[Result]:
    days = archived_days(sizes)
    root, claims = workdir / "archive-2b", workdir / "claims-2b"
    claims.mkdir(exist_ok=True)
    limits = limits_for(sizes)
    with start_simulator(sim_config(sizes)) as sim:
        minimum = minimum_for(sim, days)
        heavy_limit, window = limits["Heavy"]
        # Stop at 1.5x the least time the minimum's Heavy requests take (plus 30 s): the target is 1.05x.
        cap = 30 + 1.5 * (minimum.call_log_pages + minimum.recordings) / heavy_limit * window
        specs = [
            queue_spec(
                [d.isoformat() for d in days],
                root,
                claims,
                n,
                cap,
                throttle_dir=str(workdir / f"machine-{n % machines}-throttle"),
                throttle_url=url,
            )
            for n in range(sizes.runs)
        ]
        wall, reports, finished, failures = run_queue_workers(sim, specs, workdir, sizes, cap)
        sent = count_sent(sim)
        floor, group = _floor(sent, sizes)
        completed = len(ArchiveStorage(str(root)).list_partitions(Dataset.RECORDINGS))
        ratio = wall / floor
        throttled = Counter(e.group for e in sim.request_log.snapshot() if e.status == 429)
        log(
            f"  {scenario}: wall {wall:.1f} s, floor {floor:.1f} s ({group}), 429s {dict(throttled)}, "
            f"{completed}/{len(days)} days"
        )
        if failures:
            log("  failures: " + "; ".join(failures[:5]))
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(claims, ignore_errors=True)
    return [
        Result(
            scenario,
            "finished before the cap (1.5 x floor + 30 s)",
            "yes" if finished else f"no, {cap:.0f} s",
        ),
        Result(scenario, "days archived completely", completed, f"{len(days)}", completed == len(days)),
        Result(scenario, "days failed", len(failures), "0", not failures),
        Result(scenario, f"floor s ({group}: requests / limit x window)", round(floor, 1)),
        Result(
            scenario,
            "wall s (GO to last run done" + ("" if finished else ", or the cap") + ")",
            round(wall, 1),
        ),
        Result(scenario, "wall / floor", round(ratio, 3), "<= 1.05", ratio <= 1.05),
        Result(scenario, "429s received (each starts a penalty)", sent.status_429, "0", sent.status_429 == 0),
    ]


def plan_accuracy(context: dict, *, include_messages: bool) -> list[Result]:
    """Scenario 6b: the planner's arithmetic against what scenarios 1 and 2 actually did."""
    scenario = "6 capacity planning"
    days: list[date] = context["days"]
    plan = make_plan(
        context["volume"], context["limits"], days[0], days[-1], include_messages=include_messages
    )
    heavy = next(g for g in plan.backfill if g.group == "Heavy")
    rows = [
        Result(
            scenario,
            "planned Heavy requests / sent in scenario 1",
            round(heavy.requests / context["scenario1_heavy_sent"], 3),
        )
    ]
    if context.get("scenario2_wall"):
        predicted = heavy.requests / heavy.limit * heavy.window
        rows.append(
            Result(
                scenario,
                "scenario 2 wall / planned least time",
                round(context["scenario2_wall"] / predicted, 3),
            )
        )
    return rows

"""Scenario 9: a fault storm. A backfill through thousands of injected faults ends as a calm one does.

Two simulators of the same account (same seed, started together, so their clocks read the same
simulated time and both hold the same data) are archived with `rc-pipeline archive`'s own code
(`run_archive`: every day's archive job, the message store through the export path, the warehouse),
one without faults and one with every kind of fault the simulator injects, at rates that give each
kind at least `minimum` injections: 5xx (500, 502, 503, 504), 429 bursts without X-Rate-Limit-*
headers (another limiter) and with them (the group limiter's), truncated bodies, dropped
connections, slow answers, expired access tokens, `200 text/html` maintenance pages on JSON
endpoints, and export tasks that go AttemptFailed (then complete) or end Failed.

The two archives must hold the same typed tables (calls, legs, recordings manifest, messages,
attachments, extensions: rows compared, not files' bytes) and the same files (recordings and message
attachments, by sha256). The simulator counts what it injected by kind; the client's statistics show
the retries; the time overhead is the storm's wall time over the calm one's.

Time is compressed as the simulator's `rate_limit_scale` does for windows: the client backs off from
10 ms instead of 2 s (`STORM_RETRY`), 429s announce `Retry-After: 0`, export attempts last 50 ms,
rate limits are out of the way (the injected 429s are the ones that count here).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from bench.common import Result
from rc_pipeline.backfill import DaySummary, run_archive
from rc_pipeline.definitions import build_definitions
from rc_pipeline.defs.resources import close_shared_clients, shared_clients, simulator_resources
from rc_pipeline.ringcentral.client import ClientStats
from rc_pipeline.ringcentral.session import RetryPolicy
from rc_pipeline.settings import MessageStoreSettings, PipelineSettings
from rc_pipeline.simulator import FaultConfig, RunningSimulator, SimulatorConfig, start_simulator
from rc_pipeline.simulator.faults import EXPORT_FAULT_KINDS

SCENARIO = "9 fault storm"
# Backoff of the storm's client: RingCentral's rule (exponential, full jitter) on a compressed clock.
STORM_RETRY = RetryPolicy(max_attempts=15, base_delay=0.01, max_delay=0.05, default_503_delay=0.01)
# No rate limit gets in the way: every 429 of the storm is an injected one, counted by kind.
UNTHROTTLED = {group: (100_000, 1.0) for group in ("Light", "Medium", "Heavy", "Auth")}
# Re-runs of failed days before the storm's result is judged.
MAX_RERUNS = 3
TYPED = ("calls", "call_legs", "recordings", "messages", "message_attachments", "extensions")
FILES = ("recordings", "message_store/content")


@dataclass(frozen=True)
class StormSizes:
    days: int
    calls_per_day: int
    extensions: int
    messages_per_day: int
    minimum: int  # injections every request kind must reach
    export_minimum: int  # and every export kind (tasks are few: about one a day plus its retries)
    # Share of requests given each kind (5xx: split evenly between 500, 502, 503 and 504).
    rates: dict[str, float] = field(default_factory=dict)
    # Shares of export tasks that end Failed / that fail `export_failed_attempts` attempts first.
    export_failed_rate: float = 0.0
    export_attempt_failed_rate: float = 0.0
    export_failed_attempts: int = 1
    # Submissions per day before a failure is surfaced: high enough that the Failed rate above
    # cannot exhaust it (RC_EXPORT_MAX_ATTEMPTS caps the variable at 20; the storm sets the field).
    export_max_attempts: int = 1000
    seed: int = 12


def storm_faults(sizes: StormSizes) -> FaultConfig:
    rates = sizes.rates
    return FaultConfig(
        seed=sizes.seed,
        error_5xx_rate=rates.get("5xx", 0.0),
        burst_429_rate=rates.get("429", 0.0),
        limited_429_rate=rates.get("429_limited", 0.0),
        burst_retry_after=0.0,
        truncate_rate=rates.get("truncate", 0.0),
        drop_rate=rates.get("drop", 0.0),
        html_rate=rates.get("html", 0.0),
        expired_rate=rates.get("expired", 0.0),
        expired_min_age=0.1,
        slow_seconds=0.02,
        slow_rate=rates.get("slow", 0.0),
        export_failed_rate=sizes.export_failed_rate,
        export_attempt_failed_rate=sizes.export_attempt_failed_rate,
        export_failed_attempts=sizes.export_failed_attempts,
    )


def simulator_config(sizes: StormSizes, faults: FaultConfig | None = None) -> SimulatorConfig:
    return SimulatorConfig(
        seed=sizes.seed,
        extensions=sizes.extensions,
        days=sizes.days + 2,
        calls_per_day=sizes.calls_per_day,
        messages_per_day=sizes.messages_per_day,
        recording_share=0.6,
        rate_limits=dict(UNTHROTTLED),
        export_task_seconds=0.05,
        # Sent faxes go 30 days after sending at RingCentral: the oldest day of a 30-day backfill would
        # lose its faxes between the calm run and the storm (a difference the first full run showed).
        # RingCentral's deletions are scenario 8's subject; here no archived day nears one.
        sent_fax_days=sizes.days + 30,
        faults=faults or FaultConfig(),
    )


@dataclass
class ArchiveRun:
    root: Path
    wall_seconds: float
    summaries: list[DaySummary]
    stats: ClientStats
    reruns: list[str] = field(default_factory=list)  # days run again after a failure, once per re-run


def archive_account(
    sim: RunningSimulator, root: Path, days: list[date], today: date, sizes: StormSizes
) -> ArchiveRun:
    """`rc-pipeline archive` over `days` into `root`, with the storm's retry policy on the client."""
    close_shared_clients()
    pipeline = PipelineSettings(
        timezone="UTC", start_date=days[0].isoformat(), schedule_hour=2, lookback_days=2
    )
    messages = MessageStoreSettings(
        source="export",
        poll_seconds=0.05,
        retry_backoff_seconds=0.0,
        task_timeout_seconds=120.0,
        max_attempts=sizes.export_max_attempts,
        reconcile=False,
    )
    # The budget shared through a directory, as by default (RC_THROTTLE_DIR), one per run.
    resources = simulator_resources(sim, str(root), throttle_dir=str(root.with_name(root.name + "-throttle")))
    defs = build_definitions(pipeline, resources=resources, messages=messages)
    # The process's one client for this account, made now so that its retries follow STORM_RETRY.
    with dg.build_resources({"ringcentral": defs.resources["ringcentral"]}) as built:
        client = built.ringcentral.get_client()
    client.session.retry = STORM_RETRY
    started = time.monotonic()
    reruns: list[str] = []
    with dg.instance_for_test() as instance:
        summaries = run_archive(
            defs, days[0], days[-1], instance=instance, show_progress=False, today=today, deadline_days=90
        )
        # As an operator (or the schedule's next pass) does after a day the CLI reports failed: run it
        # again. Bounds are per run by design (a download interrupted 6 times keeps its bytes "for the
        # next run"), so convergence is over runs, and the re-runs are counted.
        for _ in range(MAX_RERUNS):
            failed = [s.day for s in summaries if s.failures]
            if not failed:
                break
            reruns += failed
            again = {
                day: run_archive(
                    defs, date.fromisoformat(day), date.fromisoformat(day), instance=instance,
                    show_progress=False, today=today, deadline_days=90,
                )[0]
                for day in failed
            }  # fmt: skip
            summaries = [again.get(s.day, s) for s in summaries]
    wall = time.monotonic() - started
    stats = next(c for c in shared_clients() if c is client).stats()
    close_shared_clients()
    return ArchiveRun(root, wall, summaries, stats, reruns)


# What differs between two archives of one account by where they are, not by what they hold: the
# archive root in file paths and the simulator's address in content URIs.
SIMULATOR_ORIGIN = re.compile(r"https?://127\.0\.0\.1:\d+")


def typed_tables(root: Path) -> dict[str, list[tuple]]:
    """Every row of every typed table, by dataset, sorted: contents, not files' bytes (the archive
    root and the simulator's address are replaced by placeholders)."""
    tables: dict[str, list[tuple]] = {}
    for name in TYPED:
        rows: list[tuple] = []
        for path in sorted((root / "parquet" / name).rglob("*.parquet")):
            for row in pq.read_table(path).to_pylist():
                rows.append(tuple(sorted((k, _located(repr(v), root)) for k, v in row.items())))
        tables[name] = sorted(rows)
    return tables


def _located(text: str, root: Path) -> str:
    return SIMULATOR_ORIGIN.sub("<simulator>", text.replace(str(root), "<root>"))


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every recording and message attachment, by path under the root."""
    digests = {}
    for top in FILES:
        for path in sorted((root / top).rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def differences(calm: Path, storm: Path) -> list[str]:
    """What differs between two archives' typed tables and files (empty: identical)."""
    out = []
    a, b = typed_tables(calm), typed_tables(storm)
    for name in TYPED:
        if a[name] != b[name]:
            only_a, only_b = set(a[name]) - set(b[name]), set(b[name]) - set(a[name])
            out.append(
                f"{name}: {len(a[name])} vs {len(b[name])} rows; only calm {sorted(only_a)[:2]}, "
                f"only storm {sorted(only_b)[:2]}"
            )
    fa, fb = file_digests(calm), file_digests(storm)
    if fa != fb:
        changed = sorted(k for k in fa.keys() & fb.keys() if fa[k] != fb[k])
        out.append(
            f"files: {len(fa)} vs {len(fb)}; missing {sorted(fa.keys() - fb.keys())[:3]}, "
            f"extra {sorted(fb.keys() - fa.keys())[:3]}, different {changed[:3]}"
        )
    return out


@dataclass
class StormOutcome:
    calm: ArchiveRun
    storm: ArchiveRun
    injected: dict[str, int]
    differences: list[str]
    rows: dict[str, int]
    files: int

    @property
    def overhead(self) -> float:
        return self.storm.wall_seconds / self.calm.wall_seconds

    def kinds(self, sizes: StormSizes) -> list[tuple[str, int, int]]:
        """(kind, injected, minimum asked) for every kind."""
        return [
            (kind, n, sizes.export_minimum if kind in EXPORT_FAULT_KINDS else sizes.minimum)
            for kind, n in self.injected.items()
        ]

    def short_kinds(self, sizes: StormSizes) -> dict[str, int]:
        """Kinds injected fewer times than `sizes` asks."""
        return {kind: n for kind, n, need in self.kinds(sizes) if n < need}

    def failures(self) -> list[str]:
        return [f"{s.day}: {f}" for run in (self.calm, self.storm) for s in run.summaries for f in s.failures]


def storm(workdir: Path, sizes: StormSizes, log: Callable[[str], Any] = print) -> StormOutcome:
    """Archive the same account calm and in a storm; compare."""
    faults = storm_faults(sizes)
    calm_sim = start_simulator(simulator_config(sizes))
    storm_sim = start_simulator(simulator_config(sizes, faults))
    try:
        # One "today" for both, taken an hour back: every day archived ended more than an hour before
        # either run, so both simulators list it whole (visible calls, attached recordings).
        today = (datetime.now(UTC) - timedelta(hours=1)).date()
        days = [today - timedelta(days=n) for n in range(sizes.days, 0, -1)]
        calm = archive_account(calm_sim, workdir / "calm", days, today, sizes)
        log(f"   calm: {calm.wall_seconds:.1f} s, {calm.stats.total_requests} requests")
        stormy = archive_account(storm_sim, workdir / "storm", days, today, sizes)
        injected = faults.injected()
        log(
            f"   storm: {stormy.wall_seconds:.1f} s, {stormy.stats.total_requests} requests, injected {injected}"
        )
    finally:
        calm_sim.stop()
        storm_sim.stop()
    tables = typed_tables(calm.root)
    return StormOutcome(
        calm=calm,
        storm=stormy,
        injected=injected,
        differences=differences(calm.root, stormy.root),
        rows={name: len(rows) for name, rows in tables.items()},
        files=len(file_digests(calm.root)),
    )


# The sizes of the full scenario: 30 days, every kind at least 1,000 times. Export tasks: nearly every
# one ends Failed (about 40 a day before one completes) and every one fails an attempt first. The
# kinds that cost an attempt (drop, 5xx, html) stay under half of a request's draws, so 15 attempts
# always suffice (0.45^15 < 1e-5).
FULL = StormSizes(
    days=30,
    calls_per_day=500,
    extensions=20,
    messages_per_day=3,
    minimum=1000,
    export_minimum=1000,
    rates={
        "5xx": 0.2,
        "429": 0.08,
        "429_limited": 0.08,
        "truncate": 0.2,
        "drop": 0.05,
        "slow": 0.15,
        "html": 0.2,
        "expired": 0.08,
    },  # fmt: skip
    export_failed_rate=0.975,
    export_attempt_failed_rate=1.0,
    export_max_attempts=1000,
)
# `make test`'s version: 3 days, every request kind at least 40 times, export kinds 20 times (about
# 1,500 faults in all); the rarer kinds' rates raised so the minimum holds with a margin.
QUICK = StormSizes(
    days=3,
    calls_per_day=150,
    extensions=10,
    messages_per_day=3,
    minimum=40,
    export_minimum=20,
    rates=FULL.rates | {"5xx": 0.3, "drop": 0.07, "expired": 0.1, "slow": 0.2},
    export_failed_rate=0.9,
    export_attempt_failed_rate=1.0,
    export_max_attempts=1000,
)


def run(workdir: Path, sizes: StormSizes, *, log=print) -> list[Result]:
    outcome = storm(workdir, sizes, log=log)
    short = outcome.short_kinds(sizes)
    rows = [
        Result(SCENARIO, f"faults injected: {kind}", n, f">= {need:,}", n >= need)
        for kind, n, need in outcome.kinds(sizes)
    ]
    rows.append(Result(SCENARIO, "faults injected: total", sum(outcome.injected.values())))
    stats = outcome.storm.stats
    rows += [
        Result(SCENARIO, "client: 5xx and non-JSON answers retried", stats.server_errors),
        Result(SCENARIO, "client: non-JSON answers", stats.non_json_answers),
        Result(SCENARIO, "client: 429 answers waited out", stats.throttled_429),
        Result(SCENARIO, "client: connection errors retried", stats.connection_errors),
        Result(SCENARIO, "client: token refreshes", stats.refreshes),
        Result(SCENARIO, "requests calm / storm", f"{outcome.calm.stats.total_requests:,} / {stats.total_requests:,}"),
        Result(SCENARIO, "days archived", sizes.days),
        Result(SCENARIO, "typed rows compared", sum(outcome.rows.values())),
        Result(SCENARIO, "files compared (sha256)", outcome.files),
        Result(SCENARIO, "days re-run after a failure (storm)", len(outcome.storm.reruns)),
        Result(SCENARIO, "days failing at the end (both runs)", len(outcome.failures()), "0", not outcome.failures()),
        Result(SCENARIO, "tables and files identical", "yes" if not outcome.differences else "no", "yes",
               not outcome.differences),
        Result(SCENARIO, "wall calm s", round(outcome.calm.wall_seconds, 1)),
        Result(SCENARIO, "wall storm s", round(outcome.storm.wall_seconds, 1)),
        Result(SCENARIO, "time overhead (storm / calm)", round(outcome.overhead, 2)),
        Result(SCENARIO, "kinds injected fewer times than asked", len(short), "0", not short),
    ]  # fmt: skip
    for line in outcome.differences + outcome.failures():
        log(f"   {line}")
    return rows

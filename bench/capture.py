"""Scenario 7: late changes without re-listing whole days.

Steady-state Heavy requests a day on the call side, against the least the day needs: the new day's
call-log pages, the pages of records changed since the last pass (call-log-extract-sync, 1,000 a
page), the new recordings, and one message-store export. Three ways of running are compared over the
same simulated days (the simulator's clock moves a day at a time; each day starts at 00:10, when late
recordings of calls that ended just before midnight are not attached yet):

- ``lookback 2``: today's pipeline before extract-sync: yesterday plus 2 days re-listed and re-exported;
- ``sync + lookback N``: yesterday plus N re-listed days, then one extract-sync pass, then the days it
  found changed rebuilt from raw (no listing) with their new recordings.

Export steps are counted, not sent (scenario 1 measures them: one create, one poll, the list and the
parts per exported day, `EXPORT_REQUESTS_PER_TASK`): they depend only on how many days are exported.
Completeness is checked against RingCentral's final word: every archived day's calls and recordings
must equal what the simulator lists for the day at the end.
"""

from __future__ import annotations

import math
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.common import Result, simulator_settings
from rc_pipeline.apispec import match_operation
from rc_pipeline.calls.captured import build_day_tables, days_behind_captures
from rc_pipeline.calls.changes import capture_call_changes
from rc_pipeline.calls.recordings import archive_recordings
from rc_pipeline.days import day_window
from rc_pipeline.plan import EXPORT_REQUESTS_PER_TASK, call_log_pages
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.simulator import RunningSimulator, SimulatorConfig, start_simulator
from rc_pipeline.storage import ArchiveStorage, Dataset

SCENARIO = "7 late changes"
TZ = "UTC"
# A day's run starts 10 minutes after midnight: recordings attach 15 minutes after a call appears.
RUN_AT = timedelta(minutes=10)
ATTACH_DELAY_SECONDS = 900.0
TARGET = 1.15

KIND = {
    "readCompanyCallLog": "call_log_pages",
    "extractSyncAccountCallLog": "change_pages",
    "readCallRecordingContent": "recordings",
}


@dataclass(frozen=True)
class Strategy:
    name: str
    lookback_days: int
    sync: bool


STRATEGIES = (
    Strategy("lookback 2 (today)", 2, False),
    Strategy("sync + lookback 1 (default)", 1, True),
    Strategy("sync + lookback 0", 0, True),
)


@dataclass
class Tally:
    sent: Counter = field(default_factory=Counter)
    minimum: Counter = field(default_factory=Counter)
    days: int = 0
    changed_records: int = 0
    # Recordings the listings had not seen, found through extract-sync alone.
    late_recordings: int = 0
    differing_days: list[str] = field(default_factory=list)

    def heavy_sent(self) -> int:
        return sum(self.sent.values())

    def heavy_minimum(self) -> int:
        return sum(self.minimum.values())


def _client(sim: RunningSimulator) -> RingCentralClient:
    return RingCentralClient(simulator_settings(sim), throttle_dir=None)


def _heavy_by_kind(sim: RunningSimulator, since: int) -> tuple[Counter, int]:
    counts: Counter = Counter()
    entries = sim.request_log.snapshot()
    for e in entries[since:]:
        if e.group != "Heavy":
            continue
        op = match_operation(e.method, e.path)
        counts[KIND.get(op.operation_id if op else "", "other")] += 1
    return counts, len(entries)


def _verified(storage: ArchiveStorage, days: list[date]) -> set[str]:
    ids: set[str] = set()
    for day in days:
        if storage.exists(storage.parquet_path(Dataset.RECORDINGS, day)):
            table = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
            ids |= {r["recording_id"] for r in table if r["status"] == "verified"}
    return ids


def _list_day(client: RingCentralClient, storage: ArchiveStorage, day: date) -> None:
    window = day_window(day, TZ)
    pages = client.iter_call_log_pages(window.start, window.end, view="Detailed")
    storage.write_raw_call_log(day, (p.raw for p in pages), window.start, window.end)


def _build_day(client: RingCentralClient, storage: ArchiveStorage, day: date) -> None:
    build_day_tables(storage, day_window(day, TZ))
    archive_recordings(client, storage, day, lambda _m: None)


def _recording_ids(record: dict) -> set[str]:
    return {
        str(item["recording"]["id"])
        for item in (record, *(record.get("legs") or []))
        if (item.get("recording") or {}).get("id")
    }


def _differs(sim: RunningSimulator, storage: ArchiveStorage, day: date) -> bool:
    """Whether the archived day differs from what RingCentral lists for it now (calls or recordings)."""
    window = day_window(day, TZ)
    truth = sim.account.call_records(window.start, window.end)
    calls = storage.read_parquet(Dataset.CALLS, day)
    legs = storage.read_parquet(Dataset.CALL_LEGS, day)
    archived_recordings = {r for r in calls.column("recording_id").to_pylist() if r} | {
        r for r in legs.column("recording_id").to_pylist() if r
    }
    truth_recordings = set().union(*(_recording_ids(r) for r in truth)) if truth else set()
    return {r["id"] for r in truth} != set(calls.column("id").to_pylist()) or (
        truth_recordings != archived_recordings
    )


def run_strategy(
    strategy: Strategy, workdir: Path, *, days: int, calls_per_day: float, log: Callable[[str], None]
) -> Tally:
    config = SimulatorConfig(
        seed=11,
        extensions=20,
        days=5,
        calls_per_day=calls_per_day,
        recording_share=0.5,
        recording_attach_delay=ATTACH_DELAY_SECONDS,
        # Generous limits: this scenario counts requests, it does not time them.
        rate_limits={g: (100_000, 1.0) for g in ("Light", "Medium", "Heavy", "Auth")},
        penalty_seconds=1.0,
    )
    sim = start_simulator(config)
    root = workdir / strategy.name.split(" (")[0].replace(" ", "_").replace("+", "")
    shutil.rmtree(root, ignore_errors=True)
    storage = ArchiveStorage(str(root))
    tally = Tally()
    try:
        now = sim.clock.now()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        sim.advance(seconds=(midnight + RUN_AT - now).total_seconds())
        archived: list[date] = []
        with _client(sim) as client:
            # Day 0 is the warm-up (the first FSync covers the lookback); days 1.. are measured.
            for n in range(days + 1):
                if n:
                    sim.advance(days=1)
                today = sim.clock.now().date()
                yesterday = today - timedelta(days=1)
                listed = [yesterday - timedelta(days=k) for k in range(strategy.lookback_days, -1, -1)]
                before_log = len(sim.request_log.snapshot())
                before_recordings = _verified(storage, archived + listed)
                for day in listed:
                    _list_day(client, storage, day)
                    _build_day(client, storage, day)
                archived = sorted(set(archived) | set(listed))
                changed = 0
                if strategy.sync:
                    result = capture_call_changes(
                        client,
                        storage,
                        timezone=TZ,
                        lookback_days=strategy.lookback_days,
                        now=sim.clock.now(),
                    )
                    changed = result.records
                    listed_only = _verified(storage, archived)
                    # What the sensor requests: listed days whose tables lack their newest capture.
                    for day in sorted(days_behind_captures(storage, archived[0], yesterday)):
                        _build_day(client, storage, day)
                    if n:
                        tally.late_recordings += len(_verified(storage, archived) - listed_only)
                sent, _ = _heavy_by_kind(sim, before_log)
                if not n:
                    continue
                new_recordings = len(_verified(storage, archived) - before_recordings)
                window = day_window(yesterday, TZ)
                tally.days += 1
                tally.changed_records += changed
                tally.sent.update(sent)
                tally.sent["export_steps"] += EXPORT_REQUESTS_PER_TASK * len(listed)
                tally.minimum["call_log_pages"] += call_log_pages(
                    len(sim.account.call_records(window.start, window.end))
                )
                tally.minimum["change_pages"] += math.ceil(changed / 1000)
                tally.minimum["recordings"] += new_recordings
                tally.minimum["export_steps"] += EXPORT_REQUESTS_PER_TASK
        # RingCentral's final word on every archived day but the newest (still settling, like ours).
        sim.advance(days=1)
        tally.differing_days = [d.isoformat() for d in archived[:-1] if _differs(sim, storage, d)]
    finally:
        sim.stop()
    return tally


def run(workdir: Path, *, days: int, calls_per_day: float, log: Callable[[str], None]) -> list[Result]:
    started = time.monotonic()
    tallies = {
        s: run_strategy(s, workdir, days=days, calls_per_day=calls_per_day, log=log) for s in STRATEGIES
    }
    # The least a day needs is the same whatever runs it (same seed, same days): a way of running that
    # never asks for changes still owes the pages of the records that changed.
    measured = tallies[STRATEGIES[1]].minimum["change_pages"]
    for strategy, tally in tallies.items():
        if not strategy.sync:
            tally.minimum["change_pages"] = measured
    for strategy, tally in tallies.items():
        log(
            f"   {strategy.name}: {tally.heavy_sent() / max(1, tally.days):.1f} Heavy/day sent, "
            f"{tally.heavy_minimum() / max(1, tally.days):.1f} minimum, {dict(tally.sent)}; "
            f"days differing from RingCentral: {tally.differing_days or 'none'}"
        )
    rows = []
    for strategy, tally in tallies.items():
        ratio = round(tally.heavy_sent() / max(1, tally.heavy_minimum()), 3)
        per_day = round(tally.heavy_sent() / max(1, tally.days), 1)
        rows.append(Result(SCENARIO, f"{strategy.name}: Heavy requests/day (steady state)", per_day))
        is_default = strategy.sync and strategy.lookback_days == 1
        rows.append(
            Result(
                SCENARIO,
                f"{strategy.name}: sent / minimum",
                ratio,
                f"<= {TARGET}" if is_default else None,
                ratio <= TARGET if is_default else None,
            )
        )
        if strategy.sync:
            rows.append(
                Result(
                    SCENARIO,
                    f"{strategy.name}: days differing from RingCentral's final listing",
                    len(tally.differing_days),
                    "0",
                    not tally.differing_days,
                )
            )
    sync = tallies[STRATEGIES[1]]
    rows.append(
        Result(
            SCENARIO,
            "sync + lookback 0: late recordings found by extract-sync alone",
            tallies[STRATEGIES[2]].late_recordings,
        )
    )
    rows.append(
        Result(
            SCENARIO,
            "changed records captured per day (extract-sync)",
            round(sync.changed_records / max(1, sync.days), 1),
        )
    )
    rows.append(
        Result(SCENARIO, "minimum Heavy requests/day", round(sync.heavy_minimum() / max(1, sync.days), 1))
    )
    log(f"   ({time.monotonic() - started:.0f} s)")
    return rows

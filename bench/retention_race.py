"""Scenario 8: the retention race. An account whose recordings exceed the budget, run for N simulated days.

The simulator keeps recordings ``retention`` days (shortened from 90 so the race is short) and has
that many days of history minus one when the run starts: a backfill of every day RingCentral still
holds, with new days arriving every day. Each simulated day the archive lists yesterday's call log
(the first day: the whole history) and spends a budget of recordings, deadline first, with the
pipeline's own functions (`archive_recordings(budget=...)`: the recordings asset's code); then the
simulator's clock moves one day on and RingCentral deletes what has passed its deadline.

Before the first day the forecast (`rc_pipeline.forecast`) predicts the loss from what the plan
measures (`measure_volume`: recordings per day from sample days), the budget and the deadline. At the
end the scenario reports the recordings actually lost (never archived, past their deadline), the
forecast's error, and the avoidable loss: actual loss minus the least loss any order could have had
with the same per-day budgets and each recording's own deadline (a maximum flow from recordings to
run days, computed independently of the order the pipeline used).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.common import Result, simulator_settings
from rc_pipeline.calls.recordings import archive_recordings
from rc_pipeline.calls.tables import write_calls_and_legs
from rc_pipeline.days import day_window
from rc_pipeline.forecast import NEWEST_FIRST, simulate_loss
from rc_pipeline.plan import measure_volume
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.simulator import SimulatorConfig, start_simulator
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.recordings import has_deadline, recordings_referenced

SCENARIO = "8 retention race"
FAST = (100_000, 1.0)  # no throttling: the budget, not the rate limit, is what this scenario holds


@dataclass(frozen=True)
class RaceSizes:
    days: int  # simulated days run
    retention: int  # days RingCentral keeps a recording
    calls_per_day: int
    budget_share: float  # budget per day / recordings per day (as the plan measures it)
    extensions: int = 10


def _list_day(client: RingCentralClient, storage: ArchiveStorage, day: date) -> None:
    """The call side of one day, as the call assets do it: raw pages as received, then typed tables."""
    window = day_window(day, "UTC")
    pages = client.iter_call_log_pages(window.start, window.end, view="Detailed")
    storage.write_raw_call_log(day, (page.raw for page in pages), window.start, window.end)
    write_calls_and_legs(storage.read_raw_call_log_pages(day), day, storage)


def _automatic_recordings_of(storage: ArchiveStorage, day: date) -> dict[str, datetime]:
    """The day's automatic recordings (the ones a deadline deletes), with their call's start."""
    calls = storage.read_parquet(Dataset.CALLS, day)
    starts = {r["id"]: r["start_time"] for r in calls.select(["id", "start_time"]).to_pylist()}
    refs = recordings_referenced(calls, storage.read_parquet(Dataset.CALL_LEGS, day))
    return {ref.recording_id: starts[ref.call_id] for ref in refs if has_deadline(ref)}


def max_savable(items: Counter[tuple[int, int]], budgets: list[int]) -> int:
    """Most recordings any order saves: ``items`` counts recordings by (first run, last run) they can be
    downloaded in, ``budgets`` is each run's budget. Maximum flow source -> item group -> run -> sink
    (Edmonds-Karp; groups and runs are few)."""
    groups = [g for g, n in items.items() if n > 0 and g[0] <= g[1]]
    runs = len(budgets)
    source, sink = 0, 1 + len(groups) + runs
    cap: dict[int, dict[int, int]] = {v: {} for v in range(sink + 1)}

    def edge(a: int, b: int, c: int) -> None:
        cap[a][b] = cap[a].get(b, 0) + c
        cap[b].setdefault(a, 0)

    for i, g in enumerate(groups):
        edge(source, 1 + i, items[g])
        for t in range(max(0, g[0]), min(runs - 1, g[1]) + 1):
            edge(1 + i, 1 + len(groups) + t, items[g])
    for t, b in enumerate(budgets):
        edge(1 + len(groups) + t, sink, b)
    flow = 0
    while True:
        parent = {source: source}
        queue = deque([source])
        while queue and sink not in parent:
            v = queue.popleft()
            for w, c in cap[v].items():
                if c > 0 and w not in parent:
                    parent[w] = v
                    queue.append(w)
        if sink not in parent:
            return flow
        push, w = None, sink
        while w != source:
            v = parent[w]
            push = cap[v][w] if push is None else min(push, cap[v][w])
            w = v
        w = sink
        while w != source:
            v = parent[w]
            cap[v][w] -= push
            cap[w][v] += push
            w = v
        flow += push


def run(workdir: Path, sizes: RaceSizes, *, log=print) -> list[Result]:
    started = time.monotonic()
    d = sizes.retention
    config = SimulatorConfig(
        seed=17,
        days=d - 1,
        extensions=sizes.extensions,
        calls_per_day=sizes.calls_per_day,
        messages_per_day=0,
        recording_share=1.0,
        recording_retention_days=d,
        rate_limits={g: FAST for g in ("Heavy", "Medium", "Light", "Auth")},
    )
    root = workdir / "retention-race"
    storage = ArchiveStorage(str(root))
    with start_simulator(config) as sim:
        with RingCentralClient(simulator_settings(sim), throttle_dir=None) as client:
            first_run = sim.clock.now().date()
            history = [first_run - timedelta(days=n) for n in range(d - 1, 0, -1)]
            # What `rc-pipeline plan` measures: recordings per day from sample days of the range.
            # Every history day sampled (`rc-pipeline plan --sample-days`): the forecast is only as
            # good as the volume it is given.
            volume, _ = measure_volume(
                client, history[0], history[-1], sample_count=len(history), max_pages_per_day=20
            )
            # Only automatic recordings have a deadline (on-demand ones go after them).
            per_day = round(volume.automatic_recordings_per_day or 0)
            budget = max(1, round(per_day * sizes.budget_share))
            last_run = first_run + timedelta(days=sizes.days - 1)
            arrivals = {day: per_day for day in history}
            arrivals.update({first_run + timedelta(days=n): per_day for n in range(sizes.days - 1)})
            kw = dict(first_run=first_run, budget_per_day=budget, deadline_days=d, last_run=last_run)
            forecast = simulate_loss(arrivals, **kw)
            newest = simulate_loss(arrivals, order=NEWEST_FIRST, **kw)
            log(
                f"  plan: {per_day} recordings/day, budget {budget}/day, deadline {d} days; forecast "
                f"{forecast.lost} lost in {sizes.days} days (newest first: {newest.lost})"
            )
            listed: list[date] = []
            open_days: set[date] = set()
            run_times: list[datetime] = []
            spent: list[int] = []
            wasted = 0  # budget spent on a recording RingCentral had deleted already (404)
            for n in range(sizes.days):
                today = sim.clock.now().date()
                for day in history if n == 0 else [today - timedelta(days=1)]:
                    _list_day(client, storage, day)
                    listed.append(day)
                    open_days.add(day)
                # The run's instant for deadlines (here and in the optimum): when its downloads start.
                now = sim.clock.now()
                run_times.append(now)
                left = budget
                # Deadline first over every open day: the automatic recordings, oldest call day first;
                # then, with what is left, the on-demand ones (no deadline).
                for with_deadline in (True, False):
                    for day in sorted(open_days):
                        if left <= 0:
                            break
                        result = archive_recordings(
                            client,
                            storage,
                            day,
                            lambda _: None,
                            budget=left,
                            now=now,
                            only_with_deadline=with_deadline,
                            # The simulator's shortened retention (RingCentral's would be 90 days).
                            deadline_days=d,
                        )
                        left -= len(result.fetched)
                        wasted += sum(1 for r in result.fetched if r["status"] == "missing")
                        if not result.deferred and not result.failed:
                            open_days.discard(day)
                spent.append(budget - left)
                sim.advance(days=1)
    # Lost: automatic recordings never archived, of the call days whose whole day passed its deadline
    # by the last run day.
    decided = [day for day in listed if day + timedelta(days=d) <= last_run]
    lost = 0
    items: Counter[tuple[int, int]] = Counter()
    for day in decided:
        status = {
            r["recording_id"]: r["status"] for r in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
        }
        for recording_id, start in _automatic_recordings_of(storage, day).items():
            lost += status.get(recording_id) != "verified"
            # The runs it could be fetched in: from the first run after its day was listed, while
            # RingCentral still held it (run time before call start + deadline).
            release = max(0, (day - first_run).days + 1)
            deadline = start + timedelta(days=d)
            last = max((t for t, at in enumerate(run_times) if at < deadline), default=-1)
            items[release, last] += 1
    total = sum(items.values())
    # The same forecast given each day's true count instead of the plan's average: the model's own error.
    true_arrivals = {day: len(_automatic_recordings_of(storage, day)) for day in listed}
    exact = simulate_loss(true_arrivals, **kw)
    model_error = abs(exact.lost - lost) / lost if lost else float(exact.lost != 0)
    least_loss = total - max_savable(items, [budget] * sizes.days)
    error = abs(forecast.lost - lost) / lost if lost else float(forecast.lost != 0)
    seconds = time.monotonic() - started
    log(
        f"  actual: {lost} of {total} recordings lost (least possible {least_loss}); forecast {forecast.lost} "
        f"(error {error:.1%}; {exact.lost} from the true volumes); budget spent {sum(spent)} of {budget * sizes.days}; {seconds:.0f} s"
    )
    return [
        Result(SCENARIO, "simulated days / recording deadline days", f"{sizes.days} / {d}"),
        Result(SCENARIO, "recordings/day (plan) / budget per day", f"{per_day} / {budget}"),
        Result(SCENARIO, "recordings lost (actual, decided days)", lost),
        Result(SCENARIO, "recordings lost (forecast)", forecast.lost),
        Result(SCENARIO, "forecast error vs actual loss", round(error, 4), "<= 0.05", error <= 0.05),
        Result(
            SCENARIO,
            "avoidable loss (actual - least possible with these budgets)",
            lost - least_loss,
            "0",
            lost - least_loss <= 0,
        ),
        Result(SCENARIO, "forecast error given the true daily volumes (model alone)", round(model_error, 4)),
        Result(SCENARIO, "budget spent on recordings already deleted (404)", wasted),
        Result(SCENARIO, "recordings lost newest first (forecast)", newest.lost),
        Result(SCENARIO, "scenario wall s", round(seconds, 1)),
    ]

"""Scenario 6: `rc-pipeline plan` against an account too busy for the standard plan.

The simulator runs with RingCentral's standard limits, unscaled (Heavy 10 / 60 s), and about 40,000
recordings a day. The plan command runs as a user would (child process, RC_* settings, --json); it
must say that daily archiving cannot keep up, and its volume estimate is compared with the ground
truth. Its own cost in requests is reported too (it must stay cheap on a real plan).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from bench.common import Result, bench_env, run_child, simulator_environ
from rc_pipeline.simulator import SimulatorConfig, start_simulator
from rc_pipeline.simulator.calllog import KEPT


def run(*, calls_per_day: int, days: int, log=print) -> list[Result]:
    scenario = "6 capacity planning"
    config = SimulatorConfig(seed=9, days=days + 1, calls_per_day=calls_per_day, recording_share=1.0)
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    with start_simulator(config) as sim:
        truth = 0
        for n in range(days):
            sk = sim.account.calls.skeleton((first + timedelta(days=n)).toordinal())
            # Recordings hang off calls and off their legs (transfers, forwards) with their own ids.
            truth += sum(1 for r in sk.recording if r in KEPT)
            truth += sum(1 for r in getattr(sk, "leg_recording", ()) if r in KEPT)
        truth_per_day = truth / days
        env = bench_env()
        env.update(simulator_environ(sim), RC_TIMEZONE="UTC")
        started = time.monotonic()
        child = run_child(
            [
                "-m",
                "rc_pipeline.cli",
                "plan",
                "--start",
                first.isoformat(),
                "--end",
                last.isoformat(),
                "--json",
            ],
            timeout=300,
            env=env,
        )
        seconds = time.monotonic() - started
        if child.returncode != 0:
            raise RuntimeError(f"rc-pipeline plan failed:\n{child.stderr[-3000:]}")
        plan = json.loads(child.stdout)
    heavy = next(g for g in plan["daily"] if g["group"] == "Heavy")
    heavy_minutes = heavy["min_seconds"] / 60
    est = plan["volume"]["recordings_per_day"]
    error = abs(est - truth_per_day) / truth_per_day
    used = plan["volume"]["requests_used"]
    log(
        f"  plan: {est:,.0f} recordings/day estimated (truth {truth_per_day:,.0f}), "
        f"{heavy_minutes:,.0f} Heavy min/day, keeps_up={plan['keeps_up']}, used {used}, {seconds:.1f} s"
    )
    return [
        Result(scenario, "recordings/day (truth)", round(truth_per_day)),
        Result(
            scenario, "recordings/day estimated by plan, error", round(error, 4), "<= 0.05", error <= 0.05
        ),
        Result(scenario, "Heavy minutes/day needed (standard plan)", round(heavy_minutes)),
        Result(
            scenario,
            "verdict: daily archiving keeps up",
            "no" if not plan["keeps_up"] else "yes",
            "no (cannot keep up)",
            not plan["keeps_up"],
        ),
        Result(
            scenario,
            "Heavy requests the plan itself sent",
            used.get("Heavy", 0),
            "<= 9",
            used.get("Heavy", 0) <= 9,
        ),
        Result(scenario, "plan command wall s (standard limits)", round(seconds, 1)),
    ]

"""A child process that archives days with the project's Dagster jobs (`python -m bench.archive_worker SPEC`).

It imports and builds everything first, prints READY, waits for GO on stdin (so import time is not
counted and several workers start together), then either runs `run_archive` over the whole range
(scenario 1, what `rc-pipeline archive` does) or claims days one by one from a shared claims directory
and runs the daily job for each (scenario 2: a backfill with several runs at once). It ends with one
JSON line. A watchdog ends the process at the deadline whatever happens.

Optional spec keys: "instance": "home" runs on the instance of $DAGSTER_HOME (default: an ephemeral
one); "throttle_dir" and "throttle_url" set where the rate-limit budget is shared (as RC_THROTTLE_DIR
and RC_THROTTLE_URL would), e.g. a folder of its own per worker as if each ran on its own machine.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import date
from pathlib import Path


def _watchdog(seconds: float) -> None:
    """End this process at the deadline, or as soon as the benchmark that started it is gone."""
    parent = os.getppid()

    def fire() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if os.getppid() != parent:
                os._exit(4)
            time.sleep(0.5)
        print(json.dumps({"error": f"worker deadline of {seconds:.0f} s reached"}), flush=True)
        os._exit(3)

    threading.Thread(target=fire, daemon=True).start()


def main(spec: dict) -> dict:
    _watchdog(spec["deadline_seconds"])
    import dagster as dg

    from rc_pipeline.backfill import run_archive
    from rc_pipeline.definitions import build_definitions
    from rc_pipeline.defs.names import ARCHIVE_JOB, EXTENSIONS, SNAPSHOT_JOB
    from rc_pipeline.defs.resources import (
        ArchiveResource,
        RingCentralResource,
        close_shared_clients,
        shared_clients,
    )
    from rc_pipeline.settings import PipelineSettings

    resource = RingCentralResource(
        server_url=spec["server_url"],
        media_url=spec["media_url"],
        client_id=spec["client_id"],
        client_secret=spec["client_secret"],
        jwt=spec["jwt"],
        **{key: spec[key] for key in ("throttle_dir", "throttle_url") if spec.get(key) is not None},
    )
    config = PipelineSettings(timezone="UTC", start_date=spec["days"][0], schedule_hour=2, lookback_days=2)
    defs = build_definitions(
        config, resources={"ringcentral": resource, "archive": ArchiveResource(root=spec["root"])}
    )
    instance = dg.DagsterInstance.get() if spec.get("instance") == "home" else dg.DagsterInstance.ephemeral()
    run_config = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return {"error": "no GO"}
    started = time.monotonic()
    failures: list[str] = []
    done: list[str] = []
    if spec["mode"] == "sequential":
        days = [date.fromisoformat(d) for d in spec["days"]]
        for summary in run_archive(
            defs, days[0], days[-1], instance=instance, show_progress=False, log_level="ERROR"
        ):
            done.append(summary.day)
            failures += [f"{summary.day}: {f}" for f in summary.failures]
    else:
        archive_job = defs.resolve_job_def(ARCHIVE_JOB)
        if spec.get("snapshot"):
            snap = defs.resolve_job_def(SNAPSHOT_JOB).execute_in_process(
                instance=instance, asset_selection=[EXTENSIONS], run_config=run_config, raise_on_error=False
            )
            if not snap.success:
                failures.append("extensions snapshot failed")
        claims = Path(spec["claims_dir"])
        for day in spec["days"]:
            try:
                os.close(os.open(claims / day, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue  # another run has this day
            result = archive_job.execute_in_process(
                partition_key=day, instance=instance, raise_on_error=False, run_config=run_config
            )
            done.append(day)
            if not result.success:
                failures.append(f"{day}: run failed")
            failures += [
                f"{day}: check {e.check_name} failed"
                for e in result.get_asset_check_evaluations()
                if not e.passed
            ]
    seconds = time.monotonic() - started
    # The clients the runs used (one per account and budget: the runs' resource may have taken the
    # instance's database for its budget, which this process's copy of the resource does not know).
    stats = [client.stats() for client in shared_clients()] or [resource.get_client().stats()]
    close_shared_clients()
    instance.dispose()
    requests: dict[str, int] = {}
    for s in stats:
        for group, n in s.requests.items():
            requests[group] = requests.get(group, 0) + n
    return {
        "seconds": seconds,
        "days": done,
        "failures": failures,
        "client_requests": requests,
        "client_429": sum(s.throttled_429 for s in stats),
        "client_throttle_wait_s": sum(s.throttle_wait_seconds for s in stats),
        "client_penalty_s": sum(s.penalty_seconds for s in stats),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text()))), flush=True)

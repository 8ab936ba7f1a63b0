"""`deferred_recordings_sensor`: the recordings a run's budget (`RC_RECORDING_BUDGET`) left for later
are fetched by later runs, nearest deadline first across days.

A run of one day stops at its budget and lists the rest with their deadlines
(``state/recordings_deferred/date=D.json``). Without this sensor those days would wait for the next
time a schedule happened to run them again; with it, every day with deferred recordings gets a run of
the `recordings` asset (no call-log request: the day's tables are read from the archive), the day
holding the nearest deadline with the highest `dagster/priority`, so the shared `ringcentral_api` pool
serves the recordings RingCentral deletes first. The run key names the deferred list, so one list is
requested once; a run that defers again writes a new list and is requested again.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from rc_pipeline.calls.recordings import earliest_deadline

from ..names import CALL_DAY_TAG, DEFERRED_RECORDINGS_SENSOR
from ..resources import ArchiveResource

# Often enough to keep a budget-bound backlog moving; each tick only reads small state files.
TICK_SECONDS = 900
# Above the lookback days' priority, below yesterday's (rc_pipeline.defs.lookback): yesterday's
# capture still finishes first; the nearest deadline comes next.
HIGHEST_PRIORITY = 9


def build_deferred_recordings_sensor(job: dg.JobDefinition | object) -> dg.SensorDefinition:
    @dg.sensor(
        name=DEFERRED_RECORDINGS_SENSOR,
        job=job,
        minimum_interval_seconds=TICK_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests a recordings run for every day whose last run left recordings deferred by "
            "RC_RECORDING_BUDGET, the nearest RingCentral deadline with the highest priority."
        ),
    )
    def deferred_recordings_sensor(
        context: dg.SensorEvaluationContext, archive: ArchiveResource
    ) -> dg.SensorResult:
        storage = archive.storage()
        waiting = []
        for day in storage.deferred_recording_days():
            deferred = storage.read_deferred_recordings(day)
            if deferred:
                ids = sorted(str(d.get("recording_id")) for d in deferred)
                digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
                waiting.append((earliest_deadline(deferred) or "", day, len(deferred), digest))
        if not waiting:
            return dg.SensorResult(skip_reason="no recording is deferred")
        waiting.sort()
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"deferred:{day.isoformat()}:{digest}",
                    partition_key=day.isoformat(),
                    tags={
                        "dagster/priority": str(max(1, HIGHEST_PRIORITY - rank)),
                        "rc_pipeline/deferred_recordings": str(count),
                        "rc_pipeline/earliest_deadline": deadline,
                        CALL_DAY_TAG: day.isoformat(),
                    },
                )
                for rank, (deadline, day, count, digest) in enumerate(waiting)
            ]
        )

    return deferred_recordings_sensor

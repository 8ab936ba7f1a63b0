"""`message_store_export_sensor`: follows export tasks and asks for a download run when one completes.

A tick only makes status calls and (re)submissions through `advance_exports`, the same function
`rc-pipeline archive` uses; downloads happen in the requested runs. The cursor (JSON) remembers
which run keys were already requested so a task is handed over exactly once; run keys are task ids,
so Dagster would drop a repeat even if the cursor were lost.
"""

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from .export_state import GAVE_UP
from .export_tasks import advance_exports
from .message_config import MessageStoreConfig
from .names import MESSAGE_EXPORT_SENSOR
from .resources import ArchiveResource, RingCentralResource


def read_cursor(cursor: str | None) -> set[str]:
    """Run keys already requested, from the sensor's JSON cursor (empty for a fresh sensor)."""
    if not cursor:
        return set()
    try:
        value = json.loads(cursor)
    except ValueError:
        return set()  # an unreadable cursor costs at most a duplicate request, which run_key drops
    return set(value.get("requested") or []) if isinstance(value, dict) else set()


def build_export_sensor(
    download_job: dg.JobDefinition | Any, settings: MessageStoreConfig
) -> dg.SensorDefinition:
    @dg.sensor(
        name=MESSAGE_EXPORT_SENSOR,
        job=download_job,
        minimum_interval_seconds=max(1, int(settings.poll_seconds)),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Polls running message-store export tasks (status calls only), submits queued ones while "
            f"fewer than {settings.max_running_exports} run, retries failed ones with backoff up to "
            f"{settings.max_attempts} attempts, and requests the download run of each completed task "
            "(run_key = task id). A partition that gives up gets a run that fails naming its task."
        ),
    )
    def message_store_export_sensor(
        context: dg.SensorEvaluationContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.SensorResult | dg.SkipReason:
        requested = read_cursor(context.cursor)
        report = advance_exports(ringcentral.get_client(), archive.storage(), settings, datetime.now(UTC))
        run_requests = []
        for entry in report.final:
            if entry.run_key in requested:
                continue
            run_requests.append(
                dg.RunRequest(
                    run_key=entry.run_key,
                    partition_key=entry.partition,
                    tags={
                        "rc_pipeline/export_task": entry.task_id or "",
                        "rc_pipeline/export_state": entry.state,
                    },
                )
            )
            if entry.state == GAVE_UP:
                context.log.error(entry.error or entry.describe())
        # Keep only keys that still name a partition's current task, so the cursor stays small.
        current = {e.run_key for e in report.final}
        cursor = json.dumps(
            {"requested": sorted((requested | {r.run_key for r in run_requests}) & current)},
            sort_keys=True,
        )
        context.log.info(report.summary())
        if not run_requests:
            return dg.SensorResult(skip_reason=f"no export finished: {report.summary()}", cursor=cursor)
        return dg.SensorResult(run_requests=run_requests, cursor=cursor)

    return message_store_export_sensor

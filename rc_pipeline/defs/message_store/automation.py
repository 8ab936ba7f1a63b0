"""Message-store automation: the daily schedule, and `message_store_export_sensor`, which follows
export tasks and asks for a download run when one completes.

A tick only makes status calls and (re)submissions through `advance_exports`, the same function
`rc-pipeline archive` uses; downloads happen in the requested runs. A task the archive already holds
committed is never requested, whatever the cursor says. The cursor (JSON) remembers which run keys
were already requested so a task is handed over exactly once; run keys are task ids, so Dagster would
drop a repeat even if the cursor were lost.
"""

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.days import day_window
from rc_pipeline.message_store.coverage import capture_vouches_for
from rc_pipeline.message_store.export_state import COMPLETED, GAVE_UP, ExportEntry
from rc_pipeline.message_store.export_tasks import advance_exports
from rc_pipeline.settings import MessageStoreSettings, PipelineSettings
from rc_pipeline.storage import ArchiveStorage, Dataset

from ..lookback import lookback_run_request, partitions_to_archive
from ..names import DAILY_MESSAGE_SCHEDULE, MESSAGE_DAY_TAG, MESSAGE_EXPORT_SENSOR
from ..resources import ArchiveResource, RingCentralResource

# Dagster re-launches a failed download run this many times by itself (needs run retries enabled
# in the instance's dagster.yaml); the sensor re-requests beyond that, see `_retry_request`.
RUN_MAX_RETRIES = "2"
_RETRY_SEPARATOR = "~retry-"
_FAILED_RUN_STATUSES = frozenset({dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED})


def read_cursor(cursor: str | None, name: str = "requested") -> set[str]:
    """A set from the sensor's JSON cursor: run keys already ``requested``, or task run keys known
    committed (``done``, never checked again). Empty for a fresh sensor."""
    if not cursor:
        return set()
    try:
        value = json.loads(cursor)
    except ValueError:
        return set()  # an unreadable cursor costs at most a duplicate request, which run_key drops
    return set(value.get(name) or []) if isinstance(value, dict) else set()


def base_run_key(run_key: str) -> str:
    """The task's run key without a re-request suffix."""
    return run_key.split(_RETRY_SEPARATOR, 1)[0]


def task_committed(storage: ArchiveStorage, entry: ExportEntry) -> bool:
    """Whether the entry's task was downloaded and committed, and its day too.

    A task's own marker is written before the day's commit marker: a download killed between the two
    leaves a task marker on a day that still reads as not archived, and its task must be requested
    again (the download then finds its zips in place and writes the day's marker)."""
    if entry.task_id is None:
        return False
    day_committed = storage.exists(storage.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, entry.day))
    if day_committed and storage.exists(storage.export_task_manifest_path(entry.day, entry.task_id)):
        return True
    try:
        return storage.read_export_manifest(entry.day).task_id == entry.task_id
    except FileNotFoundError:
        return False


def _retry_request(
    instance: dg.DagsterInstance, requested: set[str], entry: ExportEntry, max_requests: int
) -> str | None:
    """A new run key for a completed task whose latest download run failed, else None.

    Dagster's own run retries (`dagster/max_retries`) need the instance to enable them, and end
    after their count: without this a failed download would never run again and the day would stay
    unarchived until RingCentral deletes its messages.
    """
    keys = [k for k in requested if base_run_key(k) == entry.run_key]
    if not keys:
        return None
    tries = max(int(k.rpartition(_RETRY_SEPARATOR)[2]) if _RETRY_SEPARATOR in k else 0 for k in keys)
    latest = entry.run_key if tries == 0 else f"{entry.run_key}{_RETRY_SEPARATOR}{tries}"
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": latest}), limit=1)
    if not runs or runs[0].status not in _FAILED_RUN_STATUSES or tries >= max_requests:
        return None  # not launched yet, still running (or being retried), or out of re-requests
    return f"{entry.run_key}{_RETRY_SEPARATOR}{tries + 1}"


def build_export_sensor(
    download_job: dg.JobDefinition | Any, settings: MessageStoreSettings
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
            "(run_key = task id). A partition that gives up gets a run that fails naming its task. "
            "A completed task whose download run failed is requested again (new run key)."
        ),
    )
    def message_store_export_sensor(
        context: dg.SensorEvaluationContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.SensorResult | dg.SkipReason:
        requested = read_cursor(context.cursor)
        done = read_cursor(context.cursor, "done")
        storage = archive.storage()
        report = advance_exports(ringcentral.get_client(), storage, settings, datetime.now(UTC))
        run_requests = []
        for entry in report.final:
            run_key: str | None = entry.run_key
            if entry.state == COMPLETED and entry.run_key not in done and task_committed(storage, entry):
                # The archive, not the cursor, decides: a fresh cursor (a new Dagster home, a new
                # deployment) must never download a committed task again, which RingCentral may no
                # longer even know (404 CMN-102 once its archives expire).
                done.add(entry.run_key)
            if entry.run_key in done:
                continue
            if entry.run_key in requested:
                run_key = None
                if entry.state == COMPLETED:
                    run_key = _retry_request(context.instance, requested, entry, settings.max_attempts)
                if run_key is None:
                    continue
                context.log.warning(f"download of {entry.describe()} failed: requesting it again ({run_key})")
            run_requests.append(
                dg.RunRequest(
                    run_key=run_key,
                    partition_key=entry.partition,
                    tags={
                        "rc_pipeline/export_task": entry.task_id or "",
                        "rc_pipeline/export_state": entry.state,
                        "dagster/max_retries": RUN_MAX_RETRIES,
                        MESSAGE_DAY_TAG: entry.partition,
                    },
                )
            )
            if entry.state == GAVE_UP:
                context.log.error(entry.error or entry.describe())
        # Keep only keys that still name a partition's current task, so the cursor stays small.
        current = {e.run_key for e in report.final}
        cursor = json.dumps(
            {
                "requested": sorted(
                    k
                    for k in requested | {str(r.run_key) for r in run_requests}
                    if base_run_key(k) in current
                ),
                "done": sorted(done & current),
            },
            sort_keys=True,
        )
        context.log.info(report.summary())
        if not run_requests:
            return dg.SensorResult(skip_reason=f"no export finished: {report.summary()}", cursor=cursor)
        return dg.SensorResult(run_requests=run_requests, cursor=cursor)

    return message_store_export_sensor


def build_message_schedule(job: dg.JobDefinition | Any, config: PipelineSettings) -> dg.ScheduleDefinition:
    """Yesterday every day; a lookback day only when the capture cannot vouch for its late changes.

    Quarter past the call archive, so the two do not compete for the API pool at the same minute, and a
    quarter of an hour after the daily capture (`message_capture_sensor`), whose message-sync reports
    what changed on earlier days (their tables are rebuilt from the archive, no export). Re-exporting a
    day is the expensive part (Heavy export steps), so `RC_LOOKBACK_DAYS` is the safety net: a day is
    exported again whenever some mailbox's sync chain does not reach back before the day's last fetch.
    """

    @dg.schedule(
        name=DAILY_MESSAGE_SCHEDULE,
        job=job,
        cron_schedule=f"15 {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            f"At {config.schedule_hour:02d}:15 {config.timezone}: archive the message store of yesterday, and "
            f"of each of the {config.lookback_days} days before it the capture (message-sync) cannot vouch for."
        ),
    )
    def daily_message_archive(
        context: dg.ScheduleEvaluationContext, archive: ArchiveResource
    ) -> list[dg.RunRequest]:
        now = context.scheduled_execution_time
        tick = now.astimezone(ZoneInfo(config.timezone)).date().isoformat()
        keys = partitions_to_archive(now, config)
        storage = archive.storage()
        requests = []
        for key in keys:
            if key != keys[-1]:
                try:
                    covered, why = capture_vouches_for(
                        storage, day_window(date.fromisoformat(key), config.timezone), now
                    )
                except Exception as exc:  # an unreadable state never costs a day its export
                    covered, why = False, f"coverage unreadable: {type(exc).__name__}: {exc}"
                if covered:
                    context.log.info(f"{key} not exported again: {why}")
                    continue
            requests.append(lookback_run_request("messages-", key, keys[-1], tick, MESSAGE_DAY_TAG))
        return requests

    return daily_message_archive

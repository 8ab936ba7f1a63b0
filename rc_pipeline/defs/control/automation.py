"""Control schedules: the daily snapshot of retention settings and holds, and the optional purge."""

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.control.inventory import MESSAGE_KINDS
from rc_pipeline.settings import PipelineSettings

from ..names import CONTROL_SNAPSHOT_SCHEDULE, PURGE_SCHEDULE

# The purge schedule re-plans this many days before its newest one every day, so an item blocked on
# one day (a failing check since repaired, a released hold) is purged within the week after.
PURGE_WINDOW_DAYS = 7


def build_control_schedule(job: dg.JobDefinition | Any, config: PipelineSettings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=CONTROL_SNAPSHOT_SCHEDULE,
        job=job,
        cron_schedule=f"40 {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Snapshot RingCentral's retention settings and list the legal holds, once a day.",
    )


def build_purge_schedule(
    job: dg.JobDefinition | Any, config: PipelineSettings, after_days: int
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=PURGE_SCHEDULE,
        job=job,
        cron_schedule=f"50 {config.schedule_hour} * * *",
        execution_timezone=config.timezone,
        # Present only when RC_PURGE_AFTER_DAYS is set; even then it waits to be switched on in the UI.
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Purge at the source (trash mode, by ids, every check re-run) the messages of "
            f"the {PURGE_WINDOW_DAYS} days ending {after_days} days ago that are archived and verified."
        ),
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = context.scheduled_execution_time.astimezone(ZoneInfo(config.timezone)).date()
        end = today - timedelta(days=after_days)
        start = end - timedelta(days=PURGE_WINDOW_DAYS - 1)
        op_config = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "types": list(MESSAGE_KINDS),
            # Recordings have no trash at RingCentral: an unattended run never deletes them.
            "recordings": False,
            "mode": "trash",
            "execute": True,
            "operator": f"schedule {PURGE_SCHEDULE}",
        }
        return dg.RunRequest(
            run_key=f"purge-{end.isoformat()}",
            run_config={"ops": {"purge_at_source": {"config": op_config}}},
            tags={"rc_pipeline/purge_through": end.isoformat()},
        )

    return _schedule

"""`message_capture_sensor`: captures new and changed messages (message-sync), then asks for runs
rebuilding the message tables of the days it added to, when those days are already archived.

With `RC_CAPTURE_MINUTES` set it captures every that many minutes, so a message its user purges within
the hour is still archived. Without it the sensor captures once a day, at the daily schedule hour (a
quarter of an hour before the message schedule): that daily capture is what lets the schedule skip
re-exporting the lookback days (see `rc_pipeline.message_store.coverage`). Every other tick skips
with its reason. The capture itself is `capture_messages`, Dagster-free; the cursor (JSON) remembers
the last capture, and run keys name the capture, so a repeated request is dropped by Dagster.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.message_store.capture import capture_messages, full_sync_start
from rc_pipeline.message_store.captured import days_behind_message_captures
from rc_pipeline.message_store.export_state import LeaseBusy
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import ArchiveStorage

from ..names import MESSAGE_CAPTURE_SENSOR, MESSAGE_DAY_TAG
from ..resources import ArchiveResource, RingCentralResource

# With capture within minutes off, the sensor only looks whether the daily capture is due.
DAILY_CAPTURE_CHECK_SECONDS = 15 * 60
# A sensor tick times out (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS, 60 s by default): attachment downloads
# stop being started after this long, the rest wait for the next tick (the first full sync of a big
# account takes several ticks to fetch its attachments).
TICK_ATTACHMENT_SECONDS = 30.0


def read_capture_cursor(cursor: str | None) -> dict[str, Any]:
    """The sensor's JSON cursor ({} for a fresh sensor or an unreadable one: at worst one extra capture)."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def daily_capture_due(last_capture: str | None, now: datetime, config: PipelineSettings) -> bool:
    """Whether today's daily capture (at the schedule hour, in the partitions' timezone) is still to run."""
    tz = ZoneInfo(config.timezone)
    local = now.astimezone(tz)
    due_at = datetime.combine(local.date(), time(config.schedule_hour), tz)
    if local < due_at:
        return False
    if not last_capture:
        return True
    return datetime.fromisoformat(last_capture) < due_at


def rebuild_requests(storage: ArchiveStorage, first_day: date) -> list[dg.RunRequest]:
    """A rebuild of every archived day whose tables do not include all its captures yet (from the
    archive, not from this tick's capture: nothing captured is left out of a table for good)."""
    return [
        dg.RunRequest(
            # The capture signature names the request: the same state is requested once.
            run_key=f"capture:{day.isoformat()}:{signature}",
            partition_key=day.isoformat(),
            tags={"rc_pipeline/capture_signature": signature, MESSAGE_DAY_TAG: day.isoformat()},
        )
        for day, signature in sorted(days_behind_message_captures(storage, first_day).items())
    ]


def build_capture_sensor(
    rebuild_job: dg.JobDefinition | Any, config: PipelineSettings
) -> dg.SensorDefinition:
    minutes = config.capture_minutes
    first_day = date.fromisoformat(config.start_date)
    cadence = (
        f"every {minutes} minute(s) (RC_CAPTURE_MINUTES)"
        if minutes
        else f"once a day at {config.schedule_hour:02d}:00 {config.timezone} (RC_CAPTURE_MINUTES is off)"
    )

    @dg.sensor(
        name=MESSAGE_CAPTURE_SENSOR,
        job=rebuild_job,
        minimum_interval_seconds=minutes * 60 if minutes else DAILY_CAPTURE_CHECK_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Captures new and changed messages {cadence}: message-sync per extension (Light; FSync "
            "first and after MSG-333, then ISync), responses kept as received in raw/message_capture, "
            "attachments downloaded at once (Medium). Requests a rebuild of the message tables of every "
            "archived day it added to (run_key = capture + day)."
        ),
    )
    def message_capture_sensor(
        context: dg.SensorEvaluationContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.SensorResult | dg.SkipReason:
        cursor = read_capture_cursor(context.cursor)
        now = datetime.now(UTC)
        last = cursor.get("last_capture")
        storage = archive.storage()
        if not minutes and not daily_capture_due(last, now, config):
            pending = rebuild_requests(storage, first_day)
            if pending:
                return dg.SensorResult(run_requests=pending)
            return dg.SkipReason(
                "capture within minutes is off (set RC_CAPTURE_MINUTES to turn it on); the daily capture "
                f"runs at {config.schedule_hour:02d}:00 {config.timezone}"
                + (f", last one at {last}" if last else "")
            )
        try:
            report = capture_messages(
                ringcentral.get_client(),
                storage,
                timezone=config.timezone,
                full_sync_from=full_sync_start(now, config.timezone, config.lookback_days, first_day),
                progress=context.log.info,
                now=now,
                attachment_seconds=TICK_ATTACHMENT_SECONDS,
                # A capture still running (a tick that outlived its timeout) is not waited for.
                lease_wait_seconds=0.0,
            )
        except LeaseBusy as exc:
            pending = rebuild_requests(storage, first_day)
            if pending:
                return dg.SensorResult(run_requests=pending)
            return dg.SkipReason(f"another capture is still running ({exc})")
        except Exception:
            # Tokens stored before the failure are safe: what they captured is requested below on the
            # next tick, from the archive. The failure itself is shown with its cause.
            pending = rebuild_requests(storage, first_day)
            if pending:
                context.log.exception("capture failed; requesting the rebuilds already due")
                return dg.SensorResult(run_requests=pending)
            raise
        if report.attachments_pending or report.failed_extensions:
            context.log.warning(
                "capture incomplete, retried next time: "
                + "; ".join([*report.failed_extensions[:10], *report.attachments_pending[:10]])
            )
        new_cursor = json.dumps(
            {
                "last_capture": now.isoformat(),
                "stamp": report.stamp,
                "captures": int(cursor.get("captures") or 0) + 1,
            },
            sort_keys=True,
        )
        requests = rebuild_requests(storage, first_day)
        if not requests:
            return dg.SensorResult(
                skip_reason=f"captured, no archived day to rebuild: {report.summary()}", cursor=new_cursor
            )
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)

    return message_capture_sensor

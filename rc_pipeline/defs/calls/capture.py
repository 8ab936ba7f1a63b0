"""`call_log_changes_sensor`: late changes and new calls through call-log-extract-sync, and the rebuild of
only the days they touch (`rebuild_calls_from_changes`: calls, legs and recordings from the raw layer,
no call-log listing).

Interval: once a day by default. A day's pass costs ``ceil(changes / 1000)`` Heavy requests (at least
one), so daily is the cheapest cadence that still replaces re-listing the lookback days; with
`RC_CAPTURE_MINUTES` set the pass runs that often, so a call is archived within minutes even if
RingCentral deletes it later (each pass costs at least one Heavy request: `rc-pipeline plan` shows it).
The sensor ticks every 5 minutes at most and runs a pass only when one is due, or at once when the last
one stopped at its time budget (a backlog bigger than one tick), so a large account still catches up.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.calls.captured import days_behind_captures
from rc_pipeline.calls.changes import capture_call_changes
from rc_pipeline.settings import PipelineSettings

from ..names import CALL_CHANGES_SENSOR, CALL_DAY_TAG
from ..resources import ArchiveResource, RingCentralResource

DAILY_SECONDS = 86_400
# How often the sensor looks whether a pass is due. A tick that finds none costs no request; one that
# finds the last pass unfinished (a backlog larger than a tick's budget) carries on at once.
TICK_SECONDS = 300
# A sensor tick must answer within Dagster's evaluation timeout (60 s by default); the pass stores its
# token after every answer, so a long catch-up simply continues at the next tick.
PASS_BUDGET_SECONDS = 40.0


def changes_interval_seconds(config: PipelineSettings) -> int:
    """Time between passes: RC_CAPTURE_MINUTES, else a day."""
    return config.capture_minutes * 60 if config.capture_minutes else DAILY_SECONDS


def pass_due(cursor: str | None, now: datetime, interval_seconds: int) -> bool:
    """Whether to run a pass now: never ran, the last one stopped at its budget, or the interval passed."""
    try:
        last = json.loads(cursor) if cursor else {}
        started = datetime.fromisoformat(last["last_pass"])
    except (ValueError, KeyError, TypeError):
        return True  # no readable cursor: a pass costs a request or two, never a lost change
    return not last.get("complete", False) or (now - started).total_seconds() >= interval_seconds


def token_digest(token: str | None) -> str:
    """A short, stable name for a sync token (run keys and the cursor never hold the token itself)."""
    return hashlib.sha256((token or "").encode()).hexdigest()[:16]


def build_changes_sensor(job: dg.JobDefinition | Any, config: PipelineSettings) -> dg.SensorDefinition:
    interval = changes_interval_seconds(config)
    every = f"every {config.capture_minutes} min (RC_CAPTURE_MINUTES)" if config.capture_minutes else "daily"

    @dg.sensor(
        name=CALL_CHANGES_SENSOR,
        job=job,
        minimum_interval_seconds=min(interval, TICK_SECONDS),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Runs call-log-extract-sync {every}: keeps every answer as received in "
            "raw/call_log_changes, stores the sync token (FSync again when RingCentral asks for it), and "
            "requests a rebuild of calls, legs and recordings for each listed day whose records changed "
            "(run key: sync token digest + day). Days not listed yet include the captures when listed."
        ),
    )
    def call_log_changes_sensor(
        context: dg.SensorEvaluationContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.SensorResult | dg.SkipReason:
        now = datetime.now(UTC)
        storage = archive.storage()
        yesterday = now.astimezone(ZoneInfo(config.timezone)).date() - timedelta(days=1)
        first_day = date.fromisoformat(config.start_date)
        failure: Exception | None = None
        cursor = context.cursor
        if pass_due(context.cursor, now, interval):
            try:
                result = capture_call_changes(
                    ringcentral.get_client(),
                    storage,
                    timezone=config.timezone,
                    lookback_days=config.lookback_days,
                    now=now,
                    budget_seconds=PASS_BUDGET_SECONDS,
                    log=context.log.info,
                )
            except Exception as exc:  # surfaced below, after the days already captured are requested
                failure = exc
                context.log.error(f"extract-sync pass failed: {type(exc).__name__}: {exc}")
            else:
                digest = token_digest(result.sync_token)
                cursor = json.dumps(
                    {"sync_token_sha256": digest, "last_pass": now.isoformat(), **result.metadata()},
                    sort_keys=True,
                )
                context.log.info(
                    f"{result.records} changed record(s) in {result.answers} answer(s); "
                    f"changed days {sorted(d.isoformat() for d in result.changed_days)}"
                )
        # What to rebuild comes from the archive, not from this tick's pass: a day captured by a pass
        # that failed later, or whose rebuild never ran, is requested until its tables include it.
        behind = days_behind_captures(storage, first_day, yesterday)
        requests = [
            dg.RunRequest(
                # The newest capture names the request: the same state is requested once.
                run_key=f"changes:{day.isoformat()}:{latest}",
                partition_key=day.isoformat(),
                tags={"rc_pipeline/latest_capture": latest, CALL_DAY_TAG: day.isoformat()},
            )
            for day, latest in sorted(behind.items())
        ]
        if failure is not None and not requests:
            raise failure
        if not requests:
            return dg.SensorResult(
                skip_reason=f"no listed day behind its captures; next pass {every}", cursor=cursor
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return call_log_changes_sensor

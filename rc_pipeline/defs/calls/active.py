"""`active_calls_sensor` (opt-in, `RC_ACTIVE_CALLS_SECONDS`): snapshots of the account's active calls.

RingCentral answers active-calls from a cache of calls in progress or ended within about 120 s: the
snapshots sample the phone system, they are not a real-time feed, and the call log stays the record of
every call. One Heavy request per snapshot. Each tick keeps the answer as received; the day's
`active_call_snapshots` table is rebuilt from the day's snapshots at most every 15 minutes (and once
more when the day ends), reported as a materialisation of that (sensor-written) asset.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from rc_pipeline.calls.active import build_active_call_table, snapshot_active_calls
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import Dataset

from ..names import ACTIVE_CALL_SNAPSHOTS, ACTIVE_CALLS_SENSOR, CALL_GROUP
from ..resources import ArchiveResource, RingCentralResource

ACTIVE_CALL_SNAPSHOTS_SPEC = dg.AssetSpec(
    ACTIVE_CALL_SNAPSHOTS,
    group_name=CALL_GROUP,
    kinds={"parquet"},
    description=(
        "One row per call per active-calls snapshot (RC_ACTIVE_CALLS_SECONDS), partitioned by day in "
        "the files; written by `active_calls_sensor`. A sample of a ~120 s cache, not a real-time feed."
    ),
)


# How stale the typed table may get behind the raw snapshots (which are kept at every tick).
TABLE_EVERY = timedelta(minutes=15)


def _cursor(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def build_active_calls_sensor(config: PipelineSettings) -> list[dg.SensorDefinition]:
    """The sensor when RC_ACTIVE_CALLS_SECONDS is set; nothing otherwise."""
    if not config.active_calls_seconds:
        return []
    seconds = config.active_calls_seconds

    @dg.sensor(
        name=ACTIVE_CALLS_SENSOR,
        minimum_interval_seconds=max(1, round(seconds)),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Every {seconds:g} s: one active-calls request (Heavy), kept as received in raw/active_calls, "
            "and the day's active_call_snapshots table rebuilt. RingCentral's answer is a ~120 s cache."
        ),
    )
    def active_calls_sensor(
        context: dg.SensorEvaluationContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.SensorResult:
        storage = archive.storage()
        last = _cursor(context.cursor)
        now = datetime.now(UTC)
        built = last.get("table_built_at")
        # The raw snapshot is kept every tick; the day's table (a rebuild from every snapshot of the
        # day) at most every TABLE_EVERY, so a 10 s interval does not re-read the whole day each time.
        rebuild = not built or (now - datetime.fromisoformat(built)) >= TABLE_EVERY
        day_before = last.get("day")
        snap = snapshot_active_calls(
            ringcentral.get_client(), storage, timezone=config.timezone, now=now, rebuild=rebuild
        )
        if day_before and day_before != snap.day.isoformat():
            # The first snapshot of a new day completes the previous day's table.
            build_active_call_table(storage, date.fromisoformat(day_before))
        context.log.info(f"{snap.calls} active call(s) at {snap.taken_at.isoformat()}")
        cursor = json.dumps(
            {
                "last_snapshot": snap.taken_at.isoformat(),
                "day": snap.day.isoformat(),
                "table_built_at": now.isoformat() if rebuild else built,
            }
        )
        if snap.rows_of_day is None:
            return dg.SensorResult(cursor=cursor)
        return dg.SensorResult(
            asset_events=[
                dg.AssetMaterialization(
                    asset_key=ACTIVE_CALL_SNAPSHOTS,
                    metadata={
                        "day": snap.day.isoformat(),
                        "active_calls": snap.calls,
                        "dagster/row_count": dg.MetadataValue.int(snap.rows_of_day),
                        "path": dg.MetadataValue.path(
                            storage.parquet_path(Dataset.ACTIVE_CALL_SNAPSHOTS, snap.day)
                        ),
                    },
                )
            ],
            cursor=cursor,
        )

    return [active_calls_sensor]

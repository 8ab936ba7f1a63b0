"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

from __future__ import annotations

import dagster as dg

from rc_pipeline.defs.assets_calls import build_call_assets
from rc_pipeline.defs.assets_directory import build_directory_assets
from rc_pipeline.defs.assets_recordings import build_recording_assets
from rc_pipeline.defs.assets_warehouse import build_warehouse_assets
from rc_pipeline.defs.checks import build_checks
from rc_pipeline.defs.config import PipelineConfig
from rc_pipeline.defs.names import CALL_LEGS, CALL_LOG_RAW, CALLS, EXTENSIONS, RECORDINGS, WAREHOUSE
from rc_pipeline.defs.partitions import daily_partitions
from rc_pipeline.defs.resources import archive_from_env, ringcentral_from_env
from rc_pipeline.defs.schedules import build_daily_schedule, build_snapshot_schedule

ARCHIVE_JOB = "archive_calls_daily"
SNAPSHOT_JOB = "directory_and_warehouse"
DAILY_ASSETS = [CALL_LOG_RAW, CALLS, CALL_LEGS, RECORDINGS]


def build_definitions(
    config: PipelineConfig | None = None, resources: dict[str, object] | None = None
) -> dg.Definitions:
    config = config or PipelineConfig.from_env()
    daily = daily_partitions(config)
    assets = [
        *build_directory_assets(config),
        *build_call_assets(daily),
        *build_recording_assets(daily),
        *build_warehouse_assets(),
    ]
    archive_job = dg.define_asset_job(
        ARCHIVE_JOB,
        selection=dg.AssetSelection.assets(*DAILY_ASSETS),
        description="Archive one day of the call side: raw call log, calls, legs, recordings, with their checks.",
    )
    snapshot_job = dg.define_asset_job(
        SNAPSHOT_JOB,
        selection=dg.AssetSelection.assets(EXTENSIONS, WAREHOUSE),
        description="Snapshot the extension directory and rebuild the DuckDB warehouse.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=build_checks(daily),
        jobs=[archive_job, snapshot_job],
        schedules=[build_daily_schedule(archive_job, config), build_snapshot_schedule(snapshot_job, config)],
        sensors=[
            # Rebuild the warehouse after upstream partitions change. Running by default: Dagster's implicit
            # automation sensor starts stopped, and a warehouse that silently stops refreshing misleads.
            dg.AutomationConditionSensorDefinition(
                "warehouse_automation",
                target=dg.AssetSelection.assets(WAREHOUSE),
                default_status=dg.DefaultSensorStatus.RUNNING,
            )
        ],
        resources=resources or {"ringcentral": ringcentral_from_env(), "archive": archive_from_env()},
        # One process per run: steps share one RingCentral client (one login, one throttle), and the
        # work is bound by RingCentral's rate limits, not by local CPU.
        executor=dg.in_process_executor,
    )


defs = build_definitions()

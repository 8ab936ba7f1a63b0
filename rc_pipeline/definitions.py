"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

from __future__ import annotations

import dagster as dg

from rc_pipeline.defs.assets_calls import build_call_assets
from rc_pipeline.defs.assets_directory import build_directory_assets
from rc_pipeline.defs.assets_messages import build_export_task_asset, build_message_assets
from rc_pipeline.defs.assets_recordings import build_recording_assets
from rc_pipeline.defs.assets_warehouse import build_warehouse_assets
from rc_pipeline.defs.checks import build_checks
from rc_pipeline.defs.checks_messages import build_message_checks
from rc_pipeline.defs.config import PipelineConfig
from rc_pipeline.defs.message_config import MessageStoreConfig
from rc_pipeline.defs.names import (
    CALL_LEGS,
    CALL_LOG_RAW,
    CALLS,
    EXTENSIONS,
    MESSAGE_ATTACHMENTS,
    MESSAGE_STORE_ARCHIVE,
    MESSAGE_STORE_EXPORT_TASK,
    MESSAGES,
    RECORDINGS,
    WAREHOUSE,
)
from rc_pipeline.defs.partitions import daily_partitions
from rc_pipeline.defs.resources import archive_from_env, ringcentral_from_env
from rc_pipeline.defs.schedules import build_daily_schedule, build_snapshot_schedule
from rc_pipeline.defs.schedules_messages import build_message_schedule
from rc_pipeline.defs.sensors import build_export_sensor

ARCHIVE_JOB = "archive_calls_daily"
SNAPSHOT_JOB = "directory_and_warehouse"
MESSAGE_JOB = "archive_messages_daily"
MESSAGE_DOWNLOAD_JOB = "download_message_store_export"
VERIFY_JOB = "verify_archive"
DAILY_ASSETS = [CALL_LOG_RAW, CALLS, CALL_LEGS, RECORDINGS]
MESSAGE_STORE_ASSETS = [MESSAGE_STORE_ARCHIVE, MESSAGES, MESSAGE_ATTACHMENTS]


def _warehouse_reads_messages(spec: dg.AssetSpec) -> dg.AssetSpec:
    # The warehouse has views over the message tables too: rebuild it when they change.
    return spec.merge_attributes(deps=[MESSAGES, MESSAGE_ATTACHMENTS]) if spec.key == WAREHOUSE else spec


def build_definitions(
    config: PipelineConfig | None = None,
    resources: dict[str, object] | None = None,
    messages: MessageStoreConfig | None = None,
) -> dg.Definitions:
    config = config or PipelineConfig.from_env()
    messages = messages or MessageStoreConfig.from_env()
    daily = daily_partitions(config)
    export = messages.source == "export"
    assets = [
        *build_directory_assets(config),
        *build_call_assets(daily),
        *build_recording_assets(daily),
        *build_message_assets(daily, messages),
        *[a.map_asset_specs(_warehouse_reads_messages) for a in build_warehouse_assets()],
    ]
    if export:
        assets.append(build_export_task_asset(daily, messages))
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
    message_job = dg.define_asset_job(
        MESSAGE_JOB,
        selection=dg.AssetSelection.assets(
            *([MESSAGE_STORE_EXPORT_TASK] if export else MESSAGE_STORE_ASSETS)
        ),
        description=(
            "Start the day's message-store export (message_store_export_sensor downloads it when done)."
            if export
            else "Archive one day of the message store by listing every extension, with its checks."
        ),
    )
    # Re-run every check without calling RingCentral: what a compliance admin runs before deleting
    # anything at the source, to show each partition is complete and every file intact.
    verify_job = dg.define_asset_job(
        VERIFY_JOB,
        # The export-vs-listing reconciliation asks RingCentral; everything else reads the archive only.
        selection=dg.AssetSelection.checks_for_assets(*DAILY_ASSETS, *MESSAGE_STORE_ASSETS)
        - dg.AssetSelection.checks(dg.AssetCheckKey(MESSAGES, "messages_match_listing")),
        description="Re-verify archived partitions (counts, ids, windows, file sizes and sha256) without calling RingCentral.",
    )
    jobs = [archive_job, snapshot_job, message_job, verify_job]
    sensors: list[dg.SensorDefinition] = [
        # Rebuild the warehouse after upstream partitions change. Running by default: Dagster's implicit
        # automation sensor starts stopped, and a warehouse that silently stops refreshing misleads.
        dg.AutomationConditionSensorDefinition(
            "warehouse_automation",
            target=dg.AssetSelection.assets(WAREHOUSE),
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
    ]
    if export:
        download_job = dg.define_asset_job(
            MESSAGE_DOWNLOAD_JOB,
            selection=dg.AssetSelection.assets(*MESSAGE_STORE_ASSETS),
            description="Download, extract and type one day's completed message-store export, with its checks.",
        )
        jobs.append(download_job)
        sensors.append(build_export_sensor(download_job, messages))
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_checks(daily), *build_message_checks(daily, messages)],
        jobs=jobs,
        schedules=[
            build_daily_schedule(archive_job, config),
            build_snapshot_schedule(snapshot_job, config),
            build_message_schedule(message_job, config),
        ],
        sensors=sensors,
        resources=resources or {"ringcentral": ringcentral_from_env(), "archive": archive_from_env()},
        # One process per run: steps share one RingCentral client (one login, one throttle), and the
        # work is bound by RingCentral's rate limits, not by local CPU.
        executor=dg.in_process_executor,
        # `rc-pipeline archive` reads the message-store settings back from here.
        metadata=messages.to_metadata(),
    )


defs = build_definitions()

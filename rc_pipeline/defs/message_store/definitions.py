"""The message-store domain: export task (or listing), download, typed tables, checks, schedule and
the sensor that follows export tasks. Which path runs is a setting (`RC_MESSAGE_SOURCE`)."""

import dagster as dg

from ..context import DefsContext, message_settings_metadata
from ..names import (
    MESSAGE_ATTACHMENTS,
    MESSAGE_DOWNLOAD_JOB,
    MESSAGE_JOB,
    MESSAGE_REBUILD_JOB,
    MESSAGE_STORE_ASSETS,
    MESSAGE_STORE_EXPORT_TASK,
    MESSAGES,
)
from .assets import build_export_task_asset, build_message_assets
from .automation import build_export_sensor, build_message_schedule
from .capture import build_capture_sensor
from .checks import build_message_checks


def build(ctx: DefsContext) -> dg.Definitions:
    settings = ctx.messages
    assets = build_message_assets(ctx.daily, settings)
    message_job = dg.define_asset_job(
        MESSAGE_JOB,
        selection=dg.AssetSelection.assets(
            *([MESSAGE_STORE_EXPORT_TASK] if ctx.export else MESSAGE_STORE_ASSETS)
        ),
        description=(
            "Start the day's message-store export (message_store_export_sensor downloads it when done)."
            if ctx.export
            else "Archive one day of the message store by listing every extension, with its checks."
        ),
    )
    rebuild_job = dg.define_asset_job(
        MESSAGE_REBUILD_JOB,
        selection=dg.AssetSelection.assets(MESSAGES, MESSAGE_ATTACHMENTS),
        description=(
            "Rebuild one day's messages and message_attachments from what is archived (the day's export or "
            "listing plus everything captured), with their checks; no RingCentral request."
        ),
    )
    jobs = [message_job, rebuild_job]
    sensors = [build_capture_sensor(rebuild_job, ctx.pipeline)]
    if ctx.export:
        assets.append(build_export_task_asset(ctx.daily, settings))
        download_job = dg.define_asset_job(
            MESSAGE_DOWNLOAD_JOB,
            selection=dg.AssetSelection.assets(*MESSAGE_STORE_ASSETS),
            description="Download, extract and type one day's completed message-store export, with its checks.",
        )
        jobs.append(download_job)
        sensors.append(build_export_sensor(download_job, settings))
    return dg.Definitions(
        assets=assets,
        asset_checks=build_message_checks(ctx.daily, ctx.reconciles),
        jobs=jobs,
        schedules=[build_message_schedule(message_job, ctx.pipeline)],
        sensors=sensors,
        # `rc-pipeline archive` reads the message-store settings back from here.
        metadata=message_settings_metadata(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

"""RingCentral's retention settings in Dagster: a daily snapshot asset and the check that RingCentral's
deletion edge has not overtaken what the archive holds verified.

Not partitioned, on purpose: RingCentral can only say what its retention is now, so a backfilled
partition of a past day would file today's settings under that day. Each materialisation stores one
snapshot keyed by the run's date in the pipeline's timezone (like `extensions`); the check compares it
with the snapshot before it. The logic lives in rc_pipeline.control.retention.
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.control.retention import archive_coverage, retention_shortened, snapshot_retention
from rc_pipeline.settings import PipelineSettings

from ..metadata import measure
from ..names import API_POOL, CONTROL_GROUP, RETENTION_NOT_SHORTENED, RETENTION_SETTINGS
from ..resources import ArchiveResource, RingCentralResource


def _metadata_value(value: Any) -> Any:
    return dg.MetadataValue.json(value) if isinstance(value, dict | list) else value


def build_retention_assets(config: PipelineSettings) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RETENTION_SETTINGS,
        pool=API_POOL,
        group_name=CONTROL_GROUP,
        kinds={"ringcentral", "json"},
        description=(
            "RingCentral's retention as read today: the message store's retentionPeriod (fax and "
            "voicemail) and service-info (the HIPAA flag), stored as received, one snapshot per day "
            "(control/retention/). Metadata: the period, HIPAA, what RingCentral keeps and which days "
            "the archive holds per data type (presence; `rc-pipeline retention show` re-verifies)."
        ),
    )
    def retention_settings(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        client = ringcentral.get_client()
        storage = archive.storage()
        day = datetime.now(ZoneInfo(config.timezone)).date()
        with measure(client) as spend:
            settings = snapshot_retention(storage, client, day)
        # Presence only: re-verifying every archived day here would re-hash the whole archive daily.
        coverage = archive_coverage(storage, config.timezone, verify=False)
        context.log.info(
            f"retention period {settings.retention_period} days, HIPAA {'on' if settings.hipaa else 'off'}"
        )
        return dg.MaterializeResult(
            metadata={
                "snapshot_date": day.isoformat(),
                "retention_period_days": dg.MetadataValue.int(settings.retention_period),
                "hipaa": dg.MetadataValue.bool(settings.hipaa),
                "limits_days": dg.MetadataValue.json(settings.limits()),
                "rules": dg.MetadataValue.md(
                    "| data type | RingCentral keeps |\n|---|---|\n"
                    + "\n".join(f"| {r.data_type} | {r.kept} |" for r in settings.rules)
                ),
                "archive_coverage": dg.MetadataValue.json({t: c.summary() for t, c in coverage.items()}),
                "path": dg.MetadataValue.path(storage.retention_snapshot_path(day)),
                **spend.metadata(),
            }
        )

    return [retention_settings]


def build_retention_checks(config: PipelineSettings) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=RETENTION_SETTINGS,
        name=RETENTION_NOT_SHORTENED,
        description=(
            "The days RingCentral drops today and tomorrow (fax at min(period, 30) days, voicemail at the "
            "period, recordings at 90 or 30 on HIPAA), and every day a shortening since the previous "
            "snapshot drops at once, are archived and verified, from the first day the archive holds on. "
            "Fails naming each day that is missing or fails a check. Reads the archive only."
        ),
    )
    def retention_not_shortened(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        passed, details = retention_shortened(archive.storage(), tz=config.timezone)
        return dg.AssetCheckResult(
            passed=passed,
            metadata={k: _metadata_value(v) for k, v in details.items() if v is not None},
        )

    return [retention_not_shortened]

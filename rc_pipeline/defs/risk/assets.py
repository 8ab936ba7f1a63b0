"""The daily `retention_risk` report: the logic lives in rc_pipeline.risk; this only runs and stores it.

Partition D is the risk as of the end of D (what RingCentral drops in the horizon after it), so a
re-run of a partition asks the same question; its answer follows the archive and the source as they
are at that run.
"""

from datetime import date

import dagster as dg

from rc_pipeline.risk.assess import assess_risk
from rc_pipeline.risk.report import report_json, table, unknown_lines, when
from rc_pipeline.settings import PipelineSettings

from ..metadata import measure
from ..names import API_POOL, MESSAGES, RECORDINGS, RETENTION_RISK, RISK_GROUP
from ..partitions import partition_window
from ..resources import ArchiveResource, RingCentralResource


def build_risk_assets(
    daily: dg.DailyPartitionsDefinition, config: PipelineSettings, horizon_days: int
) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=RETENTION_RISK,
        partitions_def=daily,
        # Drawn after what it inspects; it reads many days of the archive, not only its own.
        deps=[RECORDINGS, MESSAGES],
        pool=API_POOL,
        group_name=RISK_GROUP,
        kinds={"ringcentral", "json"},
        description=(
            f"What RingCentral deletes in the {horizon_days} day(s) after the partition's day "
            "(RC_RISK_HORIZON_DAYS), per data type and extension, and how much of it the archive holds "
            "archived and verified (files re-hashed). Light requests only: retention settings and each "
            "mailbox's message store; calls and recordings come from the archive. The report is stored "
            "under reports/retention_risk/."
        ),
    )
    def retention_risk(
        context: dg.AssetExecutionContext, ringcentral: RingCentralResource, archive: ArchiveResource
    ) -> dg.MaterializeResult:
        window = partition_window(context)
        client = ringcentral.get_client()
        storage = archive.storage()
        with measure(client) as spend:
            report = assess_risk(
                storage,
                client,
                now=window.end,
                horizon_days=horizon_days,
                tz=config.timezone,
                start_date=date.fromisoformat(config.start_date),
                progress=context.log.info,
            )
        path = storage.risk_report_path(window.day)
        storage.write_json(path, report_json(report))
        counts = report.counts()
        context.log.info(
            f"{counts['at_risk']} item(s) at risk, {counts['not_archived']} not archived and verified"
        )
        body = table(report)
        unknown = unknown_lines(report)
        if unknown:
            body += "\n\nDays of the at-risk window the archive does not hold:\n" + "\n".join(unknown)
        return dg.MaterializeResult(
            metadata={
                "report": dg.MetadataValue.md(body),
                **{name: dg.MetadataValue.int(value) for name, value in counts.items()},
                "earliest_deadline": when(report.earliest_deadline),
                "earliest_unarchived_deadline": when(report.earliest_unarchived),
                "hipaa": dg.MetadataValue.bool(report.account.hipaa),
                "horizon_days": dg.MetadataValue.int(horizon_days),
                "path": dg.MetadataValue.path(path),
                **spend.metadata(),
            }
        )

    return [retention_risk]

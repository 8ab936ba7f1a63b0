"""The partitioned check of `retention_risk`: it reads the report the asset stored, nothing else."""

import dagster as dg

from ..metadata import SHOWN_IDS
from ..names import NOTHING_AT_RISK_UNARCHIVED, RETENTION_RISK
from ..partitions import partition_window
from ..resources import ArchiveResource


def build_risk_checks(daily: dg.DailyPartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        asset=RETENTION_RISK,
        name=NOTHING_AT_RISK_UNARCHIVED,
        partitions_def=daily,
        description=(
            "Fails (ERROR) when anything RingCentral deletes within the horizon is not archived and "
            "verified, or a day of the at-risk window inside the archive's range is not archived; lists "
            "the counts and the earliest deadline."
        ),
    )
    def nothing_at_risk_unarchived(
        context: dg.AssetCheckExecutionContext, archive: ArchiveResource
    ) -> dg.AssetCheckResult:
        storage = archive.storage()
        path = storage.risk_report_path(partition_window(context).day)
        try:
            report = storage.read_json(path)
        except FileNotFoundError:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "problem": f"no report at {path}: materialise {RETENTION_RISK.to_user_string()} first"
                },
            )
        counts = report["counts"]
        not_archived = [
            f"{i['data_type']} {i['id']} (extension {i['extension_id']})" for i in report["not_archived"]
        ]
        return dg.AssetCheckResult(
            passed=bool(report["ok"]),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                **{name: dg.MetadataValue.int(value) for name, value in counts.items()},
                "earliest_deadline": report["earliest_deadline"] or "-",
                "earliest_unarchived_deadline": report["earliest_unarchived_deadline"] or "-",
                # Earliest deadline first: what to archive next.
                "not_archived_items": dg.MetadataValue.json(not_archived[:SHOWN_IDS]),
                "unknown_days_in_archive_range": dg.MetadataValue.json(
                    [
                        d["data_type"] + " " + d["day"]
                        for d in report["unknown_days"]
                        if not d["before_archive_start"]
                    ]
                ),
            },
        )

    return [nothing_at_risk_unarchived]

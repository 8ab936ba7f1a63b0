"""Asset checks made from rc_pipeline.verification: one per archive check, partitioned by day."""

import warnings
from collections.abc import Iterable

import dagster as dg

from rc_pipeline.verification import ArchiveCheck, Outcome

from .metadata import shown_ids
from .partitions import partition_window
from .resources import ArchiveResource

# Partitioned asset checks are a preview feature in dagster 1.13; they are exactly what proving each
# day complete needs, so the warning stays out of the CLI's and the tests' output. (dg's loader
# silences preview warnings itself while it loads the code location.)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=Warning
)


def check_result(outcome: Outcome) -> dg.AssetCheckResult:
    """Lists of ids are shown (the first ones, numeric order); counts and texts as they are."""
    metadata = {k: shown_ids(v) if isinstance(v, list) else v for k, v in outcome.metadata.items()}
    severity = dg.AssetCheckSeverity.WARN if outcome.warning else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(passed=outcome.passed, metadata=metadata, severity=severity)


def _asset_check(daily: dg.PartitionsDefinition, check: ArchiveCheck) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(check.asset), name=check.name, partitions_def=daily, description=check.description
    )
    def _check(context: dg.AssetCheckExecutionContext, archive: ArchiveResource) -> dg.AssetCheckResult:
        return check_result(check.run(archive.storage(), partition_window(context)))

    return _check


def archive_checks(
    daily: dg.PartitionsDefinition, checks: Iterable[ArchiveCheck]
) -> list[dg.AssetChecksDefinition]:
    return [_asset_check(daily, check) for check in checks]

"""Build the real Definitions against a running simulator and a temporary archive root."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from rc_pipeline.definitions import ARCHIVE_JOB, SNAPSHOT_JOB, build_definitions
from rc_pipeline.defs.config import PipelineConfig
from rc_pipeline.defs.resources import ArchiveResource, RingCentralResource, close_shared_clients


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def pipeline_for(
    sim: Any, root: str, *, timezone: str = "UTC", lookback_days: int = 2, start_date: str | None = None
) -> dg.Definitions:
    # Each test gets fresh clients: a shared client from an earlier test points at a stopped simulator.
    close_shared_clients()
    config = PipelineConfig(
        timezone=timezone,
        start_date=start_date or (yesterday() - timedelta(days=30)).isoformat(),
        schedule_hour=2,
        lookback_days=lookback_days,
    )
    resources = {
        "ringcentral": RingCentralResource(
            server_url=sim.base_url,
            media_url=sim.media_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            jwt=sim.jwt,
        ),
        "archive": ArchiveResource(root=root),
    }
    return build_definitions(config, resources=resources)


def archive_day(defs: dg.Definitions, day: date, **kwargs: Any) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(ARCHIVE_JOB).execute_in_process(
        partition_key=day.isoformat(), instance=dg.DagsterInstance.ephemeral(), **kwargs
    )


def snapshot_and_warehouse(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(SNAPSHOT_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral())


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}

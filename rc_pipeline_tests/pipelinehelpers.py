"""Build the real Definitions against a running simulator and a temporary archive root."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from rc_pipeline.definitions import build_definitions
from rc_pipeline.defs.names import ARCHIVE_JOB, MESSAGE_DOWNLOAD_JOB, MESSAGE_JOB, SNAPSHOT_JOB
from rc_pipeline.defs.resources import close_shared_clients, simulator_resources
from rc_pipeline.settings import MessageStoreSettings, PipelineSettings


def yesterday() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def message_settings(**overrides: Any) -> MessageStoreSettings:
    """Message-store settings for tests: quick polls and retries, real limits otherwise."""
    values: dict[str, Any] = {"poll_seconds": 0.2, "retry_backoff_seconds": 0.0, "task_timeout_seconds": 60.0}
    values.update(overrides)
    return MessageStoreSettings(**values)


def pipeline_for(
    sim: Any,
    root: str,
    *,
    timezone: str = "UTC",
    lookback_days: int = 2,
    start_date: str | None = None,
    messages: MessageStoreSettings | None = None,
    resources: dict[str, Any] | None = None,
    **build: Any,
) -> dg.Definitions:
    """The project's definitions against ``sim``, archiving under ``root`` (or into ``resources``);
    ``build`` goes to `build_definitions` (e.g. recording_budget)."""
    # Each test gets fresh clients: a shared client from an earlier test points at a stopped simulator.
    close_shared_clients()
    config = PipelineSettings(
        timezone=timezone,
        start_date=start_date or (yesterday() - timedelta(days=30)).isoformat(),
        schedule_hour=2,
        lookback_days=lookback_days,
    )
    return build_definitions(
        config,
        resources=resources or simulator_resources(sim, root),
        messages=messages or message_settings(),
        **build,
    )


def archive_day(defs: dg.Definitions, day: date, **kwargs: Any) -> dg.ExecuteInProcessResult:
    instance = kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral()
    return defs.resolve_job_def(ARCHIVE_JOB).execute_in_process(
        partition_key=day.isoformat(), instance=instance, **kwargs
    )


def snapshot_and_warehouse(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(SNAPSHOT_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral())


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def run_messages(
    defs: dg.Definitions, day: date, instance: dg.DagsterInstance | None = None, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    """The daily message job (export path: starts the task; listing path: archives the day)."""
    return defs.resolve_job_def(MESSAGE_JOB).execute_in_process(
        partition_key=day.isoformat(), instance=instance or dg.DagsterInstance.ephemeral(), **kwargs
    )


def run_download(
    defs: dg.Definitions, partition_key: str, instance: dg.DagsterInstance | None = None, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    """The export path's download job, as a sensor's RunRequest would start it."""
    return defs.resolve_job_def(MESSAGE_DOWNLOAD_JOB).execute_in_process(
        partition_key=partition_key, instance=instance or dg.DagsterInstance.ephemeral(), **kwargs
    )

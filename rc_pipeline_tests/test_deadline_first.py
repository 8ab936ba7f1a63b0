"""Deadline-first archiving: the backfill's order, the recordings budget, the warning check, the
schedule's priority for yesterday."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from rc_pipeline.backfill import deadline_first, format_verification, run_archive, run_verify
from rc_pipeline.calls.recordings import archive_recordings
from rc_pipeline.control.inventory import RECORDING, archived_recordings, day_verdict
from rc_pipeline.days import day_window
from rc_pipeline.defs.lookback import LOOKBACK_PRIORITY, YESTERDAY_PRIORITY
from rc_pipeline.defs.names import (
    ARCHIVE_JOB,
    CALL_DAY_TAG,
    DAILY_ARCHIVE_SCHEDULE,
    DAILY_MESSAGE_SCHEDULE,
    DEFERRED_RECORDINGS_JOB,
    DEFERRED_RECORDINGS_SENSOR,
    MESSAGE_DAY_TAG,
    RECORDINGS,
)
from rc_pipeline.risk.rules import recording_deadline
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.recordings import recordings_referenced
from rc_pipeline_tests.clienthelpers import client_for
from rc_pipeline_tests.pipelinehelpers import message_settings, pipeline_for, yesterday


def test_deadline_first_runs_the_days_recordings_still_exist_for_oldest_first():
    days = [date(2026, 1, d) for d in range(1, 7)]
    order = deadline_first(days, today=date(2026, 1, 9), deadline_days=5)
    # Jan 1..3 were deleted during Jan 6..8: gone whatever the order, so they go last. Jan 4's go
    # during today (each at its call's time of day): first.
    assert order.days == [date(2026, 1, 4), date(2026, 1, 5), date(2026, 1, 6), *days[:3]]
    assert "3 day(s) whose recordings RingCentral still holds run first" in order.reason
    assert "2026-01-04: deleted during 2026-01-09" in order.reason
    assert "3 day(s) already past the 5-day recording deadline (2026-01-01..2026-01-03)" in order.reason
    assert deadline_first(days, today=date(2026, 1, 2), deadline_days=90).days == days


def test_backfill_runs_in_deadline_order_and_says_why(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=8, extensions=3, days=4, rate_limit_scale=0.02)
    end = yesterday()
    start = end - timedelta(days=2)
    said: list[str] = []
    summaries = run_archive(
        pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing")),
        start,
        end,
        show_progress=False,
        today=end + timedelta(days=1),
        deadline_days=1,
        announce=said.append,
    )
    # Deleted during: start + 1 (past), start + 2 = end (past), end + 1 = today (still held).
    expected = [end, start, start + timedelta(days=1)]
    assert [s.day for s in summaries] == [d.isoformat() for d in expected]
    assert all(not s.failures for s in summaries)
    assert said and said[0].startswith("Order: deadline first.")


def _refs(storage: ArchiveStorage, day: date):
    return recordings_referenced(
        storage.read_parquet(Dataset.CALLS, day), storage.read_parquet(Dataset.CALL_LEGS, day)
    )


def _budget_defs(sim, root: str, budget: int | None) -> dg.Definitions:
    return pipeline_for(sim, root, recording_budget=budget)


def test_recordings_budget_defers_the_latest_deadlines_and_the_check_warns(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=30, extensions=4, days=3, recording_share=0.5, rate_limit_scale=0.02)
    day = yesterday()
    storage = ArchiveStorage(str(tmp_path))
    job = _budget_defs(sim, str(tmp_path), 3).resolve_job_def(ARCHIVE_JOB)
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)
    assert result.success  # deferred is not failed
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == RECORDINGS
    ]
    meta = {k: v.value for k, v in mat.metadata.items()}
    referenced = meta["recordings_referenced"]
    assert referenced > 3 and meta["downloaded_now"] == 3
    assert meta["deferred_count"] == referenced - 3

    # Downloaded in deadline order: automatic recordings by their call's start (deadline = start + 90
    # days, the simulator is not HIPAA), on-demand ones (no time limit) only after them.
    starts = {r["id"]: r["start_time"] for r in storage.read_parquet(Dataset.CALLS, day).to_pylist()}
    manifest = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
    deferred = storage.read_deferred_recordings(day)
    assert [r["status"] for r in manifest].count("deferred") == len(deferred) == referenced - 3
    automatic = [r for r in deferred if r["deadline"]]
    assert automatic, "the simulator's recordings are mostly automatic"
    assert all(r["deadline"] is None for r in deferred[len(automatic) :])  # on-demand last
    types = {r.recording_id: r.recording_type for r in _refs(storage, day)}
    done = [r for r in manifest if r["status"] == "verified"]
    assert all(types[r["recording_id"]] == "Automatic" for r in done)
    assert max(starts[r["call_id"]] for r in done) <= min(starts[r["call_id"]] for r in automatic)
    assert [r["deadline"] for r in automatic] == sorted(r["deadline"] for r in automatic)
    assert all(
        r["deadline"] == recording_deadline(starts[r["call_id"]], False).isoformat() for r in automatic
    )
    assert meta["deferred_earliest_deadline"] == automatic[0]["deadline"]

    # The check warns (does not pass silently), naming the count and the earliest deadline.
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "recordings_complete"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    check_meta = {k: v.value for k, v in check.metadata.items()}
    assert check_meta["deferred_count"] == referenced - 3
    assert check_meta["earliest_deadline"] == automatic[0]["deadline"]
    assert check_meta["missing"] == []

    # A purge re-runs the checks: the day is not proven, and deferred recordings are not even listed.
    window = day_window(day, "UTC")
    assert not day_verdict(storage, window, RECORDING).passed
    listed = {item.id for item in archived_recordings(storage, day, [])}
    assert listed and not listed & {r["recording_id"] for r in deferred}
    text, passed = format_verification(
        [day.isoformat()], run_verify(_budget_defs(sim, str(tmp_path), 3), [day.isoformat()])
    )
    assert not passed and "recordings_complete: deferred=" in text and "earliest_deadline=" in text

    # The deferred-recordings sensor asks for the day again (the nearest deadline first); its run
    # fetches the next budget's worth without listing the call log.
    defs = _budget_defs(sim, str(tmp_path), 3)
    sensor = defs.get_repository_def().get_sensor_def(DEFERRED_RECORDINGS_SENSOR)
    with dg.build_sensor_context(resources=dict(defs.resources)) as context:
        (request,) = sensor(context).run_requests
    assert request.partition_key == day.isoformat()
    assert request.tags["rc_pipeline/earliest_deadline"] == automatic[0]["deadline"]
    assert request.tags[CALL_DAY_TAG] == day.isoformat()
    mark = len(sim.request_log)
    follow_up = defs.resolve_job_def(DEFERRED_RECORDINGS_JOB).execute_in_process(
        partition_key=day.isoformat(), instance=instance
    )
    assert follow_up.success
    assert len(storage.read_deferred_recordings(day)) == len(deferred) - 3
    assert not [e for e in sim.request_log[mark:] if e.path.endswith("/call-log")]

    # The next run without a budget fetches the rest: the list empties and the check passes.
    result = (
        _budget_defs(sim, str(tmp_path), None)
        .resolve_job_def(ARCHIVE_JOB)
        .execute_in_process(partition_key=day.isoformat(), instance=instance)
    )
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()}["recordings_complete"]
    assert storage.read_deferred_recordings(day) == []
    assert day_verdict(storage, window, RECORDING).passed
    with dg.build_sensor_context(resources=dict(defs.resources)) as context:
        assert sensor(context).skip_reason.skip_message == "no recording is deferred"


def test_the_daily_schedules_run_yesterday_before_the_lookback_days(tmp_path, simulator):
    defs = pipeline_for(simulator, str(tmp_path), timezone="UTC", lookback_days=2, start_date="2026-01-01")
    tick = datetime(2026, 3, 30, 2, 0, tzinfo=ZoneInfo("UTC"))
    instance = dg.DagsterInstance.ephemeral()
    for name in (DAILY_ARCHIVE_SCHEDULE, DAILY_MESSAGE_SCHEDULE):
        schedule = defs.resolve_schedule_def(name)
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
            resources=dict(defs.resources),
        ) as context:
            requests = schedule.evaluate_tick(context).run_requests
        day_tag = CALL_DAY_TAG if name == DAILY_ARCHIVE_SCHEDULE else MESSAGE_DAY_TAG
        assert [r.tags[day_tag] for r in requests] == [r.partition_key for r in requests]
        priority = {r.partition_key: int(r.tags["dagster/priority"]) for r in requests}
        assert priority == {
            "2026-03-27": LOOKBACK_PRIORITY,
            "2026-03-28": LOOKBACK_PRIORITY,
            "2026-03-29": YESTERDAY_PRIORITY,
        }
        assert YESTERDAY_PRIORITY > LOOKBACK_PRIORITY


def test_recordings_past_their_deadline_get_no_budget(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=30, extensions=4, days=3, recording_share=0.5, rate_limit_scale=0.02)
    day = yesterday()
    storage = ArchiveStorage(str(tmp_path))
    defs = _budget_defs(sim, str(tmp_path), 2)
    instance = dg.DagsterInstance.ephemeral()
    defs.resolve_job_def(ARCHIVE_JOB).execute_in_process(partition_key=day.isoformat(), instance=instance)
    waiting = storage.read_deferred_recordings(day)
    automatic = {r["recording_id"] for r in waiting if r["deadline"]}
    on_demand = {r["recording_id"] for r in waiting if not r["deadline"]}
    assert automatic
    client = client_for(sim)
    before = len(sim.request_log)
    # A run 91 days later: every waiting automatic recording is past its 90-day deadline, deleted at
    # RingCentral. The budget is not spent on them: they are lost (the check fails), without a request;
    # on-demand ones (no time limit) get the budget.
    later = datetime.now(ZoneInfo("UTC")) + timedelta(days=91)
    result = archive_recordings(client, storage, day, lambda _: None, budget=100, now=later)
    assert {r["recording_id"] for r in result.fetched} == on_demand and result.deferred == []
    gone = {r["recording_id"]: r for r in result.rows if r["status"] == "missing"}
    assert set(gone) == automatic and all("past its deadline" in r["error"] for r in gone.values())
    asked = [e.path for e in list(sim.request_log)[before:]]
    assert not [p for p in asked if any(i in p for i in automatic)]
    assert not day_verdict(storage, day_window(day, "UTC"), RECORDING).passed


def test_call_side_runs_of_one_day_never_overlap(tmp_path, simulator):
    """Archive, rebuild-from-captures and deferred-recordings runs name their day in one tag, and the
    instance settings shipped in dagster.yaml let one such run per day proceed at a time."""
    import shutil
    from pathlib import Path

    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    for tag in (CALL_DAY_TAG, MESSAGE_DAY_TAG):
        assert {"key": tag, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    defs = pipeline_for(simulator, str(tmp_path / "archive"), lookback_days=1, start_date="2026-01-01")
    schedule = defs.resolve_schedule_def(DAILY_ARCHIVE_SCHEDULE)
    tick = datetime(2026, 3, 30, 2, 0, tzinfo=ZoneInfo("UTC"))
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    ) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.tags[CALL_DAY_TAG] for r in requests] == [r.partition_key for r in requests]
    instance.dispose()

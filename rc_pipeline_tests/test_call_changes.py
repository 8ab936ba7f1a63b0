"""Late changes and new calls through call-log-extract-sync: captured as received, days rebuilt from raw."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs

import dagster as dg
import pytest

from rc_pipeline.calls.captured import build_day_tables
from rc_pipeline.calls.changes import SyncState, capture_call_changes
from rc_pipeline.calls.recordings import archive_recordings
from rc_pipeline.days import day_window
from rc_pipeline.defs.build import build_definitions
from rc_pipeline.defs.calls.capture import pass_due
from rc_pipeline.defs.names import CALL_CHANGES_SENSOR, CALL_DAY_TAG, CALL_REBUILD_JOB
from rc_pipeline.defs.resources import (
    close_shared_clients,
    simulator_resources,
)
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import ArchiveStorage, Dataset, page_line
from rc_pipeline.verification import CALL_CHECKS, RECORDING_CHECKS, verify_day
from rc_pipeline_tests.clienthelpers import client_for

TZ = "UTC"
LIST_OPERATIONS = {"readCompanyCallLog", "readUserCallLog"}
SYNC_OPERATION = "extractSyncAccountCallLog"
# Heavy generous enough that downloading a day's recordings takes no time; the rules stay strict.
FAST = {"Heavy": (500, 1.0), "Medium": (500, 1.0), "Light": (500, 1.0), "Auth": (50, 1.0)}


def _resources(sim, root: str) -> dict[str, object]:
    """The simulator's resources, throttled alone: other processes on the machine share no budget here."""
    return simulator_resources(sim, root, throttle_dir="none")


def _account(make_simulator, **overrides):
    values = dict(calls_per_day=300, recording_share=0.6, rate_limits=FAST, penalty_seconds=1.0)
    values.update(overrides)
    return make_simulator(**values)


def _operations(sim, since: int = 0) -> list[tuple[str | None, int, str]]:
    return [(e.operation, e.status, e.query) for e in sim.request_log.snapshot()[since:]]


def _list_and_build(client, storage: ArchiveStorage, day: date) -> None:
    window = day_window(day, TZ)
    pages = client.iter_call_log_pages(window.start, window.end, view="Detailed")
    storage.write_raw_call_log(day, (p.raw for p in pages), window.start, window.end)
    _rebuild(client, storage, day)


def _rebuild(client, storage: ArchiveStorage, day: date) -> None:
    build_day_tables(storage, day_window(day, TZ))
    archive_recordings(client, storage, day, lambda _m: None)


def _recordings_listed(sim, day: date) -> set[str]:
    window = day_window(day, TZ)
    found = set()
    for record in sim.account.call_records(window.start, window.end):
        for item in (record, *(record.get("legs") or [])):
            if (item.get("recording") or {}).get("id"):
                found.add(str(item["recording"]["id"]))
    return found


def _recordings_in_tables(storage: ArchiveStorage, day: date) -> set[str]:
    calls = storage.read_parquet(Dataset.CALLS, day).column("recording_id").to_pylist()
    legs = storage.read_parquet(Dataset.CALL_LEGS, day).column("recording_id").to_pylist()
    return {r for r in (*calls, *legs) if r}


def _today_with_calls(sim) -> date:
    """Simulated today, moved on to mid-day first so it already holds a few hours of calls."""
    if sim.clock.now().hour < 4:
        sim.advance(hours=5)
    return sim.clock.now().date()


def test_a_late_recording_is_captured_and_the_day_rebuilt_without_listing(make_simulator, tmp_path):
    sim = _account(make_simulator, recording_attach_delay=1800.0)
    storage = ArchiveStorage(str(tmp_path))
    today = _today_with_calls(sim)
    with client_for(sim, throttle_dir=None) as client:
        _list_and_build(client, storage, today)
        capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
        listed_before = _recordings_in_tables(storage, today)
        sim.advance(minutes=45)  # recordings of the calls of the last half hour attach now
        late = _recordings_listed(sim, today) - listed_before
        assert late, "the account must have recordings that attached after the listing"
        mark = len(sim.request_log.snapshot())
        result = capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
        assert today in result.changed_days and result.full_syncs == 0
        _rebuild(client, storage, today)
    sent = _operations(sim, mark)
    assert not [op for op, _, _ in sent if op in LIST_OPERATIONS]  # not one call-log listing
    assert [op for op, _, _ in sent if op == SYNC_OPERATION] and all(
        "ISync" in q for op, _, q in sent if op == SYNC_OPERATION
    )
    assert late <= _recordings_in_tables(storage, today)
    downloaded = {
        r["recording_id"]
        for r in storage.read_parquet(Dataset.RECORDINGS, today).to_pylist()
        if r["status"] == "verified"
    }
    assert late <= downloaded
    verdict = verify_day(storage, day_window(today, TZ), (*CALL_CHECKS, *RECORDING_CHECKS))
    assert verdict.passed, verdict.describe()
    # Re-running changes nothing: same tables.
    calls = storage.read_parquet(Dataset.CALLS, today)
    legs = storage.read_parquet(Dataset.CALL_LEGS, today)
    with client_for(sim, throttle_dir=None) as client:
        capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
        _rebuild(client, storage, today)
    assert storage.read_parquet(Dataset.CALLS, today).equals(calls)
    assert storage.read_parquet(Dataset.CALL_LEGS, today).equals(legs)


class ReceivedAnswers:
    """The client, noting the bytes of every extract-sync answer it received."""

    def __init__(self, client):
        self.client, self.raw = client, []

    def extract_sync_call_log_page(self, **kwargs):
        page = self.client.extract_sync_call_log_page(**kwargs)
        self.raw.append(page.raw)
        return page


def test_answers_are_kept_as_received_under_each_day_they_touch(make_simulator, tmp_path):
    sim = _account(make_simulator)
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim, throttle_dir=None) as client:
        spy = ReceivedAnswers(client)
        result = capture_call_changes(spy, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
    assert result.full_syncs == 1 and result.answers == len(spy.raw) >= 1
    days = storage.call_change_days()
    assert set(result.changed_days) <= set(days) and len(result.changed_days) >= 2
    stored = []
    for day in days:
        for path in storage.call_changes_paths(day):
            with open(path, "rb") as handle:
                stored.append(gzip.decompress(handle.read()))
    expected = {page_line(raw) + b"\n" for raw in spy.raw}
    # Every stored file is one answer byte for byte, and every answer is stored.
    assert set(stored) == expected
    state = SyncState.load(storage)
    assert state.sync_token and state.answers == result.answers


def test_full_sync_required_starts_a_new_fsync(make_simulator, tmp_path):
    sim = _account(make_simulator)
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim, throttle_dir=None) as client:
        capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
        good = SyncState.load(storage)
        SyncState(
            sync_token=good.sync_token[:-4] + "AAAA",
            sync_time=good.sync_time,
            resume_from=good.resume_from,
            full_syncs=good.full_syncs,
            answers=good.answers,
        ).save(storage)
        mark = len(sim.request_log.snapshot())
        result = capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
    sent = [(status, query) for op, status, query in _operations(sim, mark) if op == SYNC_OPERATION]
    assert sent[0][0] == 400 and "ISync" in sent[0][1]
    assert sent[1][0] == 200 and "FSync" in sent[1][1]
    # The new FSync starts where the last finished pass ended, a minute earlier for safety.
    date_from = datetime.fromisoformat(parse_qs(sent[1][1])["dateFrom"][0].replace("Z", "+00:00"))
    assert date_from == datetime.fromisoformat(good.resume_from.replace("Z", "+00:00")) - timedelta(minutes=1)
    assert result.full_syncs == 1
    state = SyncState.load(storage)
    assert state.sync_token != good.sync_token and state.full_syncs == 2


def test_a_call_captured_within_minutes_and_deleted_later_stays_in_the_days_table(make_simulator, tmp_path):
    # RingCentral keeps call records 12 months; a one-day retention lives through the same loss in minutes.
    sim = _account(make_simulator, call_log_retention_days=1)
    storage = ArchiveStorage(str(tmp_path))
    today = _today_with_calls(sim)
    with client_for(sim, throttle_dir=None) as client:
        capture_call_changes(client, storage, timezone=TZ, lookback_days=0, now=sim.clock.now())
        sim.advance(minutes=5)
        window = day_window(today, TZ)
        # What RingCentral lists right now: the next pass, a moment later, sees at least these.
        captured = {r["id"] for r in sim.account.call_records(window.start, window.end)}
        assert captured
        capture_call_changes(client, storage, timezone=TZ, lookback_days=0, now=sim.clock.now())
        sim.advance(days=2)  # the day's records are gone at RingCentral before the day is listed
        assert not sim.account.call_records(window.start, window.end)
        _list_and_build(client, storage, today)
    assert storage.read_manifest(today).records_received == 0
    kept = set(storage.read_parquet(Dataset.CALLS, today).column("id").to_pylist())
    assert captured <= kept
    verdict = verify_day(storage, window, CALL_CHECKS)
    assert verdict.passed, verdict.describe()


def test_the_sensor_requests_a_rebuild_of_listed_changed_days_only(make_simulator, tmp_path):
    sim = _account(make_simulator)
    root = str(tmp_path)
    storage = ArchiveStorage(root)
    close_shared_clients()
    yesterday = sim.clock.now().date() - timedelta(days=1)
    config = PipelineSettings(
        timezone=TZ, start_date="2026-01-01", schedule_hour=2, lookback_days=1, capture_minutes=5
    )
    defs = build_definitions(config, resources=_resources(sim, root))
    with client_for(sim, throttle_dir=None) as client:
        _list_and_build(client, storage, yesterday)
    sensor = defs.get_repository_def().get_sensor_def(CALL_CHANGES_SENSOR)
    assert sensor.minimum_interval_seconds == 300
    mark = len(sim.request_log.snapshot())
    with dg.build_sensor_context(resources=_resources(sim, root)) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    # The first pass covers the lookback: yesterday (listed) and the day before (not listed: left alone).
    assert [r.partition_key for r in result.run_requests] == [yesterday.isoformat()]
    latest = storage.latest_call_change(yesterday)
    assert result.run_requests[0].run_key == f"changes:{yesterday.isoformat()}:{latest}"
    assert result.run_requests[0].tags[CALL_DAY_TAG] == yesterday.isoformat()
    # The next tick within the interval costs no request, and asks again for the same rebuild (same
    # run key: Dagster runs it once) while the day's tables do not include its newest capture.
    ticked = len(sim.request_log.snapshot())
    with dg.build_sensor_context(resources=_resources(sim, root), cursor=result.cursor) as context:
        again = sensor(context)
    assert [r.run_key for r in again.run_requests] == [result.run_requests[0].run_key]
    assert len(sim.request_log.snapshot()) == ticked
    job = defs.resolve_job_def(CALL_REBUILD_JOB)
    run = job.execute_in_process(partition_key=yesterday.isoformat(), instance=dg.DagsterInstance.ephemeral())
    assert run.success
    assert all(e.passed for e in run.get_asset_check_evaluations())
    assert not [op for op, _, _ in _operations(sim, mark) if op in LIST_OPERATIONS]
    assert storage.calls_built_from(yesterday) == latest
    # Rebuilt: nothing left to ask for.
    with dg.build_sensor_context(resources=_resources(sim, root), cursor=result.cursor) as context:
        done = sensor(context)
    assert not done.run_requests and "no listed day behind" in done.skip_reason.skip_message
    close_shared_clients()


def test_a_pass_stopped_at_its_budget_carries_on_with_isync(make_simulator, tmp_path):
    sim = _account(make_simulator, calls_per_day=900)
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim, throttle_dir=None) as client:
        first = capture_call_changes(
            client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now(), budget_seconds=0.0
        )
        assert (first.answers, first.records, first.complete) == (1, 1000, False)
        # Newer records are waiting: a forced FSync would start at the newest change received, not later.
        stopped = SyncState.load(storage)
        assert datetime.fromisoformat(stopped.resume_from) < datetime.fromisoformat(
            stopped.sync_time.replace("Z", "+00:00")
        ) - timedelta(minutes=30)
        mark = len(sim.request_log.snapshot())
        rest = capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
    assert rest.complete and rest.full_syncs == 0 and rest.records > 0
    queries = [q for op, _, q in _operations(sim, mark) if op == SYNC_OPERATION]
    assert queries and all("ISync" in q for q in queries)


def test_a_pass_is_due_when_the_interval_passed_or_the_last_one_stopped_early():
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def cursor(hours_ago: float, complete: bool) -> str:
        return json.dumps({"last_pass": (now - timedelta(hours=hours_ago)).isoformat(), "complete": complete})

    assert pass_due(None, now, 86_400) and pass_due("not json", now, 86_400)
    assert not pass_due(cursor(1, True), now, 86_400)
    assert pass_due(cursor(1, False), now, 86_400)
    assert pass_due(cursor(25, True), now, 86_400)
    assert pass_due(cursor(0.1, True), now, 300)


def test_a_pass_that_fails_after_storing_its_token_still_gets_its_days_rebuilt(
    make_simulator, tmp_path, monkeypatch
):
    """The days to rebuild come from the archive: a failure after the token was stored loses none."""
    sim = _account(make_simulator)
    root = str(tmp_path)
    storage = ArchiveStorage(root)
    close_shared_clients()
    yesterday = sim.clock.now().date() - timedelta(days=1)
    config = PipelineSettings(timezone=TZ, start_date="2026-01-01", schedule_hour=2, lookback_days=1)
    defs = build_definitions(config, resources=_resources(sim, root))
    with client_for(sim, throttle_dir=None) as client:
        _list_and_build(client, storage, yesterday)
        # A pass captured changes and stored its token, then its sensor tick died.
        capture_call_changes(client, storage, timezone=TZ, lookback_days=1, now=sim.clock.now())
    assert SyncState.load(storage).sync_token
    sensor = defs.get_repository_def().get_sensor_def(CALL_CHANGES_SENSOR)
    # The next tick's pass fails...
    import rc_pipeline.defs.calls.capture as capture_sensor

    def failing_pass(*args, **kwargs):
        raise RuntimeError("extract-sync answered 503 three times")

    monkeypatch.setattr(capture_sensor, "capture_call_changes", failing_pass)
    with dg.build_sensor_context(resources=_resources(sim, root)) as context:
        result = sensor(context)
    # ...and the day the first pass changed is requested all the same.
    assert [r.partition_key for r in result.run_requests] == [yesterday.isoformat()]
    # With nothing left to request, the failure is the tick's own (its root cause shown), not hidden.
    storage.record_calls_built_from(yesterday, storage.latest_call_change(yesterday))
    with dg.build_sensor_context(resources=_resources(sim, root)) as context:
        with pytest.raises(RuntimeError, match="503 three times"):
            sensor(context)
    close_shared_clients()

"""The Dagster archive against the simulator: ground truth, idempotence, failures, DST, schedule."""

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rc_pipeline.defs.lookback import partitions_to_archive
from rc_pipeline.defs.partitions import daily_partitions, partition_window
from rc_pipeline.settings import PipelineSettings
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.pipelinehelpers import (
    archive_day,
    check_results,
    pipeline_for,
    snapshot_and_warehouse,
    yesterday,
)


@pytest.fixture
def account(make_simulator):
    return make_simulator(calls_per_day=40, extensions=8, days=4, rate_limit_scale=0.02)


def window_of(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def content_requests(sim) -> int:
    return sum(1 for e in list(sim.request_log) if e.path.endswith("/content"))


def test_one_partition_equals_the_simulators_ground_truth(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    result = archive_day(defs, day)
    assert result.success
    assert all(check_results(result).values()), check_results(result)

    storage = ArchiveStorage(str(tmp_path))
    truth = account.account.call_records(*window_of(day), view="Detailed")
    calls = storage.read_parquet(Dataset.CALLS, day)
    legs = storage.read_parquet(Dataset.CALL_LEGS, day)
    assert sorted(calls.column("id").to_pylist()) == sorted(r["id"] for r in truth)
    legs_per_call = {}
    for call_id in legs.column("call_id").to_pylist():
        legs_per_call[call_id] = legs_per_call.get(call_id, 0) + 1
    assert legs_per_call == {r["id"]: len(r["legs"]) for r in truth if r.get("legs")}

    manifest = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
    referenced = {r["recording"]["id"] for r in truth if r.get("recording")}
    referenced |= {leg["recording"]["id"] for r in truth for leg in r.get("legs", []) if leg.get("recording")}
    assert referenced, "the simulated day should have recordings"
    assert {m["recording_id"] for m in manifest} == {str(i) for i in referenced}
    for row in manifest:
        body, content_type = account.account.recording_content(row["recording_id"])
        assert row["status"] == "verified"
        assert row["sha256"] == hashlib.sha256(body).hexdigest()
        assert Path(row["path"]).read_bytes() == body
        assert row["content_type"] == content_type
        assert Path(row["path"]).suffix == (".mp3" if content_type == "audio/mpeg" else ".wav")
        assert f"/recordings/{day:%Y/%m/%d}/" in row["path"]
        call = next(r for r in truth if r["id"] == row["call_id"])
        owner = call if row["leg_index"] is None else call["legs"][row["leg_index"]]
        # The simulator records the whole call or leg: the audio's own header must say about as long.
        assert abs(row["duration_s"] - owner["duration"]) <= 1


def test_rematerialising_changes_nothing_and_downloads_nothing(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    assert archive_day(defs, day).success
    storage = ArchiveStorage(str(tmp_path))
    first = {
        ds: storage.read_parquet(ds, day) for ds in (Dataset.CALLS, Dataset.CALL_LEGS, Dataset.RECORDINGS)
    }
    downloads = content_requests(account)
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())

    result = archive_day(defs, day)
    assert result.success
    for ds, table in first.items():
        assert storage.read_parquet(ds, day).equals(table), f"{ds} changed on re-run"
    assert content_requests(account) == downloads, "a verified recording was downloaded again"
    # The same files, and one more: when the identical re-fetch confirmed the day (its raw partition
    # itself is left as it was).
    checked = Path("state/raw_checked/call_log") / f"date={day.isoformat()}.json"
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert after == sorted([*files, checked])
    rec = next(
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("recordings")
    )
    assert rec.materialization.metadata["downloaded_now"].value == 0


def test_failed_download_leaves_no_final_file_and_rerun_completes(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    account.faults.schedule("truncate", count=1000, path_contains="/content")
    result = archive_day(defs, day, raise_on_error=False)
    assert not result.success
    storage = ArchiveStorage(str(tmp_path))
    rows = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
    assert rows and all(r["status"] == "failed" for r in rows)
    finals = [p for p in (tmp_path / "recordings").rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert finals == [], "a partial recording sits at a final path"

    account.faults.clear()
    before = content_requests(account)
    result = archive_day(defs, day)
    assert result.success and check_results(result)["recordings_complete"]
    ranged = [e for e in list(account.request_log)[before:] if e.path.endswith("/content")]
    assert ranged, "the re-run fetched nothing"
    for row in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist():
        body, _ = account.account.recording_content(row["recording_id"])
        assert Path(row["path"]).read_bytes() == body


def test_a_damaged_recording_of_the_same_size_is_fetched_again(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    assert archive_day(defs, day).success
    storage = ArchiveStorage(str(tmp_path))
    victim = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()[0]
    damaged = bytearray(Path(victim["path"]).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    Path(victim["path"]).write_bytes(bytes(damaged))

    result = archive_day(defs, day)
    assert check_results(result)["recordings_complete"]
    rec = next(
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("recordings")
    )
    assert rec.materialization.metadata["downloaded_now"].value == 1
    body, _ = account.account.recording_content(victim["recording_id"])
    assert Path(victim["path"]).read_bytes() == body


def test_warehouse_automation_requests_a_rebuild_after_a_day_is_archived(account, tmp_path):
    from rc_pipeline.defs.names import WAREHOUSE

    defs = pipeline_for(account, str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert archive_day(defs, yesterday(), instance=instance).success
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert after.get_num_requested(WAREHOUSE) == 1, (
        "older days are missing upstream: eager() would wait forever"
    )
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
    assert again.get_num_requested(WAREHOUSE) == 0


@pytest.mark.parametrize(("key", "hours"), [("2026-03-08", 23), ("2026-11-01", 25), ("2026-06-01", 24)])
def test_dst_partitions_get_their_true_window(key, hours):
    config = PipelineSettings(
        timezone="America/New_York", start_date="2026-01-01", schedule_hour=2, lookback_days=2
    )
    daily = daily_partitions(config)
    seen = {}

    @dg.asset(partitions_def=daily)
    def probe(context: dg.AssetExecutionContext) -> None:
        seen["window"] = partition_window(context)

    assert dg.materialize([probe], partition_key=key).success
    window = seen["window"]
    assert window.hours == hours
    assert window.start == datetime.fromisoformat(key).replace(tzinfo=ZoneInfo("America/New_York"))
    assert window.day.isoformat() == key


def test_schedule_requests_yesterday_and_the_lookback(tmp_path, simulator):
    defs = pipeline_for(
        simulator, str(tmp_path), timezone="Europe/Berlin", lookback_days=2, start_date="2026-01-01"
    )
    schedule = defs.resolve_schedule_def("daily_archive")
    tick = datetime(2026, 3, 30, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-03-27", "2026-03-28", "2026-03-29"]
    assert len({r.run_key for r in requests}) == 3
    assert all(r.run_key.endswith("@2026-03-30") for r in requests)
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"


def test_schedule_never_requests_before_the_start_date():
    config = PipelineSettings(timezone="UTC", start_date="2026-03-28", schedule_hour=2, lookback_days=5)
    now = datetime(2026, 3, 30, 2, tzinfo=UTC)
    assert partitions_to_archive(now, config) == ["2026-03-28", "2026-03-29"]


def test_warehouse_answers_analyst_queries(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    assert archive_day(defs, day).success
    assert snapshot_and_warehouse(defs).success
    from rc_pipeline.warehouse import query

    storage = ArchiveStorage(str(tmp_path))
    _, rows = query(storage.warehouse_path, "SELECT count(*) FROM calls")
    assert rows[0][0] == storage.read_parquet(Dataset.CALLS, day).num_rows
    _, rows = query(storage.warehouse_path, "SELECT count(*) FROM extensions")
    assert rows[0][0] == len(account.account.extensions())
    _, rows = query(storage.warehouse_path, "SELECT coverage_ratio FROM mart_recording_coverage")
    assert rows and rows[0][0] == 1.0
    snapshots = list((tmp_path / "parquet" / "extensions").iterdir())
    assert len(snapshots) == 1
    assert pq.read_table(snapshots[0] / "part-0.parquet").num_rows == len(account.account.extensions())


def test_verify_job_names_a_damaged_recording_without_calling_ringcentral(account, tmp_path):
    from rc_pipeline.backfill import run_verify

    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    assert archive_day(defs, day).success
    storage = ArchiveStorage(str(tmp_path))
    victim = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()[0]
    damaged = bytearray(Path(victim["path"]).read_bytes())
    damaged[0] ^= 0xFF
    Path(victim["path"]).write_bytes(bytes(damaged))
    requests_before = len(account.request_log)

    (result,) = run_verify(defs, [day.isoformat()], instance=dg.DagsterInstance.ephemeral())
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["calls_match_raw"].passed and evaluations["legs_belong_to_calls"].passed
    failed = evaluations["recordings_complete"]
    assert not failed.passed
    assert failed.metadata["size_or_sha256_mismatch"].value == [victim["recording_id"]]
    assert len(account.request_log) == requests_before, "verification must not call RingCentral"


def test_verification_report_lists_failures_per_day(account, tmp_path):
    from rc_pipeline.backfill import format_verification, run_verify

    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    assert archive_day(defs, day).success
    storage = ArchiveStorage(str(tmp_path))
    victim = storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()[0]
    Path(victim["path"]).unlink()
    days = [day.isoformat()]
    text, passed = format_verification(days, run_verify(defs, days, instance=dg.DagsterInstance.ephemeral()))
    assert not passed
    assert "recordings_complete" in text and victim["recording_id"] in text

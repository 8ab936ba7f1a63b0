"""The message-store export path end to end: task asset, sensor, download run, tables, checks."""

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from rc_pipeline.message_store.export_state import COMPLETED, GAVE_UP, QUEUED, SUBMITTED, load_entry
from rc_pipeline.simulator.exports import FINISHED, ExportTask
from rc_pipeline.simulator.faults import ExportOutcome
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.messagehelpers import SensorDriver, snapshot_extensions, truth_messages
from rc_pipeline_tests.pipelinehelpers import (
    check_results,
    message_settings,
    pipeline_for,
    run_download,
    run_messages,
    yesterday,
)


@pytest.fixture
def account(make_simulator):
    return make_simulator(export_task_seconds=1.2, extensions=8, days=5, messages_per_day=3)


def test_export_flow_from_task_to_tables_equal_to_ground_truth(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    storage = ArchiveStorage(str(tmp_path))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        entry = load_entry(storage, day)
        assert entry is not None and entry.state == SUBMITTED
        assert [t.id for t in account.exports.tasks()] == [entry.task_id]

        driver = SensorDriver(defs, instance)
        seen = []
        while not driver.run_requests:
            driver.tick()
            seen.append(load_entry(storage, day).task_status)
            time.sleep(0.15)
        assert "Accepted" in seen[:1] + [entry.task_status] and "InProgress" in seen, seen
        assert seen[-1] == "Completed" and load_entry(storage, day).state == COMPLETED
        for _ in range(3):
            assert driver.tick() == [], "a completed task was handed over twice"
        (request,) = driver.run_requests
        assert request.run_key == entry.task_id and request.partition_key == day.isoformat()

        # Re-running the task asset while the task is completed starts a new one; while live it does not.
        result = run_download(defs, request.partition_key, instance)
        assert result.success
        assert all(check_results(result).values()), check_results(result)
        assert set(check_results(result)) >= {
            "message_attachments_complete",
            "messages_ids_unique",
            "messages_extensions_known",
            "messages_match_listing",
        }

    truth = truth_messages(account, day)
    assert truth, "the simulated day should have messages"
    messages = storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
    assert [m["id"] for m in messages] == sorted(truth)
    for row in messages:
        expected = truth[row["id"]]
        assert row["type"] == expected["type"]
        assert row["direction"] == expected["direction"]
        assert row["read_status"] == expected["readStatus"]
        assert row["extension_id"] == int(expected["extensionId"])
        assert row["conversation_id"] == (expected.get("conversation") or {}).get("id")
        assert row["fax_page_count"] == expected.get("faxPageCount")
        assert row["attachment_count"] == len(expected["attachments"])
    attachments = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist()
    expected_keys = {(m, a["id"]) for m, msg in truth.items() for a in msg["attachments"]}
    assert {(a["message_id"], a["attachment_id"]) for a in attachments} == expected_keys
    assert len({a["path"] for a in attachments}) == len(attachments), "two attachments share a path"
    for row in attachments:
        body, content_type = account.account.attachment_content(row["message_id"], row["attachment_id"])
        assert Path(row["path"]).read_bytes() == body
        assert row["sha256"] == hashlib.sha256(body).hexdigest() and row["bytes"] == len(body)
        assert row["status"] == "archived" and row["content_type"] == content_type
        assert (
            f"/message_store/content/{day:%Y/%m/%d}/{row['message_id']}/{row['attachment_id']}."
            in row["path"]
        )
    parts = sorted((tmp_path / "raw" / "message_store_export").rglob("archive_*.zip"))
    assert parts and parts[0].name == "archive_0.zip"
    assert (
        parts[0].read_bytes()
        == Path(account.exports.archive_paths(account.exports.tasks()[0])[0]).read_bytes()
    )


def max_overlap(sim) -> int:
    """Most export tasks the simulator ever had running at the same instant."""
    events = []
    for task in sim.exports.tasks():
        events += [(task.created_monotonic, 1), (task.created_monotonic + task.duration, -1)]
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def report_posts(sim) -> list:
    return [e for e in sim.request_log if e.method == "POST" and e.path.endswith("/message-store-report")]


def test_three_partitions_respect_the_two_task_limit_and_a_failed_task_is_retried(account, tmp_path):
    days = [yesterday() - timedelta(days=n) for n in (2, 1, 0)]
    defs = pipeline_for(account, str(tmp_path))
    storage = ArchiveStorage(str(tmp_path))
    account.faults.fail_next_exports(1, "Failed")  # the first task RingCentral runs will fail
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        for day in days:
            assert run_messages(defs, day, instance).success
        states = [load_entry(storage, d).state for d in days]
        assert states == [SUBMITTED, SUBMITTED, QUEUED]
        # Materialising a live partition again submits nothing.
        assert run_messages(defs, days[2], instance).success
        assert run_messages(defs, days[0], instance).success
        assert len(report_posts(account)) == 2

        driver = SensorDriver(defs, instance)
        requests = driver.tick_until(3)
        for _ in range(2):
            driver.tick()
        assert sorted(r.partition_key for r in driver.run_requests) == sorted(d.isoformat() for d in days)
        assert len({r.run_key for r in driver.run_requests}) == 3

        first = load_entry(storage, days[0])
        assert first.state == COMPLETED and first.attempt == 2
        assert [h["status"] for h in first.history] == ["Failed", "Completed"]
        assert max_overlap(account) <= 2
        assert all(e.status == 202 for e in report_posts(account)), "a task was refused: the limit was hit"
        assert len(account.exports.tasks()) == 4  # 3 partitions + 1 retry

        for request in requests:
            result = run_download(defs, request.partition_key, instance)
            assert result.success and all(check_results(result).values())
    for day in days:
        ids = storage.read_parquet(Dataset.MESSAGES, day).column("id").to_pylist()
        assert ids == sorted(truth_messages(account, day))


def test_the_simulated_task_goes_attempt_failed_between_attempts_and_only_then_ends():
    now = datetime.now(UTC)
    task = ExportTask(
        id="t", account_id="1", extension_id="2", date_from=now, date_to=now, message_types=(),
        created_wall=now, created_monotonic=0.0, final_status="Failed", duration=4.0, failed_attempts=2,
    )  # fmt: skip
    seen = [task.status(t) for t in (0.5, 2.0, 4.5, 7.0, 8.5, 11.0, 12.0, 100.0)]
    assert seen == [
        "Accepted", "InProgress", "AttemptFailed", "InProgress", "AttemptFailed", "InProgress", "Failed", "Failed",
    ]  # fmt: skip
    assert "AttemptFailed" not in FINISHED, "a task between attempts still holds one of the two slots"
    assert ExportOutcome.of("AttemptFailed") == ExportOutcome(1, "Completed")
    with pytest.raises(ValueError):
        ExportOutcome.of("AttemptFailed", then="AttemptFailed")


def test_a_task_that_goes_attempt_failed_then_completes_is_downloaded_without_resubmission(
    make_simulator, tmp_path
):
    """AttemptFailed is not final (RingCentral retries the task): keep polling, submit nothing new."""
    sim = make_simulator(export_task_seconds=2.5, extensions=4, days=3, messages_per_day=3)
    sim.faults.fail_next_exports(1, "AttemptFailed", then="Completed")
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path))
    storage = ArchiveStorage(str(tmp_path))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        (task,) = sim.exports.tasks()
        while task.status() != "AttemptFailed":
            time.sleep(0.05)
        driver = SensorDriver(defs, instance)
        assert driver.tick() == []
        entry = load_entry(storage, day)
        assert entry.state == SUBMITTED and entry.task_status == "AttemptFailed", entry.describe()
        (request,) = driver.tick_until(1)
        assert request.run_key == task.id
        result = run_download(defs, request.partition_key, instance)
        assert result.success and all(check_results(result).values())
    entry = load_entry(storage, day)
    assert entry.state == COMPLETED and entry.attempt == 1
    assert [h["status"] for h in entry.history] == ["Completed"]
    assert len(report_posts(sim)) == 1 and len(sim.exports.tasks()) == 1, "the task was submitted again"
    ids = storage.read_parquet(Dataset.MESSAGES, day).column("id").to_pylist()
    assert ids == sorted(truth_messages(sim, day))


def test_a_task_that_keeps_failing_surfaces_a_failure_naming_it(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path), messages=message_settings(max_attempts=2))
    storage = ArchiveStorage(str(tmp_path))
    # Failed after a failed attempt: only the final Failed makes us submit again.
    account.faults.fail_next_exports(5, "AttemptFailed", then="Failed")
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        driver = SensorDriver(defs, instance)
        (request,) = driver.tick_until(1)
        entry = load_entry(storage, day)
        assert entry.state == GAVE_UP and entry.attempt == 2
        assert request.run_key == entry.task_id
        result = run_download(defs, request.partition_key, instance, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.event_specific_data.error.message
    assert entry.task_id in message and "ended Failed" in message and "2 time(s)" in message
    assert [h["status"] for h in entry.history] == ["Failed", "Failed"]
    assert len(report_posts(account)) == 2
    assert not storage.exists(storage.parquet_path(Dataset.MESSAGES, day))


def test_a_task_stuck_in_progress_past_the_timeout_counts_as_failed(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=60.0)
    day = yesterday()
    # The timeout leaves room for a slow first tick on a loaded machine; the test then waits only
    # until the task is past it.
    timeout = 3.0
    defs = pipeline_for(
        sim, str(tmp_path), messages=message_settings(task_timeout_seconds=timeout, max_attempts=1)
    )
    storage = ArchiveStorage(str(tmp_path))
    with dg.instance_for_test() as instance:
        assert run_messages(defs, day, instance).success
        driver = SensorDriver(defs, instance)
        assert driver.tick() == []
        entry = load_entry(storage, day)
        assert entry.state == SUBMITTED
        past = datetime.fromisoformat(entry.submitted_at) + timedelta(seconds=timeout + 0.1)
        time.sleep(max(0.0, (past - datetime.now(UTC)).total_seconds()))
        (request,) = driver.tick()
    entry = load_entry(storage, day)
    assert entry.state == GAVE_UP and entry.task_status.startswith("TimedOut")
    assert request.run_key == entry.task_id and "TimedOut" in entry.error


def test_rerunning_a_download_changes_nothing_and_downloads_nothing(account, tmp_path):
    day = yesterday()
    defs = pipeline_for(account, str(tmp_path))
    storage = ArchiveStorage(str(tmp_path))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        (request,) = SensorDriver(defs, instance).tick_until(1)
        assert run_download(defs, request.partition_key, instance).success
        tables = {ds: storage.read_parquet(ds, day) for ds in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS)}
        files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
        before = len([e for e in account.request_log if e.host == "media"])
        assert run_download(defs, request.partition_key, instance).success
    for ds, table in tables.items():
        assert storage.read_parquet(ds, day).equals(table), f"{ds} changed on re-run"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == files
    assert len([e for e in account.request_log if e.host == "media"]) == before, "a zip was downloaded again"

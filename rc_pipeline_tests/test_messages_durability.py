"""The message store never loses what it once held, and exports are followed safely.

Re-archiving after RingCentral purged a message, trash messages, one-byte corruption, damaged zip
entries, size caps, unmatched zip content, concurrent pollers, abandoned and refused tasks, the
archive command's deadline and the re-request of a failed download run.
"""

import io
import threading
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from rc_pipeline.backfill import DaySummary, _client_and_storage, archive_messages
from rc_pipeline.defs.message_store.automation import RUN_MAX_RETRIES
from rc_pipeline.integrity import damaged_attachments
from rc_pipeline.message_store.export_state import (
    GAVE_UP,
    QUEUED,
    SUBMITTED,
    SUBMITTING,
    ExportEntry,
    LeaseBusy,
    export_lease,
    load_entry,
    save_entry,
    utc_text,
)
from rc_pipeline.message_store.export_tasks import advance_exports
from rc_pipeline.message_store.raw import extract_attachments, open_export_parts
from rc_pipeline.ringcentral import InvalidRequest, RateLimited
from rc_pipeline.simulator.timefmt import now_utc, to_ms
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.zipsafe import UnsafeZipEntry, ZipLimits
from rc_pipeline_tests.messagehelpers import SensorDriver, snapshot_extensions, truth_messages, window_of
from rc_pipeline_tests.pipelinehelpers import (
    check_results,
    message_settings,
    pipeline_for,
    run_download,
    run_messages,
    yesterday,
)


def message_with_attachments(sim: Any, day: date) -> dict:
    truth = truth_messages(sim, day)
    with_files = [m for m in truth.values() if m["attachments"] and m["availability"] == "Alive"]
    assert with_files, "the simulated day should have a message with attachments"
    return with_files[0]


def purge(sim: Any, message_id: int) -> None:
    assert sim.account.store.delete(message_id, to_ms(now_utc()), purge=True)


def assert_still_archived(storage: ArchiveStorage, day: date, message: dict) -> None:
    ids = storage.read_parquet(Dataset.MESSAGES, day).column("id").to_pylist()
    assert message["id"] in ids, "a purged message was dropped from the archive"
    table = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day)
    rows = [r for r in table.to_pylist() if r["message_id"] == message["id"]]
    assert {r["attachment_id"] for r in rows} == {a["id"] for a in message["attachments"]}
    assert all(r["status"] == "archived" and Path(r["path"]).is_file() for r in rows), rows
    assert damaged_attachments(storage, table) == ([], [])


# ---------------------------------------------------------------- 1. purged since the first run
def test_export_rerun_keeps_messages_purged_since_the_first_export(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=0.5)
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path))
    storage = ArchiveStorage(str(tmp_path))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        driver = SensorDriver(defs, instance)
        assert run_messages(defs, day, instance).success
        (first,) = driver.tick_until(1)
        assert run_download(defs, first.partition_key, instance).success
        victim = message_with_attachments(sim, day)
        purge(sim, victim["id"])
        assert victim["id"] not in truth_messages(sim, day)

        assert run_messages(defs, day, instance).success  # the completed day gets a new task
        second = driver.tick_until(2)[-1]
        assert second.run_key != first.run_key
        result = run_download(defs, second.partition_key, instance)
        assert result.success
        # listed ⊆ archived: a message purged since the first export is expected, not a failure.
        assert all(check_results(result).values()), check_results(result)
    assert (tmp_path / "raw" / "message_store_export" / f"date={day}" / f"task={first.run_key}").is_dir()
    assert_still_archived(storage, day, victim)
    ids = storage.read_parquet(Dataset.MESSAGES, day).column("id").to_pylist()
    assert ids == sorted({*truth_messages(sim, day), victim["id"]})


def test_listing_rerun_keeps_messages_purged_since_the_first_listing(make_simulator, tmp_path):
    sim = make_simulator()
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    storage = ArchiveStorage(str(tmp_path))
    assert run_messages(defs, day).success
    victim = message_with_attachments(sim, day)
    purge(sim, victim["id"])
    result = run_messages(defs, day)
    checks = check_results(result)
    assert result.success and checks["message_attachments_complete"] and checks["messages_ids_unique"]
    assert_still_archived(storage, day, victim)


# ---------------------------------------------------------------- 2. the trash
def test_listing_archives_messages_in_the_trash(make_simulator, tmp_path):
    sim = make_simulator()
    day = yesterday()
    victim = message_with_attachments(sim, day)
    assert sim.account.store.delete(victim["id"], to_ms(now_utc()), purge=False)  # to the trash
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    assert run_messages(defs, day).success
    storage = ArchiveStorage(str(tmp_path))
    rows = {r["id"]: r for r in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()}
    assert rows[victim["id"]]["availability"] == "Deleted"
    assert_still_archived(storage, day, victim)
    start, end = window_of(day)
    alive_only = {
        m["id"] for e in sim.account.extension_objects for m in sim.account.messages(e.id, start, end)
    }
    assert victim["id"] not in alive_only  # the default listing would have missed it


# ---------------------------------------------------------------- 5. same-size corruption
def test_listing_rerun_replaces_a_same_size_corrupted_attachment(make_simulator, tmp_path):
    sim = make_simulator()
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    storage = ArchiveStorage(str(tmp_path))
    assert run_messages(defs, day).success
    row = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist()[0]
    path = Path(row["path"])
    original = path.read_bytes()
    path.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])  # one byte, same size
    media = len([e for e in sim.request_log if e.host == "media"])
    assert run_messages(defs, day).success
    assert path.read_bytes() == original, "a corrupted file of the right size was trusted"
    assert len([e for e in sim.request_log if e.host == "media"]) == media + 1


# ---------------------------------------------------------------- 6. CRC error mid-extraction
def corrupt_last_entry(path: Path) -> None:
    """Flip a data byte (not a header byte) of the zip's last entry: it fails its CRC when read."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[-1]
        assert info.compress_type == zipfile.ZIP_STORED and info.file_size > 2
        name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
        extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
        start = info.header_offset + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_crc_error_mid_extraction_leaves_no_attachment_behind(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=0.5, messages_per_day=6)
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(reconcile=False))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        (request,) = SensorDriver(defs, instance).tick_until(1)
        paths = sim.exports.archive_paths(sim.exports.get(request.run_key))
        with zipfile.ZipFile(paths[1]) as zf:
            assert len(zf.infolist()) >= 2, "the good entries must come before the damaged one"
        corrupt_last_entry(Path(paths[1]))
        result = run_download(defs, request.partition_key, instance, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "CRC" in failure.event_specific_data.error.message
    content = tmp_path / "message_store" / "content"
    assert not [p for p in content.rglob("*") if p.is_file()], "attachments of a rejected export are visible"
    assert not [p for p in content.rglob(".tmp-*")], "the staging directory was left behind"


# ---------------------------------------------------------------- 7, 8. caps and unmatched entries
PREFIX = "account/1/extension/2"


def write_zip(path: Path, entries: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, body in entries.items():
            zf.writestr(name, body)
    return str(path)


def records_json(*records: dict) -> bytes:
    import json

    return json.dumps({"records": list(records)}).encode()


def test_the_export_total_and_the_json_entries_have_their_own_caps(tmp_path):
    storage = ArchiveStorage(str(tmp_path / "archive"))
    parts = [
        write_zip(tmp_path / "a0.zip", {f"{PREFIX}/message-store.json": records_json({"id": 1})}),
        write_zip(tmp_path / "a1.zip", {f"{PREFIX}/message-store/content/1/f.bin": b"x" * 4000}),
        write_zip(tmp_path / "a2.zip", {f"{PREFIX}/message-store/content/1/g.bin": b"y" * 4000}),
    ]
    per_part_ok = ZipLimits(max_total_bytes=5000, max_export_bytes=6000)
    with pytest.raises(UnsafeZipEntry, match="together"):
        with open_export_parts(storage, parts, per_part_ok):
            pass
    with pytest.raises(UnsafeZipEntry, match="in-memory cap"):
        with open_export_parts(storage, parts[:1], ZipLimits(max_json_bytes=5)):
            pass
    with open_export_parts(storage, parts, ZipLimits(max_total_bytes=5000)) as (_, contents):
        assert [r.record["id"] for r in contents.records] == [1]


def test_unmatched_zip_entries_are_reported_and_a_lone_entry_fills_a_lone_attachment(tmp_path):
    storage = ArchiveStorage(str(tmp_path / "archive"))
    records = records_json(
        {"id": 10, "attachments": [{"id": 100, "fileName": "fax.pdf", "contentType": "application/pdf"}]},
        {"id": 20, "attachments": [{"id": 200, "contentType": "audio/mpeg"}]},
    )
    parts = [
        write_zip(tmp_path / "a0.zip", {f"{PREFIX}/message-store.json": records}),
        write_zip(
            tmp_path / "a1.zip",
            {
                f"{PREFIX}/message-store/content/10/renamed.pdf": b"%PDF-fax",  # the only file of 10
                f"{PREFIX}/message-store/content/20/200": b"mp3",
                f"{PREFIX}/message-store/content/20/extra.txt": b"nobody's",
                f"{PREFIX}/message-store/content/30/orphan.bin": b"no message",
            },
        ),
    ]
    day = date(2024, 5, 1)
    with open_export_parts(storage, parts, ZipLimits()) as (zips, contents):
        extraction = extract_attachments(storage, day, zips, parts, contents, ZipLimits())
    assert sorted(extraction.index) == ["10/100", "20/200"]
    assert Path(extraction.index["10/100"].path).read_bytes() == b"%PDF-fax"
    assert extraction.absent == []
    assert extraction.matched_by_folder == [f"10/100 <- {PREFIX}/message-store/content/10/renamed.pdf"]
    assert extraction.unmatched_entries == [
        f"{PREFIX}/message-store/content/20/extra.txt",
        f"{PREFIX}/message-store/content/30/orphan.bin",
    ]


# ---------------------------------------------------------------- 3. concurrent pollers
def queued_entry(day: date, **overrides: Any) -> ExportEntry:
    start, end = window_of(day)
    now = utc_text(datetime.now(UTC))
    values: dict[str, Any] = dict(
        partition=day.isoformat(),
        window_start=utc_text(start),
        window_end=utc_text(end),
        state=QUEUED,
        requested_at=now,
        updated_at=now,
    )
    values.update(overrides)
    return ExportEntry(**values)


def slow_posts(client: Any, seconds: float) -> None:
    real = client.create_message_store_report

    def slow(*args: Any, **kwargs: Any) -> dict:
        time.sleep(seconds)  # wide enough for the other poller to read the same queued state
        return real(*args, **kwargs)

    client.create_message_store_report = slow


def test_two_concurrent_pollers_submit_a_queued_day_once(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=30.0)
    day = yesterday()
    settings = message_settings()
    defs = pipeline_for(sim, str(tmp_path), messages=settings)
    with _client_and_storage(defs) as (client, storage):
        save_entry(storage, queued_entry(day))
        slow_posts(client, 0.4)
        reports: list = []
        threads = [
            threading.Thread(
                target=lambda: reports.append(advance_exports(client, storage, settings, datetime.now(UTC)))
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(reports) == 2
        assert len(sim.exports.tasks()) == 1, "two pollers both submitted the queued day"
        entry = load_entry(storage, day)
        assert entry.state == SUBMITTED and entry.task_id == sim.exports.tasks()[0].id


def test_a_crash_between_post_and_save_is_surfaced_and_its_slot_held(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=30.0)
    day = yesterday()
    settings = message_settings(max_running_exports=1)
    defs = pipeline_for(sim, str(tmp_path), messages=settings)
    with _client_and_storage(defs) as (client, storage):
        save_entry(storage, queued_entry(day))
        real = client.create_message_store_report

        def post_then_die(*args: Any, **kwargs: Any) -> dict:
            real(*args, **kwargs)
            raise SystemExit("killed after the POST")

        client.create_message_store_report = post_then_die
        with pytest.raises(SystemExit):
            advance_exports(client, storage, settings, datetime.now(UTC))
        assert load_entry(storage, day).state == SUBMITTING
        client.create_message_store_report = real
        report = advance_exports(client, storage, settings, datetime.now(UTC))
        entry = load_entry(storage, day)
    assert entry.state == QUEUED and "orphaned task" in (entry.error or "")
    assert any("interrupted" in e for e in report.errors)
    assert len(sim.exports.tasks()) == 1, "the possibly orphaned task's slot was not held"


# ---------------------------------------------------------------- 4. timed-out tasks keep their slot
def test_a_timed_out_task_holds_its_slot_until_ringcentral_finishes_it(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=2.0)
    day = yesterday()
    settings = message_settings(max_running_exports=1, task_timeout_seconds=0.5, max_attempts=3)
    defs = pipeline_for(sim, str(tmp_path), messages=settings)
    with _client_and_storage(defs) as (client, storage):
        save_entry(storage, queued_entry(day))
        advance_exports(client, storage, settings, datetime.now(UTC))
        first = load_entry(storage, day)
        assert first.state == SUBMITTED
        time.sleep(0.7)
        advance_exports(client, storage, settings, datetime.now(UTC))
        entry = load_entry(storage, day)
        assert entry.state == QUEUED and entry.abandoned[0]["task_id"] == first.task_id
        assert len(sim.exports.tasks()) == 1, "re-submitted while the abandoned task still runs"
        deadline = time.monotonic() + 10
        while len(sim.exports.tasks()) == 1:
            assert time.monotonic() < deadline, "the abandoned task's slot was never released"
            time.sleep(0.3)
            advance_exports(client, storage, settings, datetime.now(UTC))
        entry = load_entry(storage, day)
    assert entry.abandoned == [] and entry.state == SUBMITTED and entry.attempt == 2


# ---------------------------------------------------------------- 9. refusals do not block the queue
def test_a_refused_day_fails_its_attempts_while_the_others_proceed(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=30.0)
    bad_day, good_day = yesterday() - timedelta(days=1), yesterday()
    settings = message_settings(max_attempts=2)
    defs = pipeline_for(sim, str(tmp_path), messages=settings)
    with _client_and_storage(defs) as (client, storage):
        real = client.create_message_store_report
        bad_start = window_of(bad_day)[0]

        def refuse_bad_day(date_from: datetime, date_to: datetime, **kwargs: Any) -> dict:
            if date_from == bad_start:  # e.g. a window RingCentral will not export
                raise InvalidRequest("Parameter [dateFrom] is not valid", status=400, error_code="CMN-101")
            return real(date_from, date_to, **kwargs)

        client.create_message_store_report = refuse_bad_day
        save_entry(storage, queued_entry(bad_day))
        save_entry(storage, queued_entry(good_day))
        advance_exports(client, storage, settings, datetime.now(UTC))
        assert load_entry(storage, good_day).state == SUBMITTED, "one refused day blocked the queue"
        report = advance_exports(client, storage, settings, datetime.now(UTC))
        bad = load_entry(storage, bad_day)
    assert bad.state == GAVE_UP and bad.attempt == 2 and "CMN-101" in (bad.error or "")
    assert bad_day.isoformat() in {e.partition for e in report.final}
    assert len(sim.exports.tasks()) == 1


class RateLimitedClient:
    def create_message_store_report(self, *_: Any, **__: Any) -> dict:
        raise RateLimited("slow down", status=429, error_code="CMN-301")


def test_a_rate_limited_submission_stays_queued_without_spending_an_attempt(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    day = yesterday()
    save_entry(storage, queued_entry(day))
    settings = message_settings(max_attempts=1)
    for _ in range(3):
        advance_exports(RateLimitedClient(), storage, settings, datetime.now(UTC))  # type: ignore[arg-type]
    entry = load_entry(storage, day)
    assert entry.state == QUEUED and entry.attempt == 0 and "free export slot" in (entry.error or "")


def test_the_archive_command_stops_waiting_at_its_deadline_naming_the_days(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=60.0)
    day = yesterday().isoformat()
    defs = pipeline_for(
        sim, str(tmp_path), messages=message_settings(archive_deadline_seconds=0.5, reconcile=False)
    )
    summaries = {day: DaySummary(day)}
    started = time.monotonic()
    with dg.instance_for_test() as instance:
        archive_messages(defs, summaries, instance, {}, show_progress=False)
    assert time.monotonic() - started < 20
    (failure,) = summaries[day].failures
    assert "still pending" in failure and day in failure


# ---------------------------------------------------------------- 12. a failed download is retried
def test_the_sensor_requests_a_failed_download_again(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=0.5)
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(reconcile=False))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        driver = SensorDriver(defs, instance)
        (request,) = driver.tick_until(1)
        assert request.tags["dagster/max_retries"] == RUN_MAX_RETRIES
        paths = sim.exports.archive_paths(sim.exports.get(request.run_key))
        good = Path(paths[0]).read_bytes()
        Path(paths[0]).write_bytes(good[: len(good) // 2])  # the download run fails on it
        failed = run_download(
            defs, day.isoformat(), instance, raise_on_error=False, tags={"dagster/run_key": request.run_key}
        )
        assert not failed.success
        (again,) = driver.tick()
        assert again.run_key != request.run_key and again.partition_key == day.isoformat()
        assert driver.tick() == [], "re-requested before the new run even ran"
        Path(paths[0]).write_bytes(good)
        for leftover in (tmp_path / "raw" / "message_store_export").rglob("archive_0.zip"):
            leftover.unlink()  # the truncated copy kept as received would be reused
        assert run_download(defs, day.isoformat(), instance, tags={"dagster/run_key": again.run_key}).success
        assert driver.tick() == [], "a committed download was requested again"


def test_the_lease_on_an_fsspec_root_is_exclusive_and_a_stale_one_expires():
    storage = ArchiveStorage("memory://lease-test/root")
    with export_lease(storage):
        with pytest.raises(LeaseBusy):
            with export_lease(storage, wait_seconds=0.3):
                pass
    assert not storage.exists(storage.export_lease_path()), "the lease was not released"
    with export_lease(storage, ttl_seconds=0.1):
        time.sleep(0.3)  # its holder "died": the lease expires
        with export_lease(storage, wait_seconds=1.0):
            pass

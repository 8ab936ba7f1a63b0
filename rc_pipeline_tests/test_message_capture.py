"""Capture within minutes (message side): message-sync into the capture layer, merged into the day's tables."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from rc_pipeline.days import day_window
from rc_pipeline.defs.names import MESSAGE_CAPTURE_SENSOR
from rc_pipeline.message_store.capture import (
    CaptureReport,
    SyncState,
    capture_messages,
    full_sync_start,
    load_state,
    save_state,
)
from rc_pipeline.message_store.captured import capture_files, captured_records
from rc_pipeline.message_store.coverage import capture_vouches_for
from rc_pipeline.message_store.fetch import fetch_listing
from rc_pipeline.message_store.tables import write_message_tables
from rc_pipeline.plan import GroupLimit, Volume, capture_cost, format_plan, make_plan
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.verification import MESSAGE_CHECKS, verify_day
from rc_pipeline_tests.clienthelpers import client_for
from rc_pipeline_tests.pipelinehelpers import pipeline_for

TZ = "UTC"
LIMITS = ZipLimits()


def capture(
    sim: Any, storage: ArchiveStorage, client: Any = None, since: datetime | None = None, **kwargs: Any
) -> CaptureReport:
    """One capture run at the simulator's now; a first (full) sync from ``since``, else the lookback's start."""
    now = sim.clock.now()
    return capture_messages(
        client or client_for(sim, throttle_dir=None),
        storage,
        timezone=TZ,
        full_sync_from=since or full_sync_start(now, TZ, 2),
        progress=lambda _: None,
        now=now,
        **kwargs,
    )


def archive_day_by_listing(sim: Any, storage: ArchiveStorage, day: date) -> None:
    """The daily listing of a day, then its tables (what `archive_messages_daily` does, without Dagster)."""
    window = day_window(day, TZ)
    fetch_listing(client_for(sim, throttle_dir=None), storage, day, window.start, window.end, lambda _: None)
    write_message_tables(storage, window, export=False, limits=LIMITS)


def snapshot_extensions(sim: Any, storage: ArchiveStorage) -> None:
    """An `extensions` snapshot of the simulated directory (what the `extensions` asset writes: ids)."""
    ids = sorted(e.id for e in sim.account.extension_objects)
    storage.write_parquet(
        Dataset.EXTENSIONS, sim.clock.now().date(), pa.table({"id": pa.array(ids, pa.int64())})
    )


# ------------------------------------------------------------------------------------ no simulator


def test_plan_shows_what_the_capture_costs():
    light = GroupLimit(50, 60.0)
    five = capture_cost(100, 5, light)
    assert five.light_per_day == 288 * 100
    assert five.light_share_of_day == pytest.approx(0.4)
    assert five.seconds_per_capture == pytest.approx(120.0)
    assert five.keeps_cadence
    assert not capture_cost(300, 5, light).keeps_cadence  # 300 syncs need 6 minutes of Light
    assert capture_cost(100, None, light).light_per_day == 100  # the daily capture only
    volume = Volume(days=10, calls_per_day=500, recordings_per_day=100, extensions=100)
    plan = make_plan(volume, {}, date(2026, 1, 1), date(2026, 1, 10), capture_minutes=5)
    assert next(g for g in plan.daily if g.group == "Light").requests == 28_800
    text = format_plan(plan)
    assert "Message capture every 5 min: 28,800 Light requests/day" in text
    assert "1 Medium request per attachment" in text


def test_sensor_skips_with_a_reason_when_capture_is_off(simulator, tmp_path):
    defs = pipeline_for(simulator, str(tmp_path))
    # The daily capture of today already ran: every other tick skips and says why.
    cursor = json.dumps({"last_capture": datetime.now(UTC).isoformat()})
    with dg.instance_for_test() as instance:
        sensor = defs.resolve_sensor_def(MESSAGE_CAPTURE_SENSOR)
        assert sensor.minimum_interval_seconds == 15 * 60
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=dict(defs.resources), definitions=defs
        ) as context:
            result = sensor(context)
    reason = result.skip_message if isinstance(result, dg.SkipReason) else None
    assert reason and "RC_CAPTURE_MINUTES" in reason and "off" in reason
    assert not any(e.path.endswith("/message-sync") for e in simulator.request_log)
    assert not (tmp_path / "raw" / "message_capture").exists()


def test_lookback_day_is_exported_again_only_when_the_capture_cannot_vouch_for_it(simulator, tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    defs = pipeline_for(simulator, str(tmp_path), lookback_days=2)
    now = simulator.clock.now()
    today = now.date()
    lookback_day = today - timedelta(days=2)

    def requested() -> list[str]:
        # Definitions are resolved inside the test instance: Dagster ties them to the current one.
        with dg.instance_for_test() as instance:
            schedule = defs.resolve_schedule_def("daily_message_archive")
            # Entered and left: a context left open keeps Dagster's current state storage pointing at a
            # dead instance, which breaks every later test that loads definitions.
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=now,
                repository_def=defs.get_repository_def(),
                resources=dict(defs.resources),
            ) as context:
                return [r.partition_key for r in schedule.evaluate_tick(context).run_requests]

    everything = [(today - timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    assert requested() == everything  # nothing captured yet: the lookback is the safety net
    archive_day_by_listing(simulator, storage, lookback_day)
    ids = sorted(e.id for e in simulator.account.extension_objects)
    snapshot_extensions(simulator, storage)  # names the mailboxes the capture must vouch for
    chain = dict(
        chain_started_at=(now - timedelta(days=5)).isoformat(),
        date_from=(now - timedelta(days=8)).isoformat(),
        last_sync_at=(now - timedelta(minutes=5)).isoformat(),
    )
    for extension_id in ids:
        save_state(storage, SyncState(extension_id=extension_id, sync_token="t", **chain))
    covered, why = capture_vouches_for(storage, day_window(lookback_day, TZ), now)
    assert covered, why
    assert requested() == [everything[0], everything[2]]  # the vouched-for day is not exported again
    # A chain that began after the day's fetch (MSG-333 -> full sync) cannot vouch for it.
    later = datetime.now(UTC) + timedelta(minutes=1)
    save_state(
        storage,
        SyncState(extension_id=ids[0], sync_token="t", **{**chain, "chain_started_at": later.isoformat()}),
    )
    assert requested() == everything
    # Nor can a capture that stopped a day and more ago.
    save_state(
        storage,
        SyncState(
            extension_id=ids[0],
            sync_token="t",
            **{**chain, "last_sync_at": (now - timedelta(hours=27)).isoformat()},
        ),
    )
    covered, why = capture_vouches_for(storage, day_window(lookback_day, TZ), now)
    assert not covered and "stale" in why


def test_erasing_an_extension_removes_its_captures(tmp_path):
    from rc_pipeline.message_store.captured import (
        CaptureFile,
        captured_attachment_index,
        captured_records,
        erase_captured,
        write_capture_manifest,
    )

    storage = ArchiveStorage(str(tmp_path))
    day = date(2026, 3, 10)
    files = []
    for extension_id, message_id in ((11, 1), (22, 2)):
        record = {"id": message_id, "creationTime": "2026-03-10T08:00:00.000Z", "attachments": [{"id": 5}]}
        body = json.dumps({"records": [record], "syncInfo": {"syncToken": "x"}}).encode()
        path = storage.capture_file_path(day, extension_id, "20260310T090000000000Z")
        size, sha256, responses, records = storage.write_capture_file(path, [body])
        files.append(
            CaptureFile(path, extension_id, "20260310T090000000000Z", size, sha256, responses, records)
        )
        content = storage.message_attachment_path(day, message_id, 5, "png")
        storage.atomic_write_bytes(content, b"png")
        index = captured_attachment_index(storage, day)
        index[f"{message_id}/5"] = {"path": content, "bytes": 3, "sha256": storage.file_sha256(content)}
        storage.write_json(storage.attachment_index_path(Dataset.RAW_MESSAGE_CAPTURE, day), index)
        save_state(storage, SyncState(extension_id, "t", "2026-03-10T00:00:00+00:00", "x", "y"))
    write_capture_manifest(storage, day, files)

    erased = erase_captured(storage, 11)
    assert erased.message_ids == {1} and erased.state_removed and erased.index_entries == 1
    window = day_window(day, TZ)
    assert [r.record["id"] for r in captured_records(storage, window)] == [2]
    assert set(captured_attachment_index(storage, day)) == {"2/5"}
    assert not storage.exists(files[0].path) and storage.exists(files[1].path)
    assert not storage.exists(storage.message_attachment_path(day, 1, 5, "png"))
    assert storage.exists(storage.message_attachment_path(day, 2, 5, "png"))
    assert not storage.exists(storage.capture_state_path(11)) and storage.exists(
        storage.capture_state_path(22)
    )


# ------------------------------------------------------------------------------- against the simulator


def archive_day_by_export(sim: Any, storage: ArchiveStorage, day: date) -> None:
    """The daily export of a day, then its tables (what the export task, sensor and download run do)."""
    import time

    from rc_pipeline.message_store.export_state import COMPLETED, load_entry
    from rc_pipeline.message_store.export_tasks import advance_exports, request_export
    from rc_pipeline.message_store.fetch import fetch_export
    from rc_pipeline_tests.pipelinehelpers import message_settings

    client, settings, window = client_for(sim, throttle_dir=None), message_settings(), day_window(day, TZ)
    request_export(client, storage, settings, window.start, window.end, day.isoformat(), datetime.now(UTC))
    deadline = time.monotonic() + 30
    while (entry := load_entry(storage, day)) is not None and entry.state != COMPLETED:
        assert time.monotonic() < deadline, entry.describe()
        time.sleep(0.1)
        advance_exports(client, storage, settings, datetime.now(UTC))
    fetch_export(
        client, storage, day, str(entry.task_id), (entry.window_start, entry.window_end), LIMITS, print
    )
    write_message_tables(storage, window, export=True, limits=LIMITS)


def purged_within_the_hour(sim: Any, day: date, seen_at: list[datetime]) -> tuple[list[dict], list[dict]]:
    """Messages of ``day`` their users purged within the hour: (those a capture at ``seen_at`` saw
    alive, those purged before any capture came by)."""
    window = day_window(day, TZ)
    caught, missed = [], []
    for ext in sim.account.extension_objects:
        for message in sim.account.messages(ext.id, window.start, window.end, ("Alive", "Deleted", "Purged")):
            deletion = sim.account.message_deletion(message["id"])
            if deletion is None or deletion.rule != "user_purge" or message["availability"] != "Purged":
                continue
            created = datetime.fromisoformat(message["creationTime"].replace("Z", "+00:00"))
            assert deletion.at - created <= timedelta(hours=1)
            seen = any(created <= t < deletion.at for t in seen_at)
            (caught if seen else missed).append(message)
    return caught, missed


@pytest.mark.parametrize("source", ["listing", "export"])
def test_message_purged_within_the_hour_is_archived_with_capture_on_and_lost_with_it_off(
    make_simulator, tmp_path, source
):
    sim = make_simulator(
        extensions=2,
        days=1,
        messages_per_day=80,
        user_purge_share=0.7,
        user_purge_within_hours=1.0,
        export_task_seconds=0.2,
    )
    on, off = ArchiveStorage(str(tmp_path / "on")), ArchiveStorage(str(tmp_path / "off"))
    client = client_for(sim, throttle_dir=None)
    # The day starts five minutes after (simulated) midnight, so the test does not depend on the hour it runs.
    start = sim.clock.now()
    day = start.date() + timedelta(days=1)
    sim.advance(seconds=(day_window(day, TZ).start + timedelta(minutes=5) - start).total_seconds())
    seen_at = []
    # Capture on: every 10 minutes for two hours (the first run is a full sync). Capture off: nothing.
    for step in range(13):
        if step:
            sim.advance(minutes=10)
        seen_at.append(sim.clock.now())
        capture(sim, on, client, since=day_window(day, TZ).start)
    # The next morning the day is archived as every day, on both archives.
    sim.advance(days=1)
    archive = archive_day_by_export if source == "export" else archive_day_by_listing
    archive(sim, on, day)
    archive(sim, off, day)

    caught, _ = purged_within_the_hour(sim, day, seen_at)
    with_content = [m for m in caught if m.get("attachments")]
    assert caught and with_content, "the simulated day has no purged message a capture saw"
    table_on = {r["id"]: r for r in on.read_parquet(Dataset.MESSAGES, day).to_pylist()}
    table_off = {r["id"] for r in off.read_parquet(Dataset.MESSAGES, day).to_pylist()}
    attachments_on = on.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist()
    for message in caught:
        assert message["id"] in table_on, f"purged message {message['id']} lost with capture on"
        assert message["id"] not in table_off, f"purged message {message['id']} archived without capture"
        if sim.account.message_deletion(message["id"]).at <= seen_at[-1]:
            # A capture saw the purge too: the row says what happened at the source, the content stays.
            assert table_on[message["id"]]["availability"] == "Purged"
    for message in with_content:
        rows = [a for a in attachments_on if a["message_id"] == message["id"]]
        assert len(rows) == len(message["attachments"])
        for row in rows:
            assert row["status"] == "archived" and on.verify_file(row["path"], row["bytes"], row["sha256"]).ok
            # The content as the simulator served it before the purge (it answers 404 now).
            created_ms = round(
                datetime.fromisoformat(message["creationTime"].replace("Z", "+00:00")).timestamp() * 1000
            )
            body = sim.account.store.attachment(row["message_id"], row["attachment_id"], created_ms + 1)
            assert Path(row["path"]).read_bytes() == body.read_all()
    window = day_window(day, TZ)
    for storage in (on, off):
        snapshot_extensions(sim, storage)
        verdict = verify_day(storage, window, MESSAGE_CHECKS)
        assert verdict.passed, verdict.describe()

    # Re-running the day gives the same tables.
    before = {ds: on.read_parquet(ds, day) for ds in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS)}
    write_message_tables(on, window, export=source == "export", limits=LIMITS)
    for ds, table in before.items():
        assert on.read_parquet(ds, day).equals(table), f"{ds} changed on a re-run"
    # A later capture reports the day's later purges: rows change state, none is lost.
    capture(sim, on, client)
    write_message_tables(on, window, export=source == "export", limits=LIMITS)
    after = on.read_parquet(Dataset.MESSAGES, day)
    assert set(before[Dataset.MESSAGES].column("id").to_pylist()) <= set(after.column("id").to_pylist())
    assert verify_day(on, window, MESSAGE_CHECKS).passed


class KeepSyncResponses:
    """A transport that keeps every message-sync response (with its request) the client received."""

    def __init__(self) -> None:
        import httpx

        self.inner = httpx.HTTPTransport(retries=0)
        self.responses: list[Any] = []

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/message-sync"):
            response.read()
            self.responses.append(response)
        return response

    def close(self) -> None:
        self.inner.close()


def test_full_sync_again_after_msg_333_and_responses_kept_as_received(
    make_simulator, tmp_path, openapi_validate
):
    from rc_pipeline.storage import page_line

    sim = make_simulator(extensions=2, days=1, messages_per_day=30)
    storage = ArchiveStorage(str(tmp_path))
    transport = KeepSyncResponses()
    client = client_for(sim, throttle_dir=None, transport=transport)
    # Out of time for attachments (a sensor tick's budget): they wait, and the next capture takes them.
    first = capture(sim, storage, client, attachment_seconds=0)
    assert first.full_syncs == 2 and not first.full_sync_required
    assert first.attachments_deferred and not first.attachments_downloaded
    sim.advance(minutes=30)
    second = capture(sim, storage, client)
    assert second.incremental_syncs == 2 and second.full_syncs == 0
    assert second.attachments_downloaded >= first.attachments_deferred and not second.attachments_deferred

    # A token RingCentral no longer accepts: 400 MSG-333, the capture syncs that mailbox in full again.
    extension_id = sorted(e.id for e in sim.account.extension_objects)[0]
    stale = load_state(storage, extension_id)
    save_state(storage, SyncState(**{**stale.__dict__, "sync_token": "not-a-token-of-ours"}))
    held = {
        r.record["id"]
        for d in storage.list_partitions(Dataset.RAW_MESSAGE_CAPTURE)
        for r in captured_records(storage, day_window(d, TZ))
    }
    sim.advance(minutes=30)
    third = capture(sim, storage, client)
    assert (
        third.full_sync_required == [extension_id] and third.full_syncs == 1 and third.incremental_syncs == 1
    )
    restarted = load_state(storage, extension_id)
    assert restarted.full_syncs == 2 and restarted.chain_started_at > stale.chain_started_at
    assert [r.status_code for r in transport.responses].count(400) == 1
    refused = next(r for r in transport.responses if r.status_code == 400)
    assert refused.json()["errorCode"] == "MSG-333"
    # Nothing lost: every message captured before is still there, and every message alive in the
    # mailbox now (from the full sync's start) was captured.
    days = storage.list_partitions(Dataset.RAW_MESSAGE_CAPTURE)
    now_held = {r.record["id"] for d in days for r in captured_records(storage, day_window(d, TZ))}
    assert held <= now_held
    now = sim.clock.now()
    alive = sim.account.messages(extension_id, full_sync_start(now, TZ, 2), now + timedelta(seconds=1))
    assert alive and {m["id"] for m in alive} <= now_held
    fourth = capture(sim, storage, client)
    assert fourth.incremental_syncs == 2 and not fourth.full_sync_required

    # Every response is valid against the spec, and each one with records is stored byte for byte
    # (one line per response; see `page_line`) in every day it holds messages of.
    stored: set[bytes] = set()
    for day in days:
        for file in capture_files(storage, day):
            assert storage.verify_file(file.path, file.bytes, file.sha256).ok
            with gzip.open(file.path) as handle:
                stored |= set(handle.read().splitlines())
    with_records = [r for r in transport.responses if r.status_code == 200 and r.json()["records"]]
    assert with_records
    for response in transport.responses:
        if response.status_code == 200:
            openapi_validate(response)
    for response in with_records:
        assert page_line(response.content) in stored
    requests = [dict(r.request.url.params) for r in transport.responses]
    assert {"syncType": "FSync", "dateFrom": requests[0]["dateFrom"], "recordCount": "1000"} == requests[0]
    assert all(set(q) == {"syncType", "syncToken"} for q in requests if q["syncType"] == "ISync")


def test_capture_sensor_captures_and_rebuilds_the_archived_days_it_added_to(
    make_simulator, tmp_path, monkeypatch
):
    from rc_pipeline.definitions import build_definitions
    from rc_pipeline.defs.names import MESSAGE_DAY_TAG, MESSAGE_REBUILD_JOB
    from rc_pipeline.defs.resources import close_shared_clients, simulator_resources
    from rc_pipeline.settings import PipelineSettings
    from rc_pipeline_tests.pipelinehelpers import check_results, message_settings, yesterday

    sim = make_simulator(extensions=2, days=3, messages_per_day=6)
    close_shared_clients()
    day = yesterday()
    config = PipelineSettings(
        timezone=TZ,
        start_date=(day - timedelta(days=10)).isoformat(),
        schedule_hour=2,
        lookback_days=2,
        capture_minutes=5,
    )
    defs = build_definitions(
        config, resources=simulator_resources(sim, str(tmp_path)), messages=message_settings(source="listing")
    )
    storage = ArchiveStorage(str(tmp_path))
    snapshot_extensions(sim, storage)
    archive_day_by_listing(sim, storage, day)  # what the day's run did
    with dg.instance_for_test() as instance:
        sensor = defs.resolve_sensor_def(MESSAGE_CAPTURE_SENSOR)
        assert sensor.minimum_interval_seconds == 300

        def tick(cursor: str | None) -> dg.SensorResult:
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=dict(defs.resources), definitions=defs
            ) as context:
                result = sensor(context)
            assert isinstance(result, dg.SensorResult), result
            return result

        # The first capture (a full sync from the lookback's start) adds to yesterday, which is archived.
        first = tick(None)
        requested = {r.partition_key: r.run_key for r in first.run_requests}
        assert list(requested) == [day.isoformat()]  # today has no tables yet: nothing to rebuild
        cursor = json.loads(first.cursor)
        signature = storage.capture_signature(day)
        assert cursor["captures"] == 1 and requested[day.isoformat()] == f"capture:{day}:{signature}"
        assert first.run_requests[0].tags[MESSAGE_DAY_TAG] == day.isoformat()
        # A tick whose capture fails asks for the same rebuild all the same: what is due is read from
        # the archive, not from the capture that failed.
        import rc_pipeline.defs.message_store.capture as capture_sensor

        def failing_capture(*args, **kwargs):
            raise RuntimeError("message-sync answered 503 three times")

        with monkeypatch.context() as patch:
            patch.setattr(capture_sensor, "capture_messages", failing_capture)
            failed = tick(first.cursor)
        assert [r.run_key for r in failed.run_requests] == [requested[day.isoformat()]]
        mark = len(sim.request_log)
        rebuild = defs.resolve_job_def(MESSAGE_REBUILD_JOB).execute_in_process(
            partition_key=day.isoformat(), instance=instance
        )
        checks = check_results(rebuild)
        assert rebuild.success and checks and all(checks.values()), checks
        assert storage.messages_built_from(day) == signature
        assert len(sim.request_log) == mark  # a rebuild asks RingCentral nothing
        # Nothing changed since: the next tick says so and requests nothing.
        second = tick(first.cursor)
        assert not second.run_requests and "no archived day to rebuild" in (
            second.skip_reason.skip_message or ""
        )
        assert json.loads(second.cursor)["captures"] == 2

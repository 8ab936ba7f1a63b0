"""The per-extension listing path, and that it writes exactly the tables the export path writes."""

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from rc_pipeline.backfill import run_archive
from rc_pipeline.settings import MessageStoreSettings, SettingsError
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.messagehelpers import SensorDriver, snapshot_extensions, truth_messages, window_of
from rc_pipeline_tests.pipelinehelpers import (
    check_results,
    message_settings,
    pipeline_for,
    run_download,
    run_messages,
    yesterday,
)


def message_store_requests(sim) -> list:
    return [e for e in sim.request_log if e.path.endswith("/message-store")]


def test_export_and_listing_write_the_same_tables(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=0.8)
    day = yesterday()
    storage = ArchiveStorage(str(tmp_path))
    export_defs = pipeline_for(sim, str(tmp_path))
    with dg.instance_for_test() as instance:
        snapshot_extensions(export_defs, instance)
        assert run_messages(export_defs, day, instance).success
        (request,) = SensorDriver(export_defs, instance).tick_until(1)
        assert run_download(export_defs, request.partition_key, instance).success
    exported = {ds: storage.read_parquet(ds, day) for ds in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS)}
    assert exported[Dataset.MESSAGES].num_rows == len(truth_messages(sim, day))

    sim.request_log.clear()
    listing_defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    assert "message_store_export_sensor" not in {s.name for s in listing_defs.sensors}
    result = run_messages(listing_defs, day)
    assert result.success and all(check_results(result).values()), check_results(result)
    for ds, table in exported.items():
        listed = storage.read_parquet(ds, day)
        assert listed.equals(table), f"{ds} differs between the export and the listing path"

    # The listing asked every extension for the exact window, every type, 1000 per page.
    requests = message_store_requests(sim)
    assert len({r.path for r in requests}) == len(sim.account.extension_objects)
    start, end = window_of(day)
    for r in requests:
        assert "perPage=1000" in r.query
        assert "dateFrom=" + start.strftime("%Y-%m-%dT%H") in r.query.replace("%3A", ":")
        assert "dateTo=" + end.strftime("%Y-%m-%dT%H") in r.query.replace("%3A", ":")
        for kind in ("Fax", "SMS", "VoiceMail", "Pager"):
            assert f"messageType={kind}" in r.query
    assert not any("message-store-report" in e.path for e in sim.request_log), "listing used the export"
    # Attachments came from the attachment-content endpoint, byte-identical to the export's.
    assert any("/content/" in e.path and e.host == "media" for e in sim.request_log)
    for row in storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist():
        body, _ = sim.account.attachment_content(row["message_id"], row["attachment_id"])
        assert Path(row["path"]).read_bytes() == body


def test_listing_rerun_downloads_nothing_and_damaged_attachment_is_flagged(make_simulator, tmp_path):
    sim = make_simulator()
    day = yesterday()
    storage = ArchiveStorage(str(tmp_path))
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    assert run_messages(defs, day).success
    first = storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day)
    media = len([e for e in sim.request_log if e.host == "media"])
    assert run_messages(defs, day).success
    assert storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).equals(first)
    assert len([e for e in sim.request_log if e.host == "media"]) == media, (
        "an archived attachment was fetched again"
    )

    victim = first.to_pylist()[0]
    Path(victim["path"]).write_bytes(b"tampered")
    from rc_pipeline.integrity import damaged_attachments

    missing, damaged = damaged_attachments(storage, first)
    assert (missing, damaged) == ([], [f"{victim['message_id']}/{victim['attachment_id']}"])


def test_archive_command_covers_the_message_store_through_the_exports(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=10, export_task_seconds=0.8, days=5)
    # The first task fails an attempt and completes anyway (no new task); the second fails.
    sim.faults.fail_next_exports(1, "AttemptFailed", then="Completed")
    sim.faults.fail_next_exports(1, "Failed")
    end = yesterday()
    start = end - timedelta(days=2)
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(reconcile=False))
    summaries = run_archive(defs, start, end, instance=dg.DagsterInstance.ephemeral(), show_progress=False)
    assert all(not s.failures for s in summaries), [s.failures for s in summaries]
    days = [start + timedelta(days=n) for n in range(3)]
    assert [s.messages for s in summaries] == [len(truth_messages(sim, d)) for d in days]
    assert len(sim.exports.tasks()) == 4  # three days and one retry, of the Failed task only
    assert sorted(t.final_status for t in sim.exports.tasks()) == ["Completed"] * 3 + ["Failed"]
    storage = ArchiveStorage(str(tmp_path))
    assert storage.list_partitions(Dataset.MESSAGES) == days
    from rc_pipeline.warehouse import query

    _, rows = query(storage.warehouse_path, "SELECT count(*) FROM messages")
    assert rows[0][0] == sum(s.messages for s in summaries)
    _, rows = query(storage.warehouse_path, "SELECT sum(messages) FROM mart_daily_messages")
    assert rows[0][0] == sum(s.messages for s in summaries)
    truth = [m for d in days for m in truth_messages(sim, d).values()]
    _, rows = query(storage.warehouse_path, "SELECT sum(pages) FROM mart_fax_pages")
    truth_pages = sum(m.get("faxPageCount") or 0 for m in truth if m["type"] == "Fax")
    assert rows[0][0] == truth_pages
    _, rows = query(
        storage.warehouse_path, "SELECT coalesce(sum(unread_voicemails), 0) FROM mart_unread_voicemails"
    )
    # The mart counts what fills a mailbox: voicemails in the trash (now archived too) do not.
    assert rows[0][0] == sum(
        1
        for m in truth
        if m["type"] == "VoiceMail" and m["readStatus"] == "Unread" and m["availability"] == "Alive"
    )
    _, rows = query(storage.warehouse_path, "SELECT sum(minutes) * 60 FROM mart_voicemail_minutes")
    seconds = sum(
        a.get("vmDuration") or 0 for m in truth for a in m["attachments"] if a["type"] == "AudioRecording"
    )
    assert round(rows[0][0]) == seconds


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RC_MESSAGE_SOURCE": "imap"}, "RC_MESSAGE_SOURCE"),
        ({"RC_EXPORT_MAX_ATTEMPTS": "0"}, "RC_EXPORT_MAX_ATTEMPTS"),
        ({"RC_EXPORT_TIMEOUT_MINUTES": "soon"}, "RC_EXPORT_TIMEOUT_MINUTES"),
        ({"RC_MESSAGE_RECONCILE": "maybe"}, "RC_MESSAGE_RECONCILE"),
    ],
)
def test_bad_message_settings_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        MessageStoreSettings.from_env(env)
    good = MessageStoreSettings.from_env({"RC_MESSAGE_SOURCE": "listing", "RC_EXPORT_TIMEOUT_MINUTES": "30"})
    assert good.source == "listing" and good.task_timeout_seconds == 1800

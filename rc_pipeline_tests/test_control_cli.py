"""Control at the source from the command line, end to end against the simulator."""

from __future__ import annotations

import os

import pytest

from rc_pipeline.cli import main
from rc_pipeline.control import audit
from rc_pipeline.storage import Dataset
from rc_pipeline_tests.controlhelpers import (
    archive_one_day,
    dangerous_requests,
    deleted_message_ids,
    source_messages,
)


@pytest.fixture
def configured(make_simulator, tmp_path, monkeypatch):
    sim = make_simulator(messages_per_day=3)
    root = str(tmp_path / "archive")
    archived = archive_one_day(sim, root, calls=False)
    for var in [v for v in os.environ if v.startswith("RC_")]:
        monkeypatch.delenv(var)
    for var, value in {
        "RC_SERVER_URL": sim.base_url,
        "RC_MEDIA_URL": sim.media_url,
        "RC_CLIENT_ID": sim.client_id,
        "RC_CLIENT_SECRET": sim.client_secret,
        "RC_JWT": sim.jwt,
        "RC_ARCHIVE_ROOT": root,
        "RC_THROTTLE_DIR": "none",
        "RC_OPERATOR": "records-team",
    }.items():
        monkeypatch.setenv(var, value)
    sim.request_log.clear()
    return archived


def test_hold_purge_restore_and_audit_from_the_command_line(configured, capsys):
    sim, storage, day = configured.sim, configured.storage, configured.day
    held_ext = storage.read_parquet(Dataset.MESSAGES, day).column("extension_id").to_pylist()[0]
    assert main(["hold", "add", "--reason", "case 9", "--extension", str(held_ext)]) == 0
    hold_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["hold", "list"]) == 0 and hold_id in capsys.readouterr().out

    assert main(["purge", "--start", day.isoformat(), "--end", day.isoformat()]) == 0
    dry = capsys.readouterr().out
    assert "Dry run: nothing was deleted" in dry and hold_id in dry
    assert deleted_message_ids(sim) == []

    assert main(["purge", "--start", day.isoformat(), "--end", day.isoformat(), "--execute"]) == 0
    assert "deleted" in capsys.readouterr().out
    deleted = set(deleted_message_ids(sim))
    held = {
        str(m["id"])
        for m in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
        if m["extension_id"] == held_ext
    }
    assert deleted and not deleted & held
    assert dangerous_requests(sim) == []

    outcome = next(e for e in audit.read_entries(storage) if e.action == "delete_outcome")
    assert outcome.operator == "records-team"
    assert main(["restore", str(outcome.seq)]) == 0
    assert "Dry run: nothing was restored" in capsys.readouterr().out
    assert all(source_messages(sim, day)[i]["availability"] == "Deleted" for i in outcome.ids)
    assert main(["restore", str(outcome.seq), "--execute"]) == 0
    assert "restored" in capsys.readouterr().out
    assert all(source_messages(sim, day)[i]["availability"] == "Alive" for i in outcome.ids)

    assert main(["hold", "release", hold_id, "--reason", "case closed"]) == 0
    assert main(["audit", "list"]) == 0 and "delete_outcome" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0 and "intact" in capsys.readouterr().out
    entry = storage.audit_entry_paths()[2]
    with open(entry, "r+", encoding="utf-8") as fh:
        text = fh.read().replace("records-team", "someone-else")
        fh.seek(0)
        fh.write(text)
        fh.truncate()
    assert main(["audit", "verify"]) == 1
    assert "entry 2 was edited" in capsys.readouterr().err


def test_bad_input_is_refused_with_a_message_and_nothing_sent(configured, capsys):
    sim, day = configured.sim, configured.day
    with pytest.raises(SystemExit) as exit_info:
        main(["purge", "--start", day.isoformat(), "--end", day.isoformat(), "--mode", "shred"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["purge", "--start", day.isoformat(), "--end", day.isoformat(), "--types", "Email"])
    assert exit_info.value.code == 2 and "unknown type(s) Email" in capsys.readouterr().err
    assert main(["hold", "release", "hold-nope", "--reason", "x"]) == 2
    assert "no hold" in capsys.readouterr().err
    assert main(["restore", "999"]) == 2
    assert "not a purge" in capsys.readouterr().err
    assert not [e for e in sim.request_log if e.method in ("DELETE", "PUT", "PATCH")]


def test_erase_dry_run_from_the_command_line_changes_nothing(configured, capsys):
    sim, storage, day = configured.sim, configured.storage, configured.day
    ext = storage.read_parquet(Dataset.MESSAGES, day).column("extension_id").to_pylist()[0]
    assert main(["erase", "--extension", str(ext)]) == 0
    out = capsys.readouterr().out
    assert "Dry run" in out
    assert not [e for e in sim.request_log if e.method in ("DELETE", "PUT", "PATCH")]

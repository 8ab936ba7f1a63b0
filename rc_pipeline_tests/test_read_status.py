"""Read status at the source: explicit ids only, at most 50 per request, a 207's outcome per id, audited."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import dagster as dg
import pytest

from rc_pipeline.control import audit
from rc_pipeline.control.read_status import ReadStatusError, mark_messages, messages_command
from rc_pipeline.defs.resources import close_shared_clients
from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings, ServerError
from rc_pipeline.simulator.timefmt import now_utc, to_ms
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.messagehelpers import snapshot_extensions
from rc_pipeline_tests.pipelinehelpers import message_settings, pipeline_for, run_messages, yesterday

TZ = "UTC"
# A message id no mailbox has (the simulator answers 404 CMN-102 for it).
UNKNOWN_ID = "999999999999"


def client_for(sim: Any) -> RingCentralClient:
    return RingCentralClient(
        RingCentralSettings(
            server_url=sim.base_url,
            media_url=sim.media_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            jwt=sim.jwt,
        ),
        throttle_dir=None,
    )


def mailbox_messages(sim: Any, extension_id: int, days: int = 10) -> list[dict]:
    """Every live message of a mailbox, as the simulated account holds it (no request logged)."""
    end = datetime.now(UTC) + timedelta(minutes=1)
    return sim.account.messages(extension_id, end - timedelta(days=days), end)


def read_status_at_source(sim: Any, ids: list[str]) -> set[str]:
    now_ms = to_ms(now_utc())
    return {sim.account.store.get(int(i), now_ms)["readStatus"] for i in ids}


def updates(sim: Any) -> list[list[str]]:
    """The ids of every read-status update the simulator answered, one list per request."""
    return [
        unquote(e.path.rsplit("/", 1)[1]).split(",")
        for e in sim.request_log
        if e.method == "PUT" and "/message-store/" in e.path
    ]


def busiest_mailbox(sim: Any) -> tuple[int, list[str]]:
    counts = {
        e.id: [str(m["id"]) for m in mailbox_messages(sim, e.id)] for e in sim.account.extension_objects
    }
    extension_id = max(counts, key=lambda e: len(counts[e]))
    return extension_id, counts[extension_id]


def test_ids_are_marked_read_then_unread_in_batches_of_50_and_audited(make_simulator, tmp_path):
    sim = make_simulator(messages_per_day=20)
    extension_id, ids = busiest_mailbox(sim)
    assert len(ids) > 50, "the test needs more than one batch"
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim) as client:
        for read, status in ((True, "Read"), (False, "Unread")):
            sim.request_log.clear()
            result = mark_messages(
                storage, client, read=read, ids=ids, extension_id=extension_id, tz=TZ, operator="alice"
            )
            assert len(result.marked) == len(ids) and not result.failed
            assert read_status_at_source(sim, ids) == {status}
            batches = updates(sim)
            assert len(batches) == math.ceil(len(ids) / 50) == result.requests
            assert all(len(b) <= 50 for b in batches) and sum(batches, []) == ids
    entries = audit.read_entries(storage)
    assert [e.action for e in entries] == ["read_status_intent", "read_status_outcome"] * 2
    for intent, outcome in (entries[0:2], entries[2:4]):
        assert intent.ids == ids and outcome.ids == ids, "the intent names every id before any request"
        assert {i["outcome"] for i in outcome.items} == {"marked"}
        assert intent.scope["extensions"] == [extension_id] and intent.operator == "alice"
    assert entries[0].scope["read_status"] == "Read" and entries[2].scope["read_status"] == "Unread"
    # Ids and outcomes only: no subject, number or name reached the trail.
    trail = json.dumps([e.items for e in entries])
    message = mailbox_messages(sim, extension_id)[0]
    assert message["subject"] not in trail and "phoneNumber" not in trail
    assert audit.verify(storage).ok


def test_a_207_answer_is_handled_per_id(make_simulator, tmp_path):
    sim = make_simulator()
    extension_id, ids = busiest_mailbox(sim)
    chosen = ids[:2]
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim) as client:
        result = mark_messages(
            storage,
            client,
            read=False,
            ids=[chosen[0], UNKNOWN_ID, chosen[1]],
            extension_id=extension_id,
            tz=TZ,
            operator="alice",
        )
        assert [o.id for o in result.marked] == chosen
        [failed] = result.failed
        assert failed.id == UNKNOWN_ID and failed.status == 404 and "CMN-102" in (failed.error or "")
        assert read_status_at_source(sim, chosen) == {"Unread"}
        # One id alone answers 404 without a 207: still an outcome for that id, not an exception.
        single = mark_messages(
            storage, client, read=True, ids=[UNKNOWN_ID], extension_id=extension_id, tz=TZ, operator="alice"
        )
        assert [(o.id, o.status) for o in single.failed] == [(UNKNOWN_ID, 404)]
    outcome = audit.read_entries(storage)[1]
    by_id = {i["id"]: i["outcome"] for i in outcome.items}
    assert by_id[chosen[0]] == by_id[chosen[1]] == "marked"
    assert by_id[UNKNOWN_ID].startswith("failed: HTTP 404")
    assert outcome.details == {"marked": 2, "failed": 1}


def test_archived_ids_are_grouped_by_their_mailbox(make_simulator, tmp_path):
    sim = make_simulator()
    day = yesterday()
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
    close_shared_clients()
    storage = ArchiveStorage(str(tmp_path))
    rows = storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
    alive = [r for r in rows if r["availability"] == "Alive"]
    owners: dict[int, list[str]] = {}
    for r in alive:
        owners.setdefault(r["extension_id"], []).append(str(r["id"]))
    assert len(owners) >= 2, "the test needs messages of several mailboxes"
    ids = [str(r["id"]) for r in alive]
    sim.request_log.clear()
    with client_for(sim) as client:
        result = mark_messages(storage, client, read=True, ids=ids, tz=TZ, operator="alice")
    assert not result.failed and read_status_at_source(sim, ids) == {"Read"}
    requests = [e for e in sim.request_log if e.method == "PUT"]
    assert len(requests) == len(owners)
    for entry in requests:
        extension_id = int(entry.path.split("/extension/")[1].split("/")[0])
        assert unquote(entry.path.rsplit("/", 1)[1]).split(",") == owners[extension_id]

    # An id the archive does not hold needs --extension: refused before anything is sent.
    sim.request_log.clear()
    with (
        client_for(sim) as client,
        pytest.raises(ReadStatusError, match=f"no message {UNKNOWN_ID}.*--extension"),
    ):
        mark_messages(storage, client, read=True, ids=[ids[0], UNKNOWN_ID], tz=TZ, operator="alice")
    assert len(sim.request_log) == 0


def test_a_mailbox_window_is_listed_with_explicit_dates_and_marked(make_simulator, tmp_path):
    sim = make_simulator(messages_per_day=8)
    extension_id, _ = busiest_mailbox(sim)
    start, end = yesterday() - timedelta(days=1), yesterday()
    window = sim.account.messages(
        extension_id,
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
    )
    assert window, "the test needs messages in the window"
    unread = [str(m["id"]) for m in window if m["readStatus"] == "Unread"]
    storage = ArchiveStorage(str(tmp_path))
    with client_for(sim) as client:
        result = mark_messages(
            storage, client, read=True, extension_id=extension_id, start=start, end=end, tz=TZ, operator="al"
        )
    assert sorted(o.id for o in result.marked) == sorted(unread), "only what was not Read already is sent"
    assert result.already == len(window) - len(unread)
    assert read_status_at_source(sim, [str(m["id"]) for m in window]) == {"Read"}
    [listing] = [e for e in sim.request_log if e.method == "GET" and e.path.endswith("/message-store")]
    query = unquote(listing.query)
    assert (
        f"dateFrom={start}T00:00:00.000Z" in query
        and f"dateTo={end + timedelta(days=1)}T00:00:00.000Z" in query
    )
    intent = audit.read_entries(storage)[0]
    assert intent.scope["selection"] == "window" and intent.scope["start"] == start.isoformat()


def _no_selection(storage: ArchiveStorage, client: Any) -> None:
    mark_messages(storage, client, read=True, tz=TZ, operator="alice")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "no messages selected"),
        ({"ids": []}, "no messages selected"),
        ({"extension_id": 101}, "no messages selected"),
        ({"ids": ["1"], "start": date(2025, 1, 1), "end": date(2025, 1, 2)}, "not both"),
        ({"start": date(2025, 1, 1), "end": date(2025, 1, 2)}, "needs --extension"),
        ({"extension_id": 101, "start": date(2025, 1, 2), "end": date(2025, 1, 1)}, "before --start"),
        ({"ids": ["12a"], "extension_id": 101}, "not a message id"),
    ],
)
def test_an_empty_or_ambiguous_selection_is_refused_before_any_request(simulator, tmp_path, kwargs, message):
    storage = ArchiveStorage(str(tmp_path))
    simulator.request_log.clear()
    with client_for(simulator) as client, pytest.raises(ReadStatusError, match=message):
        mark_messages(storage, client, read=True, tz=TZ, operator="alice", **kwargs)
    assert len(simulator.request_log) == 0, [e.path for e in simulator.request_log]
    assert audit.read_entries(storage) == []


def test_the_command_line(simulator, tmp_path, monkeypatch, capsys):
    for name, value in {
        "RC_SERVER_URL": simulator.base_url,
        "RC_MEDIA_URL": simulator.media_url,
        "RC_CLIENT_ID": simulator.client_id,
        "RC_CLIENT_SECRET": simulator.client_secret,
        "RC_JWT": simulator.jwt,
        "RC_ARCHIVE_ROOT": str(tmp_path),
        "RC_TIMEZONE": TZ,
        "RC_THROTTLE_DIR": "none",
        "RC_OPERATOR": "ops-team",
    }.items():
        monkeypatch.setenv(name, value)
    extension_id, ids = busiest_mailbox(simulator)
    simulator.request_log.clear()
    # Nothing selected: one line, exit 2, not even a login.
    assert messages_command(["mark", "--read"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no messages selected" in err
    assert len(simulator.request_log) == 0
    with pytest.raises(SystemExit):
        messages_command(["mark", "--read", "--unread", "--ids", "1"])
    capsys.readouterr()

    storage = ArchiveStorage(str(tmp_path))
    argv = ["mark", "--unread", "--extension", str(extension_id), "--ids", ",".join(ids[:3]), ids[3]]
    modified = {simulator.account.store.get(int(i), to_ms(now_utc()))["lastModifiedTime"] for i in ids[:4]}
    # Without --execute: what would be marked, per mailbox; for ids not even a login, nothing audited.
    assert messages_command(argv) == 0
    out = capsys.readouterr().out
    assert "Dry run: 4 message(s) in 1 mailbox(es) would be marked Unread (1 request(s))" in out
    assert f"mailbox {extension_id}: 4 id(s)" in out and "add --execute" in out
    assert len(simulator.request_log) == 0 and audit.read_entries(storage) == []
    assert {
        simulator.account.store.get(int(i), to_ms(now_utc()))["lastModifiedTime"] for i in ids[:4]
    } == modified

    assert messages_command([*argv, "--execute"]) == 0
    assert "4 message(s) marked Unread in 1 mailbox(es)" in capsys.readouterr().out
    assert read_status_at_source(simulator, ids[:4]) == {"Unread"}
    # A failed id makes the exit status 1 and is named.
    argv = ["mark", "--read", "--extension", str(extension_id), "--ids", UNKNOWN_ID, "--execute"]
    assert messages_command(argv) == 1
    assert f"failed {UNKNOWN_ID}" in capsys.readouterr().out
    assert {e.operator for e in audit.read_entries(storage)} == {"ops-team"}

    # A window's dry run lists the mailbox (read only) and sends no change.
    day = yesterday()
    window = sim_window(simulator, extension_id, day, day)
    unread = [m for m in window if m["readStatus"] == "Unread"]
    simulator.request_log.clear()
    entries = len(audit.read_entries(storage))
    argv = ["mark", "--read", "--extension", str(extension_id), "--start", str(day), "--end", str(day)]
    assert messages_command(argv) == 0
    out = capsys.readouterr().out
    assert f"Dry run: {len(unread)} message(s)" in out and "would be marked Read" in out
    assert [e.method for e in simulator.request_log if "/message-store" in e.path] == ["GET"]
    assert len(audit.read_entries(storage)) == entries
    assert {m["readStatus"] for m in sim_window(simulator, extension_id, day, day)} == {
        m["readStatus"] for m in window
    }


def sim_window(sim: Any, extension_id: int, start: date, end: date) -> list[dict]:
    return sim.account.messages(
        extension_id,
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1),
    )


class ExplodingClient:
    """A client whose every update fails with text that must never reach the audit trail."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def update_read_status(self, *args: Any, **kwargs: Any) -> None:
        raise self.error


def test_the_trail_never_carries_exception_text(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    secret = "subject: the merger is off"
    failing = ExplodingClient(ServerError(secret, status=503, error_code="CMN-211"))
    result = mark_messages(
        storage,
        failing,
        read=True,
        ids=["11", "12"],
        extension_id=7,
        tz=TZ,
        operator="alice",  # type: ignore[arg-type]
    )
    assert [o.error for o in result.failed] == ["HTTP 503 CMN-211"] * 2
    with pytest.raises(RuntimeError):
        mark_messages(
            storage,
            ExplodingClient(RuntimeError(secret)),  # type: ignore[arg-type]
            read=True,
            ids=["13"],
            extension_id=7,
            tz=TZ,
            operator="alice",
        )
    entries = audit.read_entries(storage)
    assert entries[1].items[0]["outcome"] == "failed: HTTP 503 CMN-211"
    assert entries[3].details["interrupted"] == "RuntimeError"
    assert entries[3].items == [{"id": "13", "extension_id": 7, "outcome": "not sent"}]
    assert secret not in json.dumps([e.items for e in entries] + [e.details for e in entries])

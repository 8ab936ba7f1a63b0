"""Purge at the source, the most dangerous code of the project: by ids only, only what is archived and
verified at that moment, never under a hold, never a changed message, always audited."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rc_pipeline.control import audit
from rc_pipeline.control.holds import HoldError, active_holds, add_hold, load_holds, release_hold
from rc_pipeline.control.inventory import MESSAGE_KINDS, RECORDING
from rc_pipeline.control.purge import PurgeError, PurgeRequest, execute_purge, plan_purge, restore
from rc_pipeline.storage import Dataset
from rc_pipeline_tests.controlhelpers import (
    archive_one_day,
    client_for,
    dangerous_requests,
    deleted_message_ids,
    source_messages,
)

OPERATOR = "test-operator"


def request_for(day, **kwargs) -> PurgeRequest:
    return PurgeRequest(start=day, end=day, timezone="UTC", **kwargs)


def attachment_row(storage, day) -> dict:
    return next(r for r in storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist() if r["path"])


@pytest.fixture(scope="module")
def archived_once(tmp_path_factory):
    """One simulated day archived for the module; each test gets it back pristine (see `archived`)."""
    from rc_pipeline.simulator import FaultConfig, SimulatorConfig, start_simulator
    from rc_pipeline_tests.conftest import SMALL_ACCOUNT

    sim = start_simulator(
        SimulatorConfig(**{**SMALL_ACCOUNT, "messages_per_day": 4, "faults": FaultConfig()})
    )
    base = tmp_path_factory.mktemp("purge")
    archived = archive_one_day(sim, str(base / "archive"), calls=True)
    shutil.copytree(base / "archive", base / "pristine")
    yield archived, base
    sim.stop()


@pytest.fixture
def archived(archived_once):
    """The archived day as archived, and the simulator with no change made through its API.

    The manifests name files by absolute path, so the archive is restored in place, not copied.
    """
    archived, base = archived_once
    shutil.rmtree(base / "archive")
    shutil.copytree(base / "pristine", base / "archive")
    archived.sim.account.reset_changes()
    archived.sim.request_log.clear()
    return archived


def test_dry_run_plans_and_changes_nothing(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    before = {k: dict(v) for k, v in source_messages(sim, day).items()}
    sim.request_log.clear()
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
    text = plan.format()
    # Trash mode: every archived message RingCentral holds outside its trash.
    alive = {i for i, m in before.items() if m["availability"] == "Alive"}
    archived_ids = {str(i) for i in storage.read_parquet(Dataset.MESSAGES, day).column("id").to_pylist()}
    assert {i.id for i in plan.deletable} == archived_ids & alive and archived_ids & alive
    assert "to delete" in text and day.isoformat() in text
    assert not any(e.method in ("DELETE", "PUT", "PATCH") for e in sim.request_log)
    assert source_messages(sim, day) == before
    assert audit.read_entries(storage) == []


def test_execute_trashes_exactly_the_archived_messages_by_ids_and_audits_them(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    sim.request_log.clear()
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
        result = execute_purge(storage, client, plan, operator=OPERATOR)
    assert not result.failed and not result.skipped
    deleted = {i.id for i in result.deleted}
    assert deleted == {i.id for i in plan.deletable}
    after = source_messages(sim, day)
    assert all(after[i]["availability"] == "Deleted" for i in deleted)  # trash mode: restorable
    assert dangerous_requests(sim) == []
    assert sorted(deleted_message_ids(sim)) == sorted(deleted)
    verdict = audit.verify(storage)
    assert verdict.ok, verdict.problem
    entries = audit.read_entries(storage)
    intents = {i for e in entries if e.action == "delete_intent" for i in e.ids}
    assert deleted <= intents
    assert {e.operator for e in entries} == {OPERATOR}
    outcomes = {i["id"]: i["outcome"] for e in entries if e.action == "delete_outcome" for i in e.items}
    assert set(outcomes) == deleted and set(outcomes.values()) == {"trashed"}
    # Nothing of a message's content goes into the trail: only ids, kinds, days and hashes.
    text = json.dumps([(e.items, e.scope, e.details) for e in entries])
    secrets = set()
    for message in after.values():
        if message.get("subject") and message["subject"] not in MESSAGE_KINDS:
            secrets.add(message["subject"])
        secrets.update(p.get("phoneNumber") for p in [message.get("from") or {}, *(message.get("to") or [])])
    secrets.discard(None)
    assert secrets and not [s for s in secrets if s in text]


def test_restore_brings_back_what_an_audit_entry_trashed(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    with client_for(sim) as client:
        result = execute_purge(
            storage, client, plan_purge(storage, client, request_for(day)), operator=OPERATOR
        )
        outcome_entry = next(e for e in audit.read_entries(storage) if e.action == "delete_outcome")
        outcomes = restore(storage, client, outcome_entry.seq, operator=OPERATOR)
        with pytest.raises(PurgeError, match="not a purge"):
            restore(storage, client, 1, operator=OPERATOR)
    restored = {k for k, v in outcomes.items() if v == "restored"}
    assert restored == {i["id"] for i in outcome_entry.items if i["outcome"] == "trashed"} and restored, (
        outcomes
    )
    after = source_messages(sim, day)
    assert all(after[i]["availability"] == "Alive" for i in restored)
    assert {i.id for i in result.deleted} >= restored
    assert audit.verify(storage).ok


def test_purge_mode_purges_at_once(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    with client_for(sim) as client:
        result = execute_purge(
            storage, client, plan_purge(storage, client, request_for(day, mode="purge")), operator=OPERATOR
        )
    after = source_messages(sim, day)
    assert result.deleted and all(after[i.id]["availability"] == "Purged" for i in result.deleted)
    assert dangerous_requests(sim) == []


def test_a_hold_blocks_what_it_covers_and_its_release_frees_it(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    messages = storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
    held_ext = messages[0]["extension_id"]
    alive = {i for i, m in source_messages(sim, day).items() if m["availability"] == "Alive"}
    held_ids = {str(m["id"]) for m in messages if m["extension_id"] == held_ext} & alive
    assert held_ids
    hold = add_hold(storage, reason="matter 42", operator=OPERATOR, extensions=[held_ext], start=day, end=day)
    with pytest.raises(HoldError, match="reason"):
        add_hold(storage, reason=" ", operator=OPERATOR)
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
        blocked = {i.id: i.reasons for i in plan.items if i.blocked}
        assert set(blocked) == held_ids
        assert all(any(hold.id in r for r in reasons) for reasons in blocked.values())
        result = execute_purge(storage, client, plan, operator=OPERATOR)
        assert not held_ids & {i.id for i in result.deleted}
        assert all(source_messages(sim, day)[i]["availability"] == "Alive" for i in held_ids)
        release_hold(storage, hold.id, reason="matter closed", operator=OPERATOR)
        assert not load_holds(storage)[0].active
        freed = plan_purge(storage, client, request_for(day))
    assert {i.id for i in freed.deletable} == held_ids
    actions = [e.action for e in audit.read_entries(storage)]
    assert "hold_added" in actions and "hold_released" in actions


def test_a_hold_placed_after_planning_still_blocks_at_the_moment_of_deletion(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
        add_hold(storage, reason="late subpoena", operator=OPERATOR, start=day, end=day)
        result = execute_purge(storage, client, plan, operator=OPERATOR)
    assert result.deleted == [] and len(result.skipped) == len(plan.deletable)
    assert deleted_message_ids(sim) == []


def test_a_damaged_file_blocks_its_message_even_when_damaged_after_planning(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    row = attachment_row(storage, day)
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
        assert str(row["message_id"]) in {i.id for i in plan.deletable}
        data = bytearray(Path(row["path"]).read_bytes())
        data[0] ^= 0xFF  # same size, other bytes: only the sha256 tells
        Path(row["path"]).write_bytes(bytes(data))
        result = execute_purge(storage, client, plan, operator=OPERATOR)
    skipped = {i.id: i.reasons for i in result.skipped}
    assert str(row["message_id"]) in skipped
    assert any("damaged" in r for r in skipped[str(row["message_id"])])
    assert str(row["message_id"]) not in deleted_message_ids(sim)
    # The day's own check fails too, so nothing else of the day goes either.
    assert result.deleted == []


def test_a_message_changed_at_the_source_is_skipped(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    target = storage.read_parquet(Dataset.MESSAGES, day).to_pylist()[0]
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
        new_status = "Unread" if target["read_status"] == "Read" else "Read"
        client.update_read_status(target["extension_id"], [target["id"]], new_status)
        result = execute_purge(storage, client, plan, operator=OPERATOR)
    skipped = {i.id: i.reasons for i in result.skipped}
    assert "re-archive the day first" in " ".join(skipped[str(target["id"])])
    assert str(target["id"]) not in deleted_message_ids(sim)
    assert len(result.deleted) == len(plan.deletable) - 1


def test_a_day_failing_its_checks_is_not_purged(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    # Without an extensions snapshot the day's mailbox check fails: nothing of it may go.
    for snapshot in storage.list_partitions(Dataset.EXTENSIONS):
        storage.remove(storage.parquet_path(Dataset.EXTENSIONS, snapshot))
    with client_for(sim) as client:
        plan = plan_purge(
            storage, client, request_for(day, extensions=tuple(e.id for e in sim.account.extension_objects))
        )
    assert plan.deletable == [] and plan.items
    assert all("fails its checks" in " ".join(i.reasons) for i in plan.items)


def test_messages_not_archived_are_counted_and_never_deleted(make_simulator, tmp_path):
    sim = make_simulator(messages_per_day=4)
    archived = archive_one_day(sim, str(tmp_path / "a"), calls=False)
    storage, day = archived.storage, archived.day
    # Forget one mailbox's messages in the archive: the source still has them.
    table = storage.read_parquet(Dataset.MESSAGES, day)
    dropped_ext = table.column("extension_id").to_pylist()[0]
    kept = table.filter([e != dropped_ext for e in table.column("extension_id").to_pylist()])
    storage.write_parquet(Dataset.MESSAGES, day, kept)
    dropped = {
        str(i)
        for i, e in zip(table.column("id").to_pylist(), table.column("extension_id").to_pylist(), strict=True)
        if e == dropped_ext
    }
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
        execute_purge(storage, client, plan, operator=OPERATOR)
    assert sum(c.not_archived for c in plan.counts.values()) >= len(dropped)
    assert not dropped & set(deleted_message_ids(sim))


def test_recordings_are_deleted_by_ids_and_answer_404_after(archived):
    sim, storage, day = archived.sim, archived.storage, archived.day
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day, kinds=(RECORDING,)))
        assert plan.deletable and all(i.kind == RECORDING for i in plan.items)
        result = execute_purge(storage, client, plan, operator=OPERATOR)
        assert {i.id for i in result.deleted} == {i.id for i in plan.deletable}
        gone = result.deleted[0].id
    assert sim.account.recording_deleted(gone)
    deletes = [e for e in sim.request_log if e.method == "DELETE" and e.path.endswith("/call-recordings")]
    assert deletes and all(200 <= e.status < 300 for e in deletes)
    assert dangerous_requests(sim) == []
    # Purging again finds them gone, reports it, and deletes nothing more.
    with client_for(sim) as client:
        again = execute_purge(
            storage,
            client,
            plan_purge(storage, client, request_for(day, kinds=(RECORDING,))),
            operator=OPERATOR,
        )
    assert again.deleted == [] and {i.id for i in again.gone} == {i.id for i in result.deleted}


def test_bad_requests_are_refused_before_anything_is_sent(archived):
    day = archived.day
    with pytest.raises(PurgeError, match="--mode"):
        request_for(day, mode="shred")
    with pytest.raises(PurgeError, match="--types"):
        request_for(day, kinds=("Email",))
    with pytest.raises(ValueError, match="before"):
        PurgeRequest(
            start=day,
            end=day.replace(day=1) if day.day > 1 else day.replace(month=day.month - 1 or 12),
            timezone="UTC",
        )
    assert MESSAGE_KINDS == ("SMS", "Fax", "VoiceMail", "Pager")


def test_the_client_refuses_an_empty_or_oversized_id_list(simulator):
    with client_for(simulator) as client:
        for call in (
            lambda: client.delete_messages(1, []),
            lambda: client.delete_messages(1, [" "]),
            lambda: client.restore_messages(1, []),
            lambda: client.update_read_status(1, [], "Read"),
            lambda: client.delete_messages(1, list(range(1, 52))),
            lambda: client.delete_recordings([]),
        ):
            with pytest.raises(ValueError):
                call()
    assert not [e for e in simulator.request_log if e.method in ("DELETE", "PUT", "PATCH")]


@pytest.mark.parametrize("tamper", ["edit", "edit_and_rehash", "remove", "swap"])
def test_audit_verify_names_the_first_tampered_entry(tmp_path, tamper):
    from rc_pipeline.storage import ArchiveStorage

    storage = ArchiveStorage(str(tmp_path))
    for n in range(1, 6):
        audit.append(
            storage,
            command="purge",
            operator="o",
            action="delete_intent",
            scope={"n": n},
            items=[{"id": str(n)}],
        )
    assert audit.verify(storage).ok
    paths = storage.audit_entry_paths()
    if tamper == "edit":
        entry = json.loads(Path(paths[3]).read_text())
        entry["items"] = [{"id": "999"}]
        Path(paths[3]).write_text(json.dumps(entry))
        expected = 3
    elif tamper == "edit_and_rehash":
        import hashlib

        entry = json.loads(Path(paths[3]).read_text())
        entry["items"] = [{"id": "999"}]
        body = {k: v for k, v in entry.items() if k != "sha256"}
        entry["sha256"] = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        Path(paths[3]).write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")))
        expected = 3  # named by entry 4, which recorded another hash for it
    elif tamper == "remove":
        Path(paths[2]).unlink()
        expected = 2
    else:
        two, four = Path(paths[2]).read_bytes(), Path(paths[4]).read_bytes()
        Path(paths[2]).write_bytes(four)
        Path(paths[4]).write_bytes(two)
        expected = 2
    verdict = audit.verify(storage)
    assert not verdict.ok and verdict.first_bad_seq == expected, verdict.problem


def test_a_damaged_raw_copy_blocks_the_day_even_for_messages_without_files(archived):
    """A plain SMS's text lives only in the raw layer: damaged there, nothing of the day may go."""
    sim, storage, day = archived.sim, archived.storage, archived.day
    pages = Path(storage.raw_pages_path(day, Dataset.RAW_MESSAGE_STORE))
    data = bytearray(pages.read_bytes())
    data[-5] ^= 0xFF
    pages.write_bytes(bytes(data))
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day))
    assert plan.items and plan.deletable == []
    reasons = [" ".join(i.reasons) for i in plan.items]
    assert all("message_raw_intact failed" in r and "messages_match_raw: unreadable" in r for r in reasons)


def test_a_hold_on_any_party_of_a_call_blocks_its_recording(archived):
    import pyarrow as pa

    sim, storage, day = archived.sim, archived.storage, archived.day
    calls = {r["id"]: r for r in storage.read_parquet(Dataset.CALLS, day).to_pylist()}
    recording = next(
        r
        for r in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()
        if r["status"] == "verified" and r["leg_index"] is None
    )
    owner = calls[recording["call_id"]]["extension_id"]
    party = next(e.id for e in sim.account.extension_objects if e.id != owner)
    # One leg of the recorded call is another mailbox's (a transfer): give it that mailbox.
    legs = storage.read_parquet(Dataset.CALL_LEGS, day)
    rows = legs.to_pylist()
    leg = next(r for r in rows if r["call_id"] == recording["call_id"])
    leg["extension_id"] = party
    storage.write_parquet(Dataset.CALL_LEGS, day, pa.Table.from_pylist(rows, schema=legs.schema))
    hold = add_hold(storage, reason="leg party", operator=OPERATOR, extensions=[party], types=[RECORDING])
    with client_for(sim) as client:
        plan = plan_purge(storage, client, request_for(day, kinds=(RECORDING,)))
    blocked = {i.id: i.reasons for i in plan.items if i.blocked}
    assert recording["recording_id"] in blocked
    assert any(hold.id in r for r in blocked[recording["recording_id"]])
    assert len(blocked) < len(plan.items)  # the others are not held


def test_a_hold_whose_file_was_deleted_or_edited_stays_in_force(archived):
    storage, day = archived.storage, archived.day
    gone = add_hold(storage, reason="deleted file", operator=OPERATOR, start=day, end=day)
    edited = add_hold(storage, reason="edited file", operator=OPERATOR, start=day, end=day)
    Path(storage.hold_path(gone.id)).unlink()
    path = Path(storage.hold_path(edited.id))
    path.write_text(path.read_text().replace('"released_at": null', '"released_at": "2026-01-01"'))
    assert {h.id for h in active_holds(storage)} == {gone.id, edited.id}
    with client_for(archived.sim) as client:
        assert plan_purge(storage, client, request_for(day)).deletable == []

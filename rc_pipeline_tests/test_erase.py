"""GDPR erasure of one extension: the dry run, holds, the purge at the source by id, the archive re-written
on both message paths (typed rows, attachment files and index, listing pages and superseded fetches, the
zips of every export task, manifests), verification afterwards, and an audit trail without content."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import re
import uuid
import zipfile
from collections import Counter
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pytest

from rc_pipeline.backfill import format_verification, run_archive, run_verify
from rc_pipeline.control import audit, erase
from rc_pipeline.control.erase import (
    MAX_IDS_PER_REQUEST,
    DayPlan,
    ErasureBlocked,
    ErasurePlan,
    drop_records,
    erased_extension_ids,
    execute_erasure,
    plan_erasure,
    verify_message_raw,
)
from rc_pipeline.control.holds import add_hold, release_hold
from rc_pipeline.days import day_window
from rc_pipeline.message_store.fetch import ErasedRecordsRefused, fetch_export
from rc_pipeline.ringcentral import BulkItem, NotFound, ServerError
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.rewrite import staged_zip
from rc_pipeline.storage.zipsafe import ZipLimits
from rc_pipeline.verification import MESSAGE_CHECKS, verify_day
from rc_pipeline.warehouse import build_warehouse, query
from rc_pipeline_tests.clienthelpers import client_for
from rc_pipeline_tests.messagehelpers import SensorDriver, snapshot_extensions
from rc_pipeline_tests.pipelinehelpers import (
    message_settings,
    pipeline_for,
    run_download,
    run_messages,
    yesterday,
)

OPERATOR = "dpo@example.test"
# Where the message store lives (the call side and the extension directory are not what is erased).
SEARCHED = ("raw/message_store/", "raw/message_store_export/", "message_store/")


@pytest.fixture
def sim(make_simulator):
    return make_simulator(extensions=8, days=5, calls_per_day=5, messages_per_day=3, export_task_seconds=0.5)


# ------------------------------------------------------------------ helpers
def files_of(storage: ArchiveStorage) -> dict[str, str]:
    """Every file under the root (relative path -> sha256)."""
    root = storage.root.rstrip("/") + "/"
    return {
        path[len(root) :]: hashlib.sha256(storage.fs.cat_file(path)).hexdigest()
        for path in storage.fs.find(storage.root)
    }


def row_key(row: dict) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def deletes(sim) -> list:
    return [e for e in sim.request_log if e.method == "DELETE"]


def typed_rows(storage: ArchiveStorage, dataset: Dataset) -> list[dict]:
    return [
        row
        for day in storage.list_partitions(dataset)
        for row in storage.read_parquet(dataset, day).to_pylist()
    ]


def alive_every_day(storage: ArchiveStorage, days: list[date]) -> list[int]:
    """Extensions with an Alive archived message on each of ``days``."""
    per_day = [
        {
            r["extension_id"]
            for r in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
            if r["availability"] == "Alive"
        }
        for day in days
    ]
    return sorted(set.intersection(*per_day))


def pick_person(storage: ArchiveStorage, days: list[date], beyond: dict[int, int] | None = None) -> int:
    """An extension with Alive messages on every day: preferably one the source also holds messages of
    on days the archive does not cover, then the one with the most archived messages."""
    counts = Counter(
        r["extension_id"] for day in days for r in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
    )
    candidates = alive_every_day(storage, days)
    assert len(candidates) >= 2, "the simulated account is too quiet for this test"
    return max(candidates, key=lambda e: (bool((beyond or {}).get(e)), counts[e]))


def id_pattern(ids: set[int]) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![0-9])(" + b"|".join(str(i).encode() for i in sorted(ids)) + rb")(?![0-9])")


def traces(storage: ArchiveStorage, extension_id: int, ids: set[int]) -> list[str]:
    """Where anything of the person is still found: typed rows, raw pages (every fetch), every entry of
    every export zip, attachment indexes, attachment files and folders."""
    found = []
    mailbox = f"/extension/{extension_id}/".encode()
    by_id = id_pattern(ids)
    for dataset in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS):
        id_column = "id" if dataset == Dataset.MESSAGES else "message_id"
        for row in typed_rows(storage, dataset):
            if row["extension_id"] == extension_id or row[id_column] in ids:
                found.append(f"{dataset.value} row {row[id_column]}")
    root = storage.root.rstrip("/") + "/"
    for path in storage.fs.find(storage.root):
        relative = path[len(root) :]
        if relative.startswith(("control/", "parquet/")) or relative.endswith(".duckdb"):
            continue
        if by_id.search(relative.encode()):
            found.append(f"file named after a message: {relative}")
        data = storage.fs.cat_file(path)
        if relative.endswith(".ndjson.gz"):
            data = gzip.decompress(data)
        if relative.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if mailbox in f"/{info.filename}".encode() or by_id.search(info.filename.encode()):
                        found.append(f"{relative}: entry {info.filename}")
                    body = archive.read(info)
                    if relative.startswith(SEARCHED) and (mailbox in body or by_id.search(body)):
                        found.append(f"{relative}: inside {info.filename}")
            continue
        if relative.startswith(SEARCHED) and (mailbox in data or by_id.search(data)):
            found.append(relative)
    return found


def content_strings(rows: list[dict]) -> set[str]:
    """What a message says and who it was with: what must never reach the audit trail."""
    out: set[str] = set()
    for row in rows:
        values = [row["subject"], row["from_phone_number"], row["from_name"]]
        values += list(row["to_phone_numbers"] or []) + list(row["to_names"] or [])
        # Short generic subjects ("Fax") are also message types: not content worth testing.
        out.update(v for v in values if v and len(v) >= 8)
    return out


def audit_bytes(storage: ArchiveStorage) -> bytes:
    return b"\n".join(storage.fs.cat_file(p) for p in storage.audit_entry_paths().values())


def build_both_paths(sim, root: str) -> tuple[dg.Definitions, list[date]]:
    """Two days archived with the real pipeline on both message paths: two export tasks per day (calls
    too, so `verify` runs every check), then the listing, listed a second time after a change at the
    source so each day keeps a superseded fetch."""
    days = [yesterday() - timedelta(days=1), yesterday()]
    instance = dg.DagsterInstance.ephemeral()
    export_defs = pipeline_for(sim, root, messages=message_settings(reconcile=False))
    for _ in range(2):
        summaries = run_archive(export_defs, days[0], days[-1], instance=instance, show_progress=False)
        assert all(not s.failures for s in summaries), [s.failures for s in summaries]
    listing_defs = pipeline_for(sim, root, messages=message_settings(source="listing", reconcile=False))
    for day in days:
        assert run_messages(listing_defs, day, instance).success
    return listing_defs, days


def change_read_status(sim, storage: ArchiveStorage, days: list[date], extension_ids: list[int]) -> None:
    """Flip one message of each extension at the source, so a second listing differs from the first."""
    client = client_for(sim)
    for day in days:
        rows = storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
        for extension_id in extension_ids:
            row = next(r for r in rows if r["extension_id"] == extension_id and r["availability"] == "Alive")
            status = "Unread" if row["read_status"] == "Read" else "Read"
            client.update_read_status(extension_id, [row["id"]], status)
    client.close()


# ------------------------------------------------------------------ end to end, local root
def test_erasure_end_to_end_on_both_message_paths(sim, tmp_path):
    root = str(tmp_path)
    storage = ArchiveStorage(root)
    defs, days = build_both_paths(sim, root)
    # The source is listed up to a fixed instant: messages the simulator creates while the test runs
    # (today's) stay out of both the plan and the assertions.
    now = day_window(days[-1] + timedelta(days=1), "UTC").start
    window = (day_window(days[0] - timedelta(days=10), "UTC").start, now)

    def at_source_of(extension_id: int) -> set[int]:
        return {
            m["id"] for m in sim.account.messages(extension_id, *window, availability=("Alive", "Deleted"))
        }

    archived = {r["id"] for r in typed_rows(storage, Dataset.MESSAGES)}
    beyond = {e: len(at_source_of(e) - archived) for e in alive_every_day(storage, days)}
    person = pick_person(storage, days, beyond)
    others = sorted({r["extension_id"] for r in typed_rows(storage, Dataset.MESSAGES)} - {person})
    other = next(e for e in alive_every_day(storage, days) if e != person)
    change_read_status(sim, storage, days, [person, other])
    listing_defs = pipeline_for(sim, root, messages=message_settings(source="listing", reconcile=False))
    for day in days:
        assert run_messages(listing_defs, day).success
        assert storage.superseded_pages_paths(day, Dataset.RAW_MESSAGE_STORE), "no superseded fetch"
        assert len(storage.committed_exports(day)) == 2

    person_rows = [r for r in typed_rows(storage, Dataset.MESSAGES) if r["extension_id"] == person]
    person_ids = {r["id"] for r in person_rows}
    assert person_ids and traces(storage, person, person_ids), "the person should be in the archive"
    secrets = content_strings(person_rows)
    assert secrets
    others_rows = {
        ds: sorted((r for r in typed_rows(storage, ds) if r["extension_id"] != person), key=row_key)
        for ds in (Dataset.MESSAGES, Dataset.MESSAGE_ATTACHMENTS)
    }
    others_files = {
        r["path"]: r["sha256"]
        for r in typed_rows(storage, Dataset.MESSAGE_ATTACHMENTS)
        if r["extension_id"] != person
    }
    assert others_files
    at_source = at_source_of(person)
    assert person_ids <= at_source
    if any(beyond.values()):
        assert at_source - person_ids, "the source should hold days beyond the archive"
    client = client_for(sim)

    # A hold covering the person blocks everything: nothing changes, nothing is sent.
    hold = add_hold(storage, reason="matter 2024-17 (litigation)", operator="legal", extensions=[person])
    before = files_of(storage)
    sim.request_log.clear()
    blocked = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert {b.hold_id for b in blocked.blocked} == {hold.id}
    assert {b.message_id for b in blocked.blocked} == at_source | person_ids
    text = blocked.describe()
    assert f"BLOCKED by hold {hold.id}" in text and "matter 2024-17" in text
    with pytest.raises(ErasureBlocked, match=hold.id) as refused:
        execute_erasure(storage, client, blocked, operator=OPERATOR)
    assert "matter 2024-17" in str(refused.value)
    assert files_of(storage) == before
    assert deletes(sim) == []
    # A hold added after the plan was made is found at execution time too.
    release_hold(storage, hold.id, reason="matter closed", operator="legal")
    plan = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert not plan.blocked
    # One day of the person is enough for a hold to stop the whole erasure.
    late = add_hold(
        storage, reason="new request", operator="legal", extensions=[person], start=days[0], end=days[0]
    )
    before = files_of(storage)
    with pytest.raises(ErasureBlocked, match=late.id):
        execute_erasure(storage, client, plan, operator=OPERATOR)
    assert files_of(storage) == before and deletes(sim) == []
    release_hold(storage, late.id, reason="withdrawn", operator="legal")

    # The dry run changes nothing and sends no delete.
    before = files_of(storage)
    plan = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert files_of(storage) == before and deletes(sim) == []
    assert set(plan.source_ids) == at_source
    assert set(plan.archive_ids) == person_ids
    assert {d.day for d in plan.days if d.in_archive} == set(days)
    for day_plan in plan.days:
        if day_plan.day in days:
            kinds = Counter(f.kind for f in day_plan.raw_files)
            # current listing + superseded fetch; 2 tasks x (archive_0 json + archive_1 content)
            assert kinds == {"pages": 1, "superseded": 1, "export_part": 4}, kinds
            assert day_plan.attachment_files
    text = plan.describe()
    for day in days:
        assert day.isoformat() in text
    assert "re-write" in text and "BLOCKED" not in text

    # Execute.
    sim.request_log.clear()
    result = execute_erasure(storage, client, plan, operator=OPERATOR)
    assert result.ok, result.describe()
    assert {d.day for d in result.days} == set(days)
    assert all(d.verdict is not None and d.verdict.passed for d in result.days), result.describe()
    assert set(result.source) == at_source and set(result.source.values()) == {"purged"}
    assert result.source_remaining == []
    assert result.warehouse_rebuilt

    # At the source: nothing of the person is left, deleted by explicit ids only (<= 50, purge).
    assert sim.account.messages(person, *window, availability=("Alive", "Deleted")) == []
    sent = deletes(sim)
    assert sent
    deleted: list[int] = []
    for request in sent:
        match = re.fullmatch(rf".*/extension/{person}/message-store/([0-9]+(?:,[0-9]+)*)", request.path)
        assert match, f"not a delete by explicit ids of the person's mailbox: {request.path}"
        ids = [int(i) for i in match.group(1).split(",")]
        assert 0 < len(ids) <= MAX_IDS_PER_REQUEST
        assert "purge=true" in request.query
        deleted += ids
    assert sorted(deleted) == sorted(at_source)
    assert not any(e.path.rstrip("/").endswith("/message-store") for e in sent), "a delete by filter was sent"
    for other in others:
        assert sim.account.messages(other, *window, availability=("Alive", "Deleted")), other

    # In the archive: every check passes, `verify` too, and nothing of the person is left anywhere.
    for day in days:
        assert verify_day(storage, day_window(day, "UTC"), MESSAGE_CHECKS).passed
        assert verify_message_raw(storage, day) == []
        assert storage.superseded_pages_paths(day, Dataset.RAW_MESSAGE_STORE)  # others' earlier fetch kept
    lines, passed = format_verification(
        [d.isoformat() for d in days], run_verify(defs, [d.isoformat() for d in days])
    )
    assert passed, lines
    assert traces(storage, person, person_ids | at_source) == []
    assert not [p for p in storage.fs.find(storage.root) if "/.tmp-" in p], "a temp file was left"
    # The raw layers still hold everyone else's messages, the typed rows and files of others are untouched.
    for ds, rows in others_rows.items():
        assert sorted(typed_rows(storage, ds), key=row_key) == rows
    for path, sha256 in others_files.items():
        assert storage.file_sha256(path) == sha256
    for day in days:
        listed = [
            json.loads(line)
            for line in storage.read_raw_pages(day, Dataset.RAW_MESSAGE_STORE, all_fetches=True)
        ]
        assert {r["id"] for page in listed for r in page["records"]} >= {
            r["id"] for r in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
        }
    _, rows = query(storage.warehouse_path, f"SELECT count(*) FROM messages WHERE extension_id = {person}")
    assert rows == [(0,)]
    _, rows = query(
        storage.warehouse_path, f"SELECT count(*) FROM mart_daily_messages WHERE extension_id = {person}"
    )
    assert rows == [(0,)]

    # The audit trail: intact, holds the ids and per-file hashes, never what the messages said.
    assert audit.verify(storage).ok
    entries = [e for e in audit.read_entries(storage) if e.command == erase.COMMAND]
    actions = [e.action for e in entries]
    assert actions[0] == erase.STARTED and actions[-1] == erase.FINISHED
    assert actions.count(erase.SOURCE_INTENT) == actions.count(erase.SOURCE_OUTCOME) >= 1
    assert actions.index(erase.SOURCE_INTENT) < actions.index(erase.SOURCE_OUTCOME)
    requested = {int(i) for e in entries if e.action == erase.SOURCE_INTENT for i in e.ids}
    assert requested == at_source
    archived = {int(i) for e in entries if e.action == erase.ARCHIVE_INTENT for i in e.ids}
    assert archived == person_ids
    rewritten = [
        i for e in entries if e.action == erase.ARCHIVE_DONE for i in e.items if i["kind"] != "attachment"
    ]
    assert rewritten and all(
        i["sha256_before"] and i["sha256_before"] != i["sha256_after"] for i in rewritten
    )
    trail = audit_bytes(storage)
    leaked = sorted(s for s in secrets if s.encode() in trail or json.dumps(s).encode() in trail)
    assert leaked == [], f"message content in the audit trail: {leaked}"
    for entry in entries:
        for item in entry.items:
            assert not {"subject", "from", "to", "text", "phoneNumber"} & set(item)
    assert erased_extension_ids(storage) == {person}

    # Nothing is left to do: a second plan finds nothing and a second run changes nothing but the trail.
    again = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert again.nothing_to_do, again.describe()
    client.close()


# ------------------------------------------------------------------ memory:// root, and a crash half-way
def build_one_day(sim, root: str) -> date:
    """One day on both paths (the export through its sensor and download run, then the listing)."""
    day = yesterday()
    export_defs = pipeline_for(sim, root, messages=message_settings(reconcile=False))
    with dg.instance_for_test() as instance:
        snapshot_extensions(export_defs, instance)
        assert run_messages(export_defs, day, instance).success
        (request,) = SensorDriver(export_defs, instance).tick_until(1)
        assert run_download(export_defs, request.partition_key, instance).success
    listing_defs = pipeline_for(sim, root, messages=message_settings(source="listing", reconcile=False))
    assert run_messages(listing_defs, day).success
    return day


def test_erasure_on_a_memory_root_and_a_rerun_after_a_crash_before_the_manifests(sim, monkeypatch):
    root = f"memory://erase-{uuid.uuid4().hex}/archive"
    storage = ArchiveStorage(root)
    day = build_one_day(sim, root)
    now = day_window(day + timedelta(days=1), "UTC").start
    person = pick_person(storage, [day])
    person_ids = {
        r["id"]
        for r in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
        if r["extension_id"] == person
    }
    others_files = {
        r["path"]: r["sha256"]
        for r in storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist()
        if r["extension_id"] != person
    }
    client = client_for(sim)
    plan = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert set(plan.archive_ids) == person_ids

    # The process dies after every file was published, before any manifest was brought up to date.
    def crash(*args: Any, **kwargs: Any) -> list[str]:
        raise RuntimeError("power cut")

    monkeypatch.setattr(erase.rewrite, "_write_manifests", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        execute_erasure(storage, client, plan, operator=OPERATOR)
    monkeypatch.undo()
    assert verify_message_raw(storage, day), "the manifests should be stale after the crash"
    last = audit.read_entries(storage)[-1]
    assert last.action == erase.FINISHED and last.details["status"] == "stopped"

    # The re-run finds the stale manifests (their files hold what the erasure recorded writing) and
    # finishes; nothing at the source is left to delete.
    again = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert again.source_ids == []
    (day_plan,) = [d for d in again.days if d.day == day]
    assert day_plan.manifest_repairs and not day_plan.raw_files
    result = execute_erasure(storage, client, again, operator=OPERATOR)
    assert result.ok, result.describe()
    assert verify_message_raw(storage, day) == []
    assert verify_day(storage, day_window(day, "UTC"), MESSAGE_CHECKS).passed
    assert traces(storage, person, person_ids) == []
    for path, sha256 in others_files.items():
        assert storage.file_sha256(path) == sha256
    assert audit.verify(storage).ok
    assert plan_erasure(storage, client, person, tz="UTC", now=now).nothing_to_do
    client.close()


# ------------------------------------------------------------------ after the erasure: re-runs elsewhere
def media_requests(sim) -> int:
    return len([e for e in sim.request_log if e.host == "media"])


def test_rematerialising_an_erased_export_day_keeps_the_rewritten_parts(sim, tmp_path):
    """The download of a committed task, run again after an erasure re-wrote its zips, keeps the parts
    its committed manifest describes (RingCentral's listed sizes no longer match them) instead of
    downloading RingCentral's copies, which still hold the erased mailbox."""
    root = str(tmp_path)
    storage = ArchiveStorage(root)
    day = yesterday()
    defs = pipeline_for(sim, root, messages=message_settings(reconcile=False))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
        (request,) = SensorDriver(defs, instance).tick_until(1)
        assert run_download(defs, request.partition_key, instance).success
        person = pick_person(storage, [day])
        person_ids = {
            r["id"]
            for r in storage.read_parquet(Dataset.MESSAGES, day).to_pylist()
            if r["extension_id"] == person
        }
        client = client_for(sim)
        now = day_window(day + timedelta(days=1), "UTC").start
        result = execute_erasure(
            storage, client, plan_erasure(storage, client, person, tz="UTC", now=now), operator=OPERATOR
        )
        assert result.ok, result.describe()
        assert traces(storage, person, person_ids) == []
        (export,) = storage.committed_exports(day)
        listed = {a["size"] for a in client.list_message_store_report_archives(export.task_id)}
        assert {p.bytes for p in export.parts} - listed, "the erasure should have re-written a part"
        downloads = media_requests(sim)

        # Re-materialise the day the way the sensor's run request does.
        assert run_download(defs, request.partition_key, instance).success
    assert media_requests(sim) == downloads, "a re-written part was downloaded again"
    assert traces(storage, person, person_ids) == []
    assert verify_day(storage, day_window(day, "UTC"), MESSAGE_CHECKS).passed
    assert verify_message_raw(storage, day) == []
    assert storage.committed_exports(day) == [export]

    # A part the manifest says is damaged is downloaded again, but RingCentral's copy still holds the
    # erased mailbox: it is refused before it is published, and the stored part stays as it was.
    part = export.parts[0]
    damaged = b"not the zip the manifest describes"
    storage.fs.pipe_file(part.path, damaged)
    with pytest.raises(ErasedRecordsRefused, match=f"erased extension\\(s\\) {person}") as refused:
        fetch_export(
            client,
            storage,
            day,
            export.task_id,
            (export.window_start, export.window_end),
            ZipLimits(),
            lambda _: None,
        )
    assert refused.value.extensions == {person}
    assert storage.fs.cat_file(part.path) == damaged
    assert not [p for p in storage.fs.find(storage.root) if "/.tmp-" in p], "a temp file was left"
    client.close()


def mart_rows(storage: ArchiveStorage, extension_id: int) -> int:
    _, rows = query(
        storage.warehouse_path,
        f"SELECT count(*) FROM mart_daily_messages WHERE extension_id = {extension_id}",
    )
    return int(rows[0][0])


def test_the_warehouse_is_rebuilt_by_a_rerun_after_a_crash_before_the_rebuild(sim, tmp_path, monkeypatch):
    root = str(tmp_path)
    storage = ArchiveStorage(root)
    day = yesterday()
    defs = pipeline_for(sim, root, messages=message_settings(source="listing", reconcile=False))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        assert run_messages(defs, day, instance).success
    build_warehouse(storage)
    person = pick_person(storage, [day])
    assert mart_rows(storage, person) > 0
    client = client_for(sim)
    now = day_window(day + timedelta(days=1), "UTC").start

    # Run 1 re-writes the archive, then stops before the rebuild (its end is audited as stopped).
    def crash(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("power cut")

    monkeypatch.setattr(erase.execute, "_rebuild_warehouse", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        execute_erasure(
            storage, client, plan_erasure(storage, client, person, tz="UTC", now=now), operator=OPERATOR
        )
    monkeypatch.undo()
    assert mart_rows(storage, person) > 0, "the marts are tables: they keep the erased rows"
    assert audit.read_entries(storage)[-1].details["status"] == "stopped"

    # Run 2 finds nothing left to re-write, and rebuilds because the warehouse still holds the rows.
    again = plan_erasure(storage, client, person, tz="UTC", now=now)
    assert not any(d.touches_archive for d in again.days)
    result = execute_erasure(storage, client, again, operator=OPERATOR)
    assert result.ok and result.warehouse_rebuilt, result.describe()
    assert mart_rows(storage, person) == 0

    # Run 3 is killed outright (no `erasure_finished` entry). Run 4 rebuilds even when the warehouse
    # looks clean, because run 3 never said it finished; run 5 after it has nothing to rebuild.
    original_append = audit.append

    def killed(storage: ArchiveStorage, **kwargs: Any) -> audit.AuditEntry:
        if kwargs["action"] == erase.FINISHED:
            raise SystemExit("killed")
        return original_append(storage, **kwargs)

    def stop(*args: Any, **kwargs: Any) -> dict:
        raise KeyboardInterrupt

    plan = plan_erasure(storage, client, person, tz="UTC", now=now)
    monkeypatch.setattr(audit, "append", killed)
    monkeypatch.setattr(erase.execute, "_scan_archive", stop)
    with pytest.raises(SystemExit):
        execute_erasure(storage, client, plan, operator=OPERATOR)
    monkeypatch.undo()
    assert audit.read_entries(storage)[-1].action != erase.FINISHED
    monkeypatch.setattr(erase.execute, "_warehouse_holds", lambda *args: False)
    assert execute_erasure(storage, client, plan, operator=OPERATOR).warehouse_rebuilt
    assert not execute_erasure(storage, client, plan, operator=OPERATOR).warehouse_rebuilt
    assert audit.verify(storage).ok
    client.close()


# ------------------------------------------------------------------ the source side, against a stub
class StubClient:
    """Records deletes and answers each id as RingCentral does (a 204 makes every id 204; a 207 carries a
    status per id): ``statuses`` maps a message id to its status (default 200). ``fail`` maps a call
    number to an exception raised for that whole request. Listings answer nothing."""

    def __init__(
        self, fail: dict[int, Exception] | None = None, statuses: dict[int, int] | None = None
    ) -> None:
        self.calls: list[tuple[int, list[str], bool]] = []
        self.fail = fail or {}
        self.statuses = statuses or {}

    def delete_messages(
        self, extension_id: int, message_ids: list[int], *, purge: bool = False
    ) -> list[BulkItem]:
        self.calls.append((extension_id, [str(i) for i in message_ids], purge))
        error = self.fail.get(len(self.calls))
        if error is not None:
            raise error
        answers = [self.statuses.get(int(i), 200) for i in message_ids]
        if all(a == 200 for a in answers):
            return [BulkItem(status=204, body={}) for _ in message_ids]
        return [
            BulkItem(status=a, body={} if a < 300 else {"errorCode": "CMN-102" if a == 404 else "CMN-419"})
            for a in answers
        ]

    def iter_messages(self, *args: Any, **kwargs: Any) -> list[dict]:
        return []


def source_plan(count: int) -> ErasurePlan:
    day = date(2024, 5, 1)
    window = day_window(day, "UTC")
    ids = {10_000 + n: "Alive" for n in range(count)}
    return ErasurePlan(
        extension_id=7,
        timezone="UTC",
        planned_at="2024-05-02T00:00:00+00:00",
        source_windows=[(window.start.isoformat(), window.end.isoformat())],
        extension_at_source=True,
        days=[DayPlan(day=day, at_source=ids, kinds=dict.fromkeys(ids, "SMS"))],
        holds_checked=[],
    )


def outcomes_in_trail(storage: ArchiveStorage) -> dict[str, str]:
    return {
        i["id"]: i["outcome"]
        for e in audit.read_entries(storage)
        if e.action == erase.SOURCE_OUTCOME
        for i in e.items
    }


def test_source_deletes_go_in_batches_of_50_ids_each_audited_before_and_after(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    # A 207 per batch: some ids purged since the plan (404), some refused (403), the rest purged.
    gone = {10_003, 10_060, 10_119}
    refused = {10_010, 10_075}
    client = StubClient(statuses={**dict.fromkeys(gone, 404), **dict.fromkeys(refused, 403)})
    result = execute_erasure(storage, client, source_plan(120), operator=OPERATOR)  # type: ignore[arg-type]
    assert [len(ids) for _, ids, _ in client.calls] == [50, 50, 20]
    assert all(purge and ext == 7 for ext, _, purge in client.calls)
    assert Counter(result.source.values()) == {"purged": 115, "already_gone": 3, "failed": 2}
    assert {i for i, o in result.source.items() if o == "already_gone"} == gone
    assert {i for i, o in result.source.items() if o == "failed"} == refused
    # Per-id failures do not stop the other batches, but the erasure is not done.
    assert not result.ok and len(result.source_failures) == 2
    assert all("HTTP 403" in f for f in result.source_failures)
    entries = audit.read_entries(storage)
    actions = [e.action for e in entries]
    assert actions == [erase.STARTED] + [erase.SOURCE_INTENT, erase.SOURCE_OUTCOME] * 3 + [erase.FINISHED]
    for (_, ids, _), intent, outcome in zip(client.calls, entries[1:7:2], entries[2:7:2], strict=True):
        assert intent.ids == ids and outcome.ids == ids
    trail = outcomes_in_trail(storage)
    assert {trail[str(i)] for i in gone} == {"already_gone"}
    assert {trail[str(i)] for i in refused} == {"failed: HTTP 403 CMN-419"}
    assert Counter(trail.values())["purged"] == 115
    assert audit.verify(storage).ok


def test_a_not_found_means_gone_only_for_a_single_id(tmp_path):
    # 51 ids: the second request names one id, and its 404 answer says that id is gone.
    storage = ArchiveStorage(str(tmp_path))
    client = StubClient(fail={2: NotFound("gone", status=404, error_code="CMN-102")})
    result = execute_erasure(storage, client, source_plan(51), operator=OPERATOR)  # type: ignore[arg-type]
    assert [len(ids) for _, ids, _ in client.calls] == [50, 1]
    assert Counter(result.source.values()) == {"purged": 50, "already_gone": 1}
    assert result.ok

    # Several ids and a 404 for the whole request: nothing is known of each id; it is not "gone", and
    # the next batches are not sent (the mailbox itself may be unknown).
    storage = ArchiveStorage(str(tmp_path / "several"))
    client = StubClient(fail={1: NotFound("no such mailbox", status=404, error_code="CMN-102")})
    result = execute_erasure(storage, client, source_plan(120), operator=OPERATOR)  # type: ignore[arg-type]
    assert len(client.calls) == 1
    assert Counter(result.source.values()) == {"unknown": 50, "not_sent": 70}
    assert not result.ok and result.source_failures
    trail = outcomes_in_trail(storage)
    assert len(trail) == 50 and all(o.startswith("unknown: NotFound HTTP 404") for o in trail.values())


def test_a_refused_delete_stops_asking_and_is_reported(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    client = StubClient(fail={1: ServerError("unavailable: secret text", status=503)})
    result = execute_erasure(storage, client, source_plan(75), operator=OPERATOR)  # type: ignore[arg-type]
    assert len(client.calls) == 1
    assert Counter(result.source.values()) == {"failed": 50, "not_sent": 25}
    assert not result.ok and result.source_failures
    outcome = [e for e in audit.read_entries(storage) if e.action == erase.SOURCE_OUTCOME]
    # The class and HTTP status only: never an exception's text in the trail.
    assert outcome[0].details["error"] == "ServerError HTTP 503"
    assert {i["outcome"] for i in outcome[0].items} == {"failed: ServerError HTTP 503"}
    assert b"secret text" not in audit_bytes(storage)
    assert "INCOMPLETE" in result.describe()


def test_an_interrupted_request_is_audited_as_unknown(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    client = StubClient(fail={1: ConnectionResetError("peer reset while sending secret text")})
    with pytest.raises(ConnectionResetError):
        execute_erasure(storage, client, source_plan(3), operator=OPERATOR)  # type: ignore[arg-type]
    entries = audit.read_entries(storage)
    assert [e.action for e in entries] == [
        erase.STARTED,
        erase.SOURCE_INTENT,
        erase.SOURCE_OUTCOME,
        erase.FINISHED,
    ]
    assert {i["outcome"] for i in entries[2].items} == {"unknown: ConnectionResetError"}
    assert b"secret text" not in audit_bytes(storage)


def test_nothing_at_the_source_sends_no_request(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    client = StubClient()
    plan = source_plan(0)
    assert plan.nothing_to_do
    result = execute_erasure(storage, client, plan, operator=OPERATOR)  # type: ignore[arg-type]
    assert client.calls == [] and result.ok


def test_an_edited_audit_trail_is_refused_before_anything(tmp_path):
    """Earlier erasures' ids are taken from the trail: an entry edited to name someone else's message
    must not make an erasure remove it. The chain is verified first; nothing is sent or written."""
    storage = ArchiveStorage(str(tmp_path))
    execute_erasure(storage, StubClient(), source_plan(2), operator=OPERATOR)  # type: ignore[arg-type]
    assert audit.verify(storage).ok
    [(seq, path)] = [(s, p) for s, p in storage.audit_entry_paths().items() if s == 1]
    entry = json.loads(storage.fs.cat_file(path))
    assert entry["action"] == erase.STARTED
    entry["items"].append(
        {"id": "555", "kind": "SMS", "day": "2024-05-01", "at_source": None, "in_archive": True}
    )
    storage.fs.pipe_file(path, json.dumps(entry).encode())
    before = len(audit.read_entries(storage))
    client = StubClient()
    with pytest.raises(erase.AuditTrailBroken, match=f"entry {seq} was edited"):
        plan_erasure(storage, client, 7, tz="UTC")  # type: ignore[arg-type]
    with pytest.raises(erase.AuditTrailBroken, match="Nothing was deleted or rewritten"):
        execute_erasure(storage, client, source_plan(2), operator=OPERATOR)  # type: ignore[arg-type]
    assert client.calls == [] and len(audit.read_entries(storage)) == before


# ------------------------------------------------------------------ the rewriting primitives
def test_dropping_records_keeps_every_other_byte_of_the_page():
    records = [
        {"id": 1, "extensionId": "5", "subject": "keep me"},
        {"id": 2, "extensionId": "9", "subject": 'secret, with "quotes" and ] brackets'},
        {"id": 3, "extensionId": "5", "subject": "keep me too"},
    ]
    for separators, indent in (((",", ":"), None), ((", ", ": "), 1)):
        parts = [json.dumps(r, separators=separators, indent=indent) for r in records]
        joiner = ",\n " if indent else ","
        text = (
            '{"uri":"https://x/extension/5/message-store","records":['
            + joiner.join(parts)
            + '],"paging":{"page":1}}'
        )
        drop_nine = lambda r: r.get("extensionId") == "9"  # noqa: E731
        new, removed = drop_records(text, drop_nine)
        assert [r["id"] for r in removed] == [2]
        assert new == text.replace(joiner + parts[1], "")
        assert json.loads(new)["records"] == [records[0], records[2]]
        new, removed = drop_records(text, lambda r: r["id"] == 1)
        assert new == text.replace(parts[0] + joiner, "") and len(removed) == 1
        new, removed = drop_records(text, lambda r: r["id"] == 3)
        assert new == text.replace(joiner + parts[2], "")
        new, removed = drop_records(text, lambda r: True)
        assert json.loads(new) == {
            "uri": "https://x/extension/5/message-store",
            "records": [],
            "paging": {"page": 1},
        }
        assert drop_records(text, lambda r: False) == (text, [])


def make_zip(path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("account/1/extension/5/", b"")
        archive.writestr(
            zipfile.ZipInfo("account/1/extension/5/message-store.json", (2024, 5, 1, 12, 0, 0)),
            b'{"records":[]}',
        )
        info = zipfile.ZipInfo("account/1/extension/9/message-store.json", (2024, 5, 1, 12, 0, 2))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, b'{"records":[{"id":1}]}' * 50)
        archive.writestr(
            zipfile.ZipInfo("account/1/extension/9/message-store/content/1/a.txt", (2024, 5, 1, 12, 0, 4)),
            b"hello",
        )
        archive.comment = b"rc export"


def test_a_staged_zip_keeps_the_other_entries_and_is_published_only_on_success(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    path = storage.path("raw", "part.zip")
    storage.fs.makedirs(storage.path("raw"), exist_ok=True)
    make_zip(path)
    original = storage.fs.cat_file(path)
    with contextlib.suppress(RuntimeError), contextlib.ExitStack() as stack:
        stack.enter_context(staged_zip(storage, path, drop=lambda info: "/extension/5/" in info.filename))
        raise RuntimeError("crash before publication")
    assert storage.fs.cat_file(path) == original
    assert [p for p in storage.fs.ls(storage.path("raw"), detail=False) if ".tmp-" in p] == []

    with staged_zip(
        storage,
        path,
        drop=lambda info: "/extension/5/" in info.filename,
        replace={"account/1/extension/9/message-store.json": b'{"records":[]}'},
    ) as staged:
        assert storage.fs.cat_file(path) == original  # not published yet
    assert staged.entries_dropped == 2 and staged.entries_kept == 2 and staged.entries_replaced == 1
    assert storage.file_sha256(path) == staged.sha256 and storage.size(path) == staged.bytes
    with zipfile.ZipFile(io.BytesIO(original)) as old, zipfile.ZipFile(path) as new:
        assert new.testzip() is None and new.comment == b"rc export"
        assert [i.filename for i in new.infolist()] == [
            "account/1/extension/9/message-store.json",
            "account/1/extension/9/message-store/content/1/a.txt",
        ]
        for info in new.infolist():
            before = old.getinfo(info.filename)
            assert (info.date_time, info.compress_type) == (before.date_time, before.compress_type)
        assert new.read("account/1/extension/9/message-store.json") == b'{"records":[]}'
        assert new.read("account/1/extension/9/message-store/content/1/a.txt") == b"hello"

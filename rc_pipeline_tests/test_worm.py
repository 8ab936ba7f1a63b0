"""WORM records (S3 Object Lock) on a real S3 protocol server: every record written locked, legal holds
set and cleared with the archive's holds, verify naming what is not locked, purge and erasure refusing
what retention forbids. Purge and erasure are the most dangerous code of the project: each refusal is
checked against what the simulator saw (no delete request) and the archive (nothing changed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from botocore.exceptions import ClientError

from rc_pipeline.cli import main
from rc_pipeline.control import audit, legal_hold
from rc_pipeline.control.erase import COMMAND as ERASE_COMMAND
from rc_pipeline.control.erase import STARTED as ERASE_STARTED
from rc_pipeline.control.erase import ErasureRetained, execute_erasure, plan_erasure
from rc_pipeline.control.erase.retention import locked_objects
from rc_pipeline.control.inventory import NOT_LOCKED, archived_recordings
from rc_pipeline.control.purge import PurgeRequest, execute_purge, plan_purge
from rc_pipeline.days import day_window
from rc_pipeline.defs.resources import ArchiveResource, close_shared_clients, simulator_resources
from rc_pipeline.ringcentral.errors import SettingsError
from rc_pipeline.settings import ArchiveSettings
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.worm import WormError, WormPolicy, is_record
from rc_pipeline.verification import CALL_CHECKS, MESSAGE_CHECKS, verify_day
from rc_pipeline_tests.conftest import SMALL_ACCOUNT
from rc_pipeline_tests.controlhelpers import client_for
from rc_pipeline_tests.messagehelpers import snapshot_extensions
from rc_pipeline_tests.pipelinehelpers import (
    archive_day,
    message_settings,
    pipeline_for,
    run_messages,
    yesterday,
)
from rc_pipeline_tests.s3helpers import s3, s3_server  # noqa: F401

RETAIN_DAYS = 30
OPERATOR = "test-operator"
MODE = "governance"
# Small: every object is a round trip to the S3 server (and a HEAD more for its lock check).
TINY = dict(extensions=3, calls_per_day=8, messages_per_day=3)


def worm_resources(sim: Any, root: str, warehouse: str) -> dict[str, object]:
    resources = simulator_resources(sim, root, throttle_dir="none")
    resources["archive"] = ArchiveResource(
        root=root, warehouse_path=warehouse, worm_mode=MODE, worm_retain_days=str(RETAIN_DAYS)
    )
    return resources


def worm_pipeline(sim: Any, root: str, warehouse: str) -> dg.Definitions:
    return pipeline_for(
        sim, root, resources=worm_resources(sim, root, warehouse), messages=message_settings(source="listing")
    )


def every_object(client, bucket: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


@pytest.fixture(scope="module")
def worm_archive(s3_server, tmp_path_factory):  # noqa: F811
    """One simulated day (calls with recordings, messages the listing way) archived on a locked bucket."""
    from rc_pipeline.simulator import FaultConfig, SimulatorConfig, start_simulator

    monkeypatch = pytest.MonkeyPatch()
    for key, value in s3_server.environ().items():
        monkeypatch.setenv(key, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    bucket = s3_server.make_bucket(object_lock=True)
    root = f"s3://{bucket}/archive"
    sim = start_simulator(SimulatorConfig(**{**SMALL_ACCOUNT, **TINY, "faults": FaultConfig()}))
    day = yesterday()
    defs = worm_pipeline(sim, root, str(tmp_path_factory.mktemp("wh") / "warehouse.duckdb"))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        calls = archive_day(defs, day, instance=instance)
        messages = run_messages(defs, day, instance)
    close_shared_clients()
    yield {
        "sim": sim,
        "bucket": bucket,
        "root": root,
        "day": day,
        "calls": calls,
        "messages": messages,
        "storage": ArchiveStorage(root, worm=WormPolicy(MODE, RETAIN_DAYS)),
        "client": s3_server.client(),
    }
    sim.stop()
    monkeypatch.undo()
    s3fs.S3FileSystem.clear_instance_cache()


def test_every_record_of_a_worm_run_lands_locked(worm_archive):
    assert worm_archive["calls"].success and worm_archive["messages"].success
    client, bucket = worm_archive["client"], worm_archive["bucket"]
    keys = every_object(client, bucket)
    records = [k for k in keys if not k.startswith(("archive/state/", "archive/reports/"))]
    kinds = {k.split("/")[1] for k in records}
    assert {"raw", "parquet", "recordings", "message_store"} <= kinds, kinds
    assert any(k.endswith("_manifest.json") for k in records)
    written = datetime.now(UTC)
    for key in records:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head.get("ObjectLockMode") == "GOVERNANCE", key
        until = head["ObjectLockRetainUntilDate"]
        assert written + timedelta(days=RETAIN_DAYS - 1) < until <= written + timedelta(days=RETAIN_DAYS), key


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"RC_WORM_MODE": "forever", "RC_WORM_RETAIN_DAYS": "30"}, "RC_WORM_MODE='forever' must be one of"),
        ({"RC_WORM_MODE": "compliance", "RC_WORM_RETAIN_DAYS": "six years"}, "RC_WORM_RETAIN_DAYS="),
        ({"RC_WORM_MODE": "compliance", "RC_WORM_RETAIN_DAYS": "0"}, "RC_WORM_RETAIN_DAYS=0 must be between"),
        ({"RC_WORM_MODE": "compliance"}, "RC_WORM_RETAIN_DAYS is required when RC_WORM_MODE=compliance"),
        ({"RC_WORM_RETAIN_DAYS": "2190"}, "RC_WORM_RETAIN_DAYS=2190 has no effect without RC_WORM_MODE"),
    ],
)
def test_bad_worm_settings_fail_naming_the_variable(environ, named):
    with pytest.raises(SettingsError, match=named):
        ArchiveSettings.from_env({"RC_ARCHIVE_ROOT": "s3://bucket/archive", **environ})


def test_worm_settings_make_the_policy():
    settings = ArchiveSettings.from_env(
        {"RC_ARCHIVE_ROOT": "s3://b/a", "RC_WORM_MODE": "Compliance", "RC_WORM_RETAIN_DAYS": "2190"}
    )
    assert settings.worm == WormPolicy("compliance", 2190)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert settings.worm.retain_until(now) == datetime(2031, 12, 31, tzinfo=UTC)
    arguments = dict(settings.worm.put_kwargs())
    assert arguments["ObjectLockMode"] == "COMPLIANCE"
    assert arguments["ObjectLockRetainUntilDate"].tzinfo is not None
    assert ArchiveSettings.from_env({"RC_ARCHIVE_ROOT": "s3://b/a", "RC_WORM_MODE": "off"}).worm is None
    assert ArchiveSettings.from_env({"RC_ARCHIVE_ROOT": "s3://b/a"}).worm is None


def test_worm_on_a_local_root_fails_clearly(tmp_path):
    environ = {"RC_ARCHIVE_ROOT": str(tmp_path), "RC_WORM_MODE": "governance", "RC_WORM_RETAIN_DAYS": "7"}
    with pytest.raises(SettingsError, match="RC_WORM_MODE=governance needs an S3 archive root.*object-store"):
        ArchiveSettings.from_env(environ)
    with pytest.raises(WormError, match="Object Lock is an object-store feature"):
        ArchiveStorage(str(tmp_path), worm=WormPolicy("governance", 7))
    assert not any(tmp_path.iterdir())


def test_worm_on_a_bucket_without_object_lock_fails_before_writing(s3):  # noqa: F811
    bucket = s3.make_bucket(object_lock=False)
    with pytest.raises(WormError, match=f"bucket '{bucket}' does not have Object Lock enabled"):
        ArchiveStorage(f"s3://{bucket}/archive", worm=WormPolicy("compliance", 7))
    # Through the resource a run uses, too: the run fails before anything is written.
    resource = ArchiveResource(root=f"s3://{bucket}/archive", worm_mode="compliance", worm_retain_days="7")
    with pytest.raises(WormError, match="does not have Object Lock enabled"):
        resource.storage()
    assert every_object(s3.client(), bucket) == []


# ------------------------------------------------------------------ on the archived day, in this order


def test_verify_names_a_file_written_without_the_lock(worm_archive):
    storage, day, client, bucket = (worm_archive[k] for k in ("storage", "day", "client", "bucket"))
    window = day_window(day, "UTC")
    locked = verify_day(storage, window, [*CALL_CHECKS, *MESSAGE_CHECKS])
    assert locked.passed, locked.describe()
    assert locked.outcomes["call_records_locked"].metadata["files"] > 5
    # A file dropped into the day by anything that does not lock (an operator's copy, a second writer).
    stray = storage.path(Dataset.RAW_CALL_LOG.value, f"date={day.isoformat()}", "copied-by-hand.json")
    ArchiveStorage(worm_archive["root"]).atomic_write_bytes(stray, b"{}")
    try:
        verdict = verify_day(storage, window, CALL_CHECKS)
        outcome = verdict.outcomes["call_records_locked"]
        assert not outcome.passed
        relative = storage.relative(stray)
        assert outcome.metadata["not_locked"] == [
            f"{relative}: no lock, expected GOVERNANCE for {RETAIN_DAYS} days"
        ]
        # The rest of the day is as it was: only the lock check fails.
        assert [n for n, o in verdict.outcomes.items() if not o.passed] == ["call_records_locked"]
    finally:
        # Unlocked, so S3 lets it go: the day is whole again for the tests below.
        _, key, _ = storage.fs.split_path(stray)
        for version in client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []):
            client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        storage.fs.invalidate_cache()


def legal_hold_of(client, bucket: str, key: str) -> str:
    """ON or OFF; an object never held has no status at all (OFF)."""
    return client.head_object(Bucket=bucket, Key=key).get("ObjectLockLegalHoldStatus", "OFF")


def test_a_hold_sets_the_s3_legal_hold_and_release_clears_it_when_no_other_hold_covers(
    worm_archive, monkeypatch, capsys
):
    storage, day, client, bucket = (worm_archive[k] for k in ("storage", "day", "client", "bucket"))
    recording = archived_recordings(storage, day, ())[0]
    assert recording.extension_id is not None
    key = storage.relative(recording.files[0].path)
    prefix = storage.root.split("/", 1)[1] + "/"
    # The command line, configured as a deployment is: the archive and its WORM policy from RC_*.
    for name, value in {
        "RC_ARCHIVE_ROOT": worm_archive["root"],
        "RC_WORM_MODE": MODE,
        "RC_WORM_RETAIN_DAYS": str(RETAIN_DAYS),
        "RC_OPERATOR": OPERATOR,
    }.items():
        monkeypatch.setenv(name, value)
    scope = ["--extension", str(recording.extension_id), "--start", str(day), "--end", str(day)]
    assert main(["hold", "add", "--reason", "matter 1", *scope, "--types", "Recording"]) == 0
    out = capsys.readouterr().out
    first_id = out.split("placed ", 1)[1].split(":", 1)[0]
    assert "S3 legal hold: on for " in out
    assert legal_hold_of(client, bucket, prefix + key) == "ON"
    # The day's raw pages and manifest hold the recording's call too.
    raw_manifest = storage.relative(storage.raw_manifest_path(day, Dataset.RAW_CALL_LOG))
    assert legal_hold_of(client, bucket, prefix + raw_manifest) == "ON"
    # Objects no hold covers are left alone: the day's message table.
    messages_table = storage.relative(storage.parquet_path(Dataset.MESSAGES, day))
    assert legal_hold_of(client, bucket, prefix + messages_table) == "OFF"
    # Written again after the hold was placed (a re-fetch): the new version is held by a sync.
    manifest_path = storage.raw_manifest_path(day, Dataset.RAW_CALL_LOG)
    storage.atomic_write_bytes(manifest_path, storage.fs.cat_file(manifest_path))
    assert legal_hold_of(client, bucket, prefix + raw_manifest) == "OFF"
    assert legal_hold.sync(storage, operator=OPERATOR).on == [raw_manifest]
    assert legal_hold_of(client, bucket, prefix + raw_manifest) == "ON"
    hold_scope = dict(extensions=[recording.extension_id], start=day, end=day, types=["Recording"])
    second, _ = legal_hold.place(storage, reason="matter 2", operator=OPERATOR, **hold_scope)
    _, released = legal_hold.release(storage, first_id, reason="settled", operator=OPERATOR)
    assert released.off == [] and legal_hold_of(client, bucket, prefix + key) == "ON"
    _, released = legal_hold.release(storage, second.id, reason="settled", operator=OPERATOR)
    assert key in released.off and raw_manifest in released.off
    assert legal_hold_of(client, bucket, prefix + key) == "OFF"
    assert legal_hold_of(client, bucket, prefix + raw_manifest) == "OFF"
    actions = [e.action for e in audit.read_entries(storage)]
    assert actions.count("s3_legal_hold") == 5


def test_erasure_refuses_locked_objects_and_changes_nothing(worm_archive):
    storage, day, sim, client, bucket = (
        worm_archive[k] for k in ("storage", "day", "sim", "client", "bucket")
    )
    extension_id = storage.read_parquet(Dataset.MESSAGES, day).column("extension_id").to_pylist()[0]
    with client_for(sim) as rc:
        plan = plan_erasure(storage, rc, extension_id, tz="UTC")
        assert plan.retained and "GOVERNANCE until" in plan.retained[0]
        assert "REFUSED: records retention overrides erasure" in plan.describe()
        # An earlier run of this erasure was killed after it started (its entry, no finish): the re-run
        # is refused the same way, before it redoes or undoes anything of it.
        audit.append(
            storage,
            command=ERASE_COMMAND,
            operator=OPERATOR,
            action=ERASE_STARTED,
            scope={"extension_id": extension_id, "run": "killed-run", "purge": True, "timezone": "UTC"},
            items=plan.items(),
        )
        versions = client.list_object_versions(Bucket=bucket)
        trail = len(audit.read_entries(storage))
        sim.request_log.clear()
        with pytest.raises(ErasureRetained) as refused:
            execute_erasure(storage, rc, plan, operator=OPERATOR, rebuild_warehouse=False)
    message = str(refused.value)
    until = (datetime.now(UTC) + timedelta(days=RETAIN_DAYS)).date().isoformat()
    assert (
        f"is under S3 Object Lock (GOVERNANCE until {until}): records retention overrides erasure" in message
    )
    assert "nothing was deleted at the source or changed in the archive" in message
    assert not [e for e in sim.request_log if e.method in ("DELETE", "PUT", "PATCH")]
    after = client.list_object_versions(Bucket=bucket)
    assert after.get("Versions") == versions.get("Versions") and not after.get("DeleteMarkers")
    assert len(audit.read_entries(storage)) == trail


def test_purge_refuses_a_source_item_whose_archive_copy_is_not_locked(worm_archive):
    """Checked again at the moment of deletion: the copy lost its lock after the plan was made."""
    storage, day, sim = (worm_archive[k] for k in ("storage", "day", "sim"))
    request = PurgeRequest(start=day, end=day, timezone="UTC", kinds=("Recording",))
    with client_for(sim) as rc:
        plan = plan_purge(storage, rc, request)
        target = plan.deletable[0]
        assert not target.reasons
        plan.items = [target]  # only this one: every other recording stays at the source
        path = target.files[0].path
        # Same bytes (sha256 still matches), written again without a lock: a new, unlocked version.
        ArchiveStorage(worm_archive["root"]).atomic_write_bytes(path, storage.fs.cat_file(path))
        sim.request_log.clear()
        result = execute_purge(storage, rc, plan, operator=OPERATOR)
        replanned = plan_purge(storage, rc, request)
    assert result.deleted == [] and [i.id for i in result.skipped] == [target.id]
    assert not [e for e in sim.request_log if e.method == "DELETE"]
    assert not sim.account.recording_deleted(target.id)
    refused = [e for e in audit.read_entries(storage) if e.action == "delete_refused"]
    assert len(refused) == 1 and refused[0].items[0]["id"] == target.id
    assert storage.relative(path) in refused[0].items[0]["reasons"][0]
    blocked = next(i for i in replanned.items if i.id == target.id)
    assert any(r.startswith(NOT_LOCKED) and storage.relative(path) in r for r in blocked.reasons)


def test_an_earlier_locked_version_counts_for_erasure_though_the_current_one_is_not_locked(s3):  # noqa: F811
    """Rebuilt tables and re-fetched pages keep their earlier versions: the person is still in those."""
    bucket = s3.make_bucket(object_lock=True)
    locked = ArchiveStorage(f"s3://{bucket}/archive", worm=WormPolicy("compliance", 3))
    path = locked.path("parquet/messages/date=2026-01-01/part-0.parquet")
    locked.atomic_write_bytes(path, b"with the person")
    ArchiveStorage(f"s3://{bucket}/archive").atomic_write_bytes(path, b"without")
    assert locked.object_lock(path).mode is None
    found, existing = locked_objects(locked, [path, locked.path("parquet/never-written")])
    assert existing == 1 and len(found) == 1
    assert found[0].mode == "COMPLIANCE" and found[0].noncurrent_version
    assert "an earlier version" in found[0].describe()


def test_a_lock_that_ran_out_protects_nothing_for_a_delete_at_the_source(s3):  # noqa: F811
    """Verify judges a lock by the policy; a delete at the source also needs it in force right now."""
    bucket = s3.make_bucket(object_lock=True)
    storage = ArchiveStorage(f"s3://{bucket}/archive", worm=WormPolicy("governance", 1))
    path = storage.path("recordings/2026/01/01/1.mp3")
    storage.atomic_write_bytes(path, b"audio")
    now = datetime.now(UTC)
    assert storage.lock_problem(path) is None
    assert storage.lock_problem(path, in_force_at=now) is None
    assert "no longer in force" in storage.lock_problem(path, in_force_at=now + timedelta(days=2))


def test_erasure_on_a_plain_bucket_lists_no_versions(s3, monkeypatch):  # noqa: F811
    """A bucket created without Object Lock cannot lock anything: the erasure asks that once and needs
    neither the version listing nor its permission."""
    from rc_pipeline.control.erase import retention

    bucket = s3.make_bucket()
    storage = ArchiveStorage(f"s3://{bucket}/archive")
    storage.atomic_write_bytes(storage.path("parquet/messages/date=2026-01-01/part-0.parquet"), b"x")

    def no_listing(*args, **kwargs):
        raise AssertionError("versions listed on a bucket that cannot lock")

    monkeypatch.setattr(retention, "version_locks", no_listing)
    monkeypatch.setattr(retention, "_capture_objects", lambda storage, extension_id: {storage.path("x")})
    assert retention.refuse_retained(storage, {}, 1) == []
    locked = s3.make_bucket(object_lock=True)
    with pytest.raises(AssertionError, match="versions listed"):
        retention.refuse_retained(ArchiveStorage(f"s3://{locked}/archive"), {}, 1)


@pytest.mark.parametrize(
    ("relative", "locked"),
    [
        ("raw/call_log/date=2026-01-01/pages.ndjson.gz", True),
        ("parquet/calls/date=2026-01-01/part-0.parquet", True),
        ("recordings/2026/01/01/1.mp3", True),
        ("control/audit/000000000001.json", True),
        ("state/message_store_export/.lease", False),
        ("reports/retention_risk/date=2026-01-01.json", False),
        ("message_store/content/.tmp-extract-0a1b/1/2.pdf", False),
    ],
)
def test_records_are_locked_working_state_and_temp_objects_are_not(relative, locked):
    assert is_record(relative) is locked
    storage = ArchiveStorage("memory://worm-policy")
    storage.worm = WormPolicy("compliance", 7)  # the paths' rule only: memory:// cannot lock anything
    arguments = dict(storage.put_kwargs_for(storage.path(relative)))
    assert ("ObjectLockMode" in arguments) is locked


def test_a_refetched_day_keeps_every_version_locked(s3):  # noqa: F811
    """A re-fetch that differs moves the old pages aside and writes new ones: on a locked bucket the
    moved copy is locked under its new name, and every version of the pages key keeps its lock."""
    bucket = s3.make_bucket(object_lock=True)
    storage = ArchiveStorage(f"s3://{bucket}/archive", worm=WormPolicy("compliance", 3))
    day, start, end = date(2026, 1, 1), "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
    first = b'{"records": [{"id": "1"}], "paging": {"page": 1}}'
    second = b'{"records": [{"id": "1"}, {"id": "2"}], "paging": {"page": 1}}'
    storage.write_raw_call_log(day, [first], start, end, fetched_at="2026-01-02T01:00:00Z")
    storage.write_raw_call_log(day, [second], start, end, fetched_at="2026-01-03T01:00:00Z")
    files = storage.files_of_day(day, [Dataset.RAW_CALL_LOG])
    superseded = [f for f in files if ".superseded-" in f]
    assert len(superseded) == 1 and len(files) == 3
    assert [storage.lock_problem(f) for f in files] == [None, None, None]
    _, key, _ = storage.fs.split_path(storage.raw_pages_path(day, Dataset.RAW_CALL_LOG))
    client = s3.client()
    versions = [
        v for v in client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key
    ]
    assert len(versions) == 2
    for version in versions:
        head = client.head_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=versions[-1]["VersionId"])

"""The archive on an object store, end to end, against a real S3 protocol server (moto) on loopback.

Archive -> verify -> warehouse -> query through the commands a user runs, with the endpoint and
credentials in the standard AWS environment only; a recording download cut mid-body resumes into S3;
an exclusive create races on S3 as it does locally; DuckDB never downloads an extension.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from rc_pipeline.cli import main
from rc_pipeline.defs.resources import close_shared_clients
from rc_pipeline.ringcentral.download import part_path
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.storage.atomic import create_exclusive
from rc_pipeline.storage.layout import TEMP_PREFIX
from rc_pipeline.warehouse import build_warehouse, query
from rc_pipeline.warehouse.connect import connect
from rc_pipeline_tests import s3helpers
from rc_pipeline_tests.clienthelpers import point_env_at_simulator
from rc_pipeline_tests.messagehelpers import truth_messages
from rc_pipeline_tests.pipelinehelpers import archive_day, check_results, pipeline_for, yesterday

# The loopback S3 server's fixtures, used here by name.
s3, s3_server = s3helpers.s3, s3helpers.s3_server

DAY = date(2026, 3, 2)


def bucket_objects(endpoint, bucket: str) -> dict[str, int]:
    """Every object in ``bucket`` with its size, as S3 lists them."""
    found: dict[str, int] = {}
    for page in endpoint.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
    return found


def temp_objects(objects: dict[str, int]) -> list[str]:
    """Keys that are not final objects: temp names, download parts, locks."""
    return [k for k in objects if f"/{TEMP_PREFIX}" in f"/{k}" or k.endswith((".part", ".lock"))]


def damage_in_place(endpoint, bucket: str, key: str) -> None:
    """Overwrite an object with other bytes of the same size (what a size check alone would miss)."""
    client = endpoint.client()
    body = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=bucket, Key=key, Body=bytes(body))


@pytest.fixture
def s3_calls(monkeypatch) -> list[tuple[str, str | None]]:
    """Every S3 operation this process sends through s3fs, as (operation, key)."""
    import s3fs

    calls: list[tuple[str, str | None]] = []
    original = s3fs.S3FileSystem._call_s3

    async def recording(self, method, *args, **kwargs):
        calls.append((method, kwargs.get("Key")))
        return await original(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", recording)
    return calls


@pytest.fixture
def own_clients() -> Iterator[None]:
    """The CLI's shared RingCentral clients, closed after the test (their simulator stops with it)."""
    close_shared_clients()
    yield
    close_shared_clients()


@pytest.fixture
def local_temp(tmp_path, monkeypatch) -> Path:
    """This process's temp directory, private to the test: where downloads and extractions wait
    before their upload to the bucket (so what is left there afterwards can be checked)."""
    directory = tmp_path / "local-temp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def our_local_leftovers(local_temp: Path) -> list[Path]:
    """Files on their way to the bucket still in the local temp directory: downloads, extracted
    attachments, staged uploads (the throttle's state and the simulator's zips live there too)."""
    staged = [p for p in local_temp.glob(f"{TEMP_PREFIX}*") if p.is_file()]
    for directory in ("rc-pipeline-incoming", "rc-pipeline-staging"):
        staged += [p for p in (local_temp / directory).rglob("*") if p.is_file()]
    return staged


def calls_table(ids: list[int], day: date) -> pa.Table:
    from rc_pipeline.transform.schemas import CALLS_SCHEMA

    rows = [
        {"id": str(i), "partition_date": day, "type": "Voice", "direction": "Inbound", "result": "Missed"}
        for i in ids
    ]
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in CALLS_SCHEMA.names} for row in rows], schema=CALLS_SCHEMA
    )


# ---------------------------------------------------------------- the whole path, as a user runs it
def test_archive_verify_warehouse_and_query_on_s3(
    s3, s3_calls, own_clients, make_simulator, tmp_path, local_temp, monkeypatch, capsys
):
    sim = make_simulator(
        calls_per_day=12,
        extensions=4,
        days=3,
        messages_per_day=3,
        export_task_seconds=0.2,
        rate_limit_scale=0.02,
    )
    bucket = s3.make_bucket()
    day = yesterday()
    # Only RC_* settings and the standard AWS environment (set by the `s3` fixture): nothing else
    # tells the pipeline, DuckDB included, where the bucket is or how to sign for it.
    point_env_at_simulator(
        monkeypatch,
        sim,
        RC_ARCHIVE_ROOT=f"s3://{bucket}/archive",
        RC_WAREHOUSE_PATH=str(tmp_path / "warehouse.duckdb"),
        RC_TIMEZONE="UTC",
        RC_START_DATE=(day - timedelta(days=30)).isoformat(),
        RC_THROTTLE_DIR="none",
        RC_EXPORT_POLL_SECONDS="1",
        RC_MESSAGE_RECONCILE="false",
    )
    monkeypatch.setenv("DAGSTER_HOME", "")
    key = day.isoformat()

    # 0: every day archived and every check passed (the checks `rc-pipeline verify` runs, on S3).
    assert main(["archive", "--start", key, "--end", key, "--no-progress"]) == 0
    summary = capsys.readouterr().out
    assert "0 day(s) with failures" in summary, summary
    objects = bucket_objects(s3, bucket)
    assert temp_objects(objects) == [], "a temp object reached the bucket"
    # Every object was written once, directly under its final key: no copy of a temp object.
    operations = {operation for operation, _ in s3_calls}
    assert not operations & {"copy_object", "upload_part_copy"}, sorted(operations)
    written = [key for operation, key in s3_calls if operation in ("put_object", "complete_multipart_upload")]
    assert set(objects) <= set(written)
    assert our_local_leftovers(local_temp) == [], "a staged file was left on the local disk"
    recordings = sorted(k for k in objects if k.startswith("archive/recordings/"))
    attachments = sorted(k for k in objects if k.startswith("archive/message_store/content/"))
    assert recordings and attachments, summary
    assert {"archive/parquet/calls", "archive/parquet/messages", "archive/raw/call_log"} <= {
        k.rsplit("/", 2)[0] for k in objects
    }

    # Views read Parquet on S3 at query time; marts are tables computed at the warehouse build.
    truth_calls = sim.account.call_records(
        datetime(day.year, day.month, day.day, tzinfo=UTC),
        datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1),
        view="Detailed",
    )
    sql = (
        "SELECT (SELECT count(*) FROM calls) AS calls, (SELECT count(*) FROM messages) AS messages, "
        "(SELECT count(*) FROM message_attachments WHERE path IS NOT NULL) AS attachments, "
        "(SELECT sum(messages) FROM mart_daily_messages) AS mart_messages, "
        "(SELECT min(coverage_ratio) FROM mart_recording_coverage) AS coverage"
    )
    assert main(["query", sql]) == 0
    answer = capsys.readouterr().out.splitlines()
    assert answer[0].split() == ["calls", "messages", "attachments", "mart_messages", "coverage"]
    assert answer[2].split() == [
        str(len(truth_calls)),
        str(len(truth_messages(sim, day))),
        str(len(attachments)),
        str(len(truth_messages(sim, day))),
        "1.0",
    ]

    # verify re-reads every object on S3: same size, other bytes, and it names what was damaged.
    damage_in_place(s3, bucket, recordings[0])
    damage_in_place(s3, bucket, attachments[-1])
    assert main(["verify", "--start", key, "--end", key]) == 1
    report = capsys.readouterr().out
    recording_id = recordings[0].rsplit("/", 1)[1].split(".")[0]
    message_id, attachment_file = attachments[-1].rsplit("/", 2)[1:]
    assert f"size_or_sha256_mismatch=['{recording_id}']" in report, report
    assert f"{message_id}/{attachment_file.split('.')[0]}" in report, report


# ---------------------------------------------------------------- a recording cut mid-body, resumed into S3
def test_an_interrupted_recording_resumes_with_range_into_s3(s3, make_simulator, local_temp):
    sim = make_simulator(calls_per_day=6, extensions=3, days=2, recording_share=1.0, rate_limit_scale=0.02)
    bucket = s3.make_bucket()
    day = yesterday()
    storage = ArchiveStorage(f"s3://{bucket}/archive")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    truth = sim.account.call_records(start, start + timedelta(days=1), view="Detailed")
    referenced = {str(r["recording"]["id"]) for r in truth if r.get("recording")}
    referenced |= {
        str(leg["recording"]["id"]) for r in truth for leg in r.get("legs", []) if leg.get("recording")
    }
    across, within = sorted(referenced)[:2]
    # `within` is cut once (resumed in the same run); `across` more often than a run retries, so the
    # run ends with its bytes kept locally and the next run continues them.
    sim.faults.schedule("truncate", count=1, path_contains=f"/recording/{within}/content")
    sim.faults.schedule("truncate", count=6, path_contains=f"/recording/{across}/content")
    defs = pipeline_for(sim, storage.url(storage.root))

    first = archive_day(defs, day, raise_on_error=False)
    assert not first.success, "a recording cut more often than a run retries must fail the run"
    rows = {r["recording_id"]: r for r in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()}
    assert rows[within]["status"] == "verified" and rows[across]["status"] == "failed"
    kept = part_path(Path(storage.recording_incoming_path(day, across)))
    body, _ = sim.account.recording_content(across)
    assert 0 < kept.stat().st_size < len(body), "the bytes received were not kept for the next run"
    assert not any(
        k.endswith(f"/{across}.mp3") or k.endswith(f"/{across}.wav") for k in bucket_objects(s3, bucket)
    )

    before = len(sim.request_log)
    second = archive_day(defs, day)
    assert check_results(second)["recordings_complete"]

    def content(rid: str, since: int = 0) -> list[tuple[int, str | None]]:
        log = list(sim.request_log)[since:]
        return [(e.status, e.fault) for e in log if e.path.endswith(f"/recording/{rid}/content")]

    assert content(within)[:2] == [(200, "truncate"), (206, None)], "no Range request within the run"
    assert content(across, before) == [(206, None)], "the next run did not continue with a Range request"
    for rid in (within, across):
        row = next(
            r for r in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist() if r["recording_id"] == rid
        )
        expected, _ = sim.account.recording_content(rid)
        assert row["status"] == "verified" and row["sha256"] == hashlib.sha256(expected).hexdigest()
        assert storage.fs.cat_file(row["path"]) == expected
    objects = bucket_objects(s3, bucket)
    assert temp_objects(objects) == [] and our_local_leftovers(local_temp) == []


# ---------------------------------------------------------------- DuckDB reads S3 through the archive's filesystem
def test_the_warehouse_reads_s3_through_the_archives_filesystem_and_downloads_nothing(
    s3, tmp_path, monkeypatch, capsys
):
    bucket = s3.make_bucket()
    storage = ArchiveStorage(f"s3://{bucket}/archive", warehouse_path=str(tmp_path / "wh.duckdb"))
    storage.write_parquet(Dataset.CALLS, DAY, calls_table([1, 2, 3], DAY))
    build_warehouse(storage)
    sql = "SELECT (SELECT count(*) FROM calls), (SELECT sum(missed_calls) FROM mart_missed_call_rate)"
    assert query(storage.warehouse_path, sql, storage)[1] == [(3, 3)]

    # A view reads S3 at query time: a new day is seen without a rebuild.
    storage.write_parquet(Dataset.CALLS, DAY + timedelta(days=1), calls_table([4], DAY + timedelta(days=1)))
    connection = connect(storage.warehouse_path, storage, read_only=True)
    try:
        assert connection.execute("SELECT count(*) FROM calls").fetchone() == (4,)
        settings = connection.execute(
            "SELECT current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
        ).fetchone()
        assert settings == (False, False)
        loaded = connection.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE (loaded OR installed) "
            "AND extension_name IN ('httpfs', 'aws')"
        ).fetchall()
        assert loaded == [], "DuckDB reached S3 through its own extension"
    finally:
        connection.close()

    # A connection of the analyst's own to the same file, open meanwhile, does not get in the way.
    own = duckdb.connect(storage.warehouse_path, read_only=True)
    try:
        for _ in range(2):  # the filesystem registered by the first query stays with the open file
            assert query(storage.warehouse_path, "SELECT count(*) FROM calls", storage)[1] == [(4,)]
    finally:
        own.close()

    # Without the archive's filesystem the same view fails at once, naming the extension it would
    # need: with autoloading off DuckDB tries no download (there is no network here to try).
    bare = connect(storage.warehouse_path, read_only=True)
    try:
        with pytest.raises(duckdb.Error, match="requires the extension httpfs"):
            bare.execute("SELECT count(*) FROM calls")
    finally:
        bare.close()

    # The CLI pointed at another archive says what to set.
    monkeypatch.setenv("RC_ARCHIVE_ROOT", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("RC_WAREHOUSE_PATH", storage.warehouse_path)
    assert main(["query", "SELECT count(*) FROM calls"]) == 2
    assert "set RC_ARCHIVE_ROOT" in capsys.readouterr().err


# ---------------------------------------------------------------- exclusive create on S3 (If-None-Match)
def test_an_exclusive_create_on_s3_has_exactly_one_winner(s3):
    import s3fs

    bucket = s3.make_bucket()
    path = f"{bucket}/audit/000001.json"
    racers = [s3fs.S3FileSystem(skip_instance_cache=True) for _ in range(2)]
    # Both racers saw no object and both upload: S3 checks If-None-Match when the upload completes,
    # so the one that completes second loses, whatever it saw before.
    first, second = (fs.open(path, "xb") for fs in racers)
    first.write(b"first\n")
    second.write(b"second\n")
    first.close()
    with pytest.raises(FileExistsError):
        second.close()
    assert racers[0].cat_file(path) == b"first\n"
    # The archive's own helper: the loser learns it, the winner's bytes stay.
    assert create_exclusive(path, b"third\n", fs=racers[1]) is False
    assert create_exclusive(f"{bucket}/audit/000002.json", b"fourth\n", fs=racers[1]) is True
    assert racers[0].cat_file(path) == b"first\n"


# ---------------------------------------------------------------- a differing re-fetch on S3
def test_a_differing_refetch_on_s3_keeps_the_old_pages_without_a_delete(s3, s3_calls):
    from rc_pipeline.transform.sample_records import call_log_page, sample_call_record

    bucket = s3.make_bucket()
    storage = ArchiveStorage(f"s3://{bucket}/archive")
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)

    def fetch(*indexes: int) -> bytes:
        return call_log_page([sample_call_record(i, DAY, 1) for i in indexes], 1, 1000, None)

    storage.write_raw_call_log(
        DAY, [fetch(0, 1, 2)], start, start + timedelta(days=1), "2026-03-03T02:00:00+00:00"
    )
    old = storage.fs.cat_file(storage.raw_pages_path(DAY))
    s3_calls.clear()
    storage.write_raw_call_log(
        DAY, [fetch(0, 2)], start, start + timedelta(days=1), "2026-03-04T02:00:00+00:00"
    )

    (superseded,) = storage.superseded_pages_paths(DAY)
    assert storage.fs.cat_file(superseded) == old, "the earlier fetch was not kept byte for byte"
    assert storage.read_manifest(DAY).records_received == 2
    assert len(list(storage.read_raw_pages(DAY, all_fetches=True))) == 2
    # The old pages are uploaded under their final superseded name and the current key overwritten by
    # one upload: no temp object, no delete of the page file.
    pages_key = storage.raw_pages_path(DAY).split("/", 1)[1]
    assert ("put_object", superseded.split("/", 1)[1]) in s3_calls
    assert ("delete_object", pages_key) not in s3_calls
    assert temp_objects(bucket_objects(s3, bucket)) == []

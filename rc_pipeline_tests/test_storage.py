"""Storage layer: layout, atomic writes, the raw call-log partition, file checks and Parquet tables."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rc_pipeline.storage import (
    ArchiveStorage,
    Dataset,
    FileCheck,
    atomic_open,
    atomic_write_bytes,
    file_sha256,
    verify_file,
)
from rc_pipeline.storage import verify as verify_module
from rc_pipeline.storage.temps import owner_prefix
from rc_pipeline.transform.sample_records import sample_call_log_pages

DAY = date(2024, 5, 1)
WINDOW = ("2024-05-01T00:00:00+00:00", "2024-05-02T00:00:00+00:00")


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp-")]


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "a" / "file.bin"
    atomic_write_bytes(str(target), b"first")
    atomic_write_bytes(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert _temp_files(tmp_path) == []


def test_atomic_open_failure_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old content")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(str(target), "wb") as handle:
            handle.write(b"half of the new con")
            assert _temp_files(tmp_path), "writes must go to a temp sibling, not the target"
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old content"
    assert _temp_files(tmp_path) == []


def test_staged_file_failure_publishes_nothing(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    final = storage.recording_path(DAY, "123", "audio/mpeg")
    with pytest.raises(OSError):
        with storage.recording_download(DAY, "123", "audio/mpeg") as local:
            local.write_bytes(b"ID3 partial")
            raise OSError("connection reset")
    assert not os.path.exists(final)
    assert _temp_files(tmp_path) == []


def test_recording_download_publishes_to_final_path(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    with storage.recording_download(DAY, "123", "audio/wav") as local:
        assert Path(local).parent == Path(storage.recording_path(DAY, "123", "audio/wav")).parent
        local.write_bytes(b"RIFF....WAVE")
    final = storage.recording_path(DAY, "123", "audio/wav")
    assert Path(final).read_bytes() == b"RIFF....WAVE"
    assert storage.file_sha256(final) == file_sha256(final)
    assert _temp_files(tmp_path) == []


def test_layout_paths(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    root = str(tmp_path)
    assert storage.raw_pages_path(DAY) == f"{root}/raw/call_log/date=2024-05-01/pages.ndjson.gz"
    assert storage.raw_manifest_path(DAY) == f"{root}/raw/call_log/date=2024-05-01/_manifest.json"
    assert storage.parquet_path(Dataset.CALLS, DAY) == f"{root}/parquet/calls/date=2024-05-01/part-0.parquet"
    assert storage.parquet_path(Dataset.CALL_LEGS, DAY).endswith(
        "parquet/call_legs/date=2024-05-01/part-0.parquet"
    )
    assert storage.parquet_path(Dataset.RECORDINGS, DAY).endswith(
        "parquet/recordings/date=2024-05-01/manifest.parquet"
    )
    assert storage.parquet_path(Dataset.EXTENSIONS, DAY).endswith(
        "parquet/extensions/snapshot=2024-05-01/part-0.parquet"
    )
    assert storage.parquet_glob(Dataset.CALLS) == f"{root}/parquet/calls/*/part-0.parquet"
    assert storage.recording_path(DAY, "9876", "audio/mpeg") == f"{root}/recordings/2024/05/01/9876.mp3"
    assert storage.recording_path(DAY, "9876", "audio/wav").endswith("recordings/2024/05/01/9876.wav")
    assert storage.raw_pages_path(DAY, Dataset.RAW_MESSAGE_STORE).endswith(
        "raw/message_store/date=2024-05-01/pages.ndjson.gz"
    )
    assert storage.message_attachment_path(DAY, 11, 22, "pdf").endswith(
        "message_store/content/2024/05/01/11/22.pdf"
    )
    assert storage.warehouse_path == f"{root}/warehouse.duckdb"
    with pytest.raises(ValueError):
        storage.recording_path(DAY, "../../etc/passwd", "audio/mpeg")
    with pytest.raises(ValueError):
        storage.recording_path(DAY, "123", "video/mp4")
    with pytest.raises(ValueError):
        storage.parquet_path(Dataset.RAW_CALL_LOG, DAY)


def test_relative_root_becomes_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = ArchiveStorage("archive")
    assert storage.root == str(tmp_path / "archive")


def test_raw_call_log_round_trips_byte_identical(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    pages = list(sample_call_log_pages(DAY, 25, per_page=10))
    # Odd but valid bytes must survive untouched: unicode, escapes, key order, spacing.
    pages.append('{"records": [{"id": "é\\n☎", "z": 1, "a": 2}],  "paging": {"page": 4}}'.encode())
    manifest = storage.write_raw_call_log(DAY, pages, *WINDOW, fetched_at="2024-05-02T01:00:00+00:00")
    assert list(storage.read_raw_call_log_pages(DAY)) == pages
    assert manifest == storage.read_manifest(DAY)
    assert manifest.pages == 4
    assert manifest.records_received == 26
    assert manifest.records_reported == 25
    assert (manifest.window_start, manifest.window_end) == WINDOW
    assert manifest.fetched_at == "2024-05-02T01:00:00+00:00"
    assert manifest.sha256 == file_sha256(storage.raw_pages_path(DAY))
    assert storage.verify_raw_partition(DAY)
    with gzip.open(storage.raw_pages_path(DAY)) as handle:
        assert handle.read() == b"".join(p + b"\n" for p in pages)


def test_pretty_printed_page_becomes_one_line_with_same_value(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    pretty = next(sample_call_log_pages(DAY, 3, pretty=True))
    assert b"\n" in pretty
    storage.write_raw_call_log(DAY, [pretty], *WINDOW)
    (stored,) = storage.read_raw_call_log_pages(DAY)
    assert b"\n" not in stored
    assert len(stored) == len(pretty)
    assert json.loads(stored) == json.loads(pretty)


def test_partition_is_never_appended_and_a_differing_fetch_keeps_the_previous(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    first = list(sample_call_log_pages(DAY, 30, per_page=10))
    storage.write_raw_call_log(DAY, first, *WINDOW)
    storage.write_raw_call_log(DAY, first, *WINDOW)
    assert list(storage.read_raw_call_log_pages(DAY)) == first
    partition = Path(storage.partition_dir(Dataset.RAW_CALL_LOG, DAY))
    assert sorted(p.name for p in partition.iterdir()) == ["_manifest.json", "pages.ndjson.gz"]
    second = first[:1]
    manifest = storage.write_raw_call_log(DAY, second, *WINDOW)
    assert list(storage.read_raw_pages(DAY)) == second
    assert list(storage.read_raw_call_log_pages(DAY)) == first + second
    assert manifest.pages == 1 and manifest.records_received == 10
    assert len(manifest.superseded) == 1
    assert len(list(partition.iterdir())) == 3


def test_failed_rewrite_keeps_previous_partition(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    pages = list(sample_call_log_pages(DAY, 20, per_page=10))
    before = storage.write_raw_call_log(DAY, pages, *WINDOW)

    def dying_fetch():
        yield pages[0]
        raise ConnectionError("API went away mid-partition")

    with pytest.raises(ConnectionError):
        storage.write_raw_call_log(DAY, dying_fetch(), *WINDOW)
    assert storage.read_manifest(DAY) == before
    assert list(storage.read_raw_call_log_pages(DAY)) == pages
    assert _temp_files(tmp_path) == []


def test_list_partitions_only_complete_and_sorted(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    for day in (date(2024, 5, 3), date(2024, 5, 1)):
        storage.write_raw_call_log(day, sample_call_log_pages(day, 2), *WINDOW)
    # A partition without its manifest (a crash mid-write) is not complete.
    incomplete = Path(storage.partition_dir(Dataset.RAW_CALL_LOG, date(2024, 5, 2)))
    incomplete.mkdir(parents=True)
    (incomplete / "pages.ndjson.gz").write_bytes(b"")
    (Path(storage.dataset_dir(Dataset.RAW_CALL_LOG)) / "not-a-partition").mkdir()
    assert storage.list_partitions(Dataset.RAW_CALL_LOG) == [date(2024, 5, 1), date(2024, 5, 3)]
    assert storage.list_partitions(Dataset.CALLS) == []
    with pytest.raises(FileNotFoundError):
        list(storage.read_raw_call_log_pages(date(2024, 5, 2)))


def test_remote_root_goes_through_fsspec(tmp_path):
    storage = ArchiveStorage("memory://rc-archive-test/prefix", warehouse_path=str(tmp_path / "w.duckdb"))
    assert not storage.is_local
    pages = list(sample_call_log_pages(DAY, 5, per_page=2))
    storage.write_raw_call_log(DAY, pages, *WINDOW)
    assert list(storage.read_raw_call_log_pages(DAY)) == pages
    assert storage.list_partitions("raw/call_log") == [DAY]
    with storage.recording_download(DAY, "555", "audio/mpeg") as local:
        local.write_bytes(b"mp3 bytes")
    final = storage.recording_path(DAY, "555", "audio/mpeg")
    assert storage.fs.cat_file(final) == b"mp3 bytes"
    assert storage.url(final) == "memory:///rc-archive-test/prefix/recordings/2024/05/01/555.mp3"
    assert not [p for p in storage.fs.find(storage.root) if "/.tmp-" in p]
    assert storage.warehouse_path == str(tmp_path / "w.duckdb")
    storage.fs.rm(storage.root, recursive=True)
    with pytest.raises(ValueError):
        _ = ArchiveStorage("memory://other-bucket").warehouse_path


def test_incoming_download_then_publish_local(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    incoming = storage.recording_incoming_path(DAY, "42")
    assert Path(incoming).parent == Path(storage.recording_path(DAY, "42", "audio/mpeg")).parent
    assert Path(incoming).name.startswith(".tmp-")
    Path(incoming).write_bytes(b"ID3 audio")
    final = storage.publish_recording(incoming, DAY, "42", "audio/mpeg; charset=binary")
    assert final == storage.recording_path(DAY, "42", "audio/mpeg")
    assert Path(final).read_bytes() == b"ID3 audio"
    assert not Path(incoming).exists()
    # An unusable content type publishes nothing and leaves no download behind.
    bad = storage.recording_incoming_path(DAY, "43")
    Path(bad).write_bytes(b"?")
    with pytest.raises(ValueError):
        storage.publish_recording(bad, DAY, "43", "text/html")
    storage.discard_incoming(storage.recording_incoming_path(DAY, "44"))
    assert _temp_files(tmp_path) == []


def test_incoming_download_then_publish_remote():
    storage = ArchiveStorage("memory://rc-archive-publish")
    incoming = storage.recording_incoming_path(DAY, "42")
    Path(incoming).write_bytes(b"RIFF")
    final = storage.publish_recording(incoming, DAY, "42", "audio/wav")
    assert storage.fs.cat_file(final) == b"RIFF"
    assert final.endswith("rc-archive-publish/recordings/2024/05/01/42.wav")
    assert not Path(incoming).exists()
    storage.fs.rm(storage.root, recursive=True)


def test_remote_writes_upload_the_final_key_once_with_the_put_arguments():
    """On an object store every write is one upload of the final key, carrying the storage's put
    arguments (Object Lock); a write that fails uploads nothing, and no temp key is ever created."""
    storage = ArchiveStorage(f"memory://rc-direct-{uuid.uuid4().hex}")
    storage.put_kwargs = {"ObjectLockMode": "GOVERNANCE"}
    uploads: list[tuple[str, dict]] = []
    real_put_file = storage.fs.put_file

    def recording_put_file(lpath, rpath, **kwargs):
        uploads.append((rpath, kwargs))
        return real_put_file(lpath, rpath)

    storage.fs.put_file = recording_put_file
    created: list[str] = []
    real_open = storage.fs.open

    def recording_open(path, mode="rb", **kwargs):
        if "w" in mode or "x" in mode:
            created.append(path)
        return real_open(path, mode, **kwargs)

    storage.fs.open = recording_open
    try:
        storage.atomic_write_bytes(storage.path("a.json"), b"{}")
        with storage.staged_file(storage.path("b.bin")) as local:
            local.write_bytes(b"bb")
        incoming = storage.recording_incoming_path(DAY, "7")
        Path(incoming).write_bytes(b"RIFF")
        storage.publish_recording(incoming, DAY, "7", "audio/wav")
        with pytest.raises(RuntimeError), storage.atomic_open(storage.path("c.bin")) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")
        assert [path.rpartition("/")[2] for path, _ in uploads] == ["a.json", "b.bin", "7.wav"]
        assert all(kwargs == {"ObjectLockMode": "GOVERNANCE"} for _, kwargs in uploads)
        assert sorted(p.rpartition("/")[2] for p in storage.fs.find(storage.root)) == [
            "7.wav",
            "a.json",
            "b.bin",
        ]
        # Only final keys were ever written (memory's put_file opens them): no temp key, no copy.
        assert [p.rpartition("/")[2] for p in created] == ["a.json", "b.bin", "7.wav"]
    finally:
        del storage.fs.put_file, storage.fs.open
        storage.fs.rm(storage.root, recursive=True)


def test_raw_extensions_snapshot_partition(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    page = b'{"records":[{"id":1,"extensionNumber":"101"}],"paging":{"page":1}}'
    manifest = storage.write_raw_pages(DAY, [page], *WINDOW, dataset=Dataset.RAW_EXTENSIONS)
    assert manifest.records_received == 1
    assert storage.raw_pages_path(DAY, Dataset.RAW_EXTENSIONS).endswith(
        "raw/extensions/snapshot=2024-05-01/pages.ndjson.gz"
    )
    assert list(storage.read_raw_pages(DAY, Dataset.RAW_EXTENSIONS)) == [page]
    assert storage.list_partitions(Dataset.RAW_EXTENSIONS) == [DAY]


# ---------------------------------------------------------------- shared storage fixtures
@pytest.fixture(params=["local", "memory"])
def any_storage(request, tmp_path) -> Iterator[ArchiveStorage]:
    """The same archive API on a local root and on an fsspec (``memory://``) root."""
    if request.param == "local":
        yield ArchiveStorage(str(tmp_path / "archive"))
        return
    storage = ArchiveStorage(f"memory://rc-storage-test-{uuid.uuid4().hex}")
    yield storage
    if storage.fs.exists(storage.root):
        storage.fs.rm(storage.root, recursive=True)


def _put(storage: ArchiveStorage, relative: str, data: bytes) -> str:
    path = storage.path(relative)
    storage.atomic_write_bytes(path, data)
    return path


def _temp_keys(storage: ArchiveStorage) -> list[str]:
    if not storage.fs.exists(storage.root):
        return []
    return [p for p in storage.fs.find(storage.root) if "/.tmp-" in p]


@pytest.fixture
def sha256_calls(monkeypatch) -> list[str]:
    """Paths `verify_file` hashed, in order (to prove the size check comes first)."""
    calls: list[str] = []
    real = verify_module.file_sha256

    def counting(path, fs=None):
        calls.append(path)
        return real(path, fs)

    monkeypatch.setattr(verify_module, "file_sha256", counting)
    return calls


# ---------------------------------------------------------------- verify_file
ORIGINAL = b"RIFF" + bytes(range(256)) * 4


def test_verify_file_ok(any_storage, sha256_calls):
    path = _put(any_storage, "recordings/2024/05/01/1.wav", ORIGINAL)
    expected = hashlib.sha256(ORIGINAL).hexdigest()
    check = any_storage.verify_file(path, len(ORIGINAL), expected)
    assert check == FileCheck("ok", path, len(ORIGINAL), expected, len(ORIGINAL), expected)
    assert check.ok
    assert sha256_calls == [path]
    assert check.describe() == f"ok: 1,028 bytes, sha256 {expected[:12]}.."


@pytest.mark.parametrize("path", [None, "", "recordings/2024/05/01/never-written.wav"])
def test_verify_file_missing(any_storage, sha256_calls, path):
    full = any_storage.path(path) if path else path
    check = any_storage.verify_file(full, 10, "ab" * 32)
    assert check.status == "missing" and not check.ok
    assert (check.actual_bytes, check.actual_sha256) == (None, None)
    assert sha256_calls == []
    assert check.describe() == (f"missing: no file at {full}" if path else "missing: no path recorded")


def test_verify_file_a_directory_is_not_the_file(any_storage):
    _put(any_storage, "message_store/content/2024/05/01/7/8.pdf", b"%PDF")
    check = any_storage.verify_file(any_storage.path("message_store/content/2024/05/01/7"), 4, "00")
    assert check.status == "missing"


def test_verify_file_same_size_other_bytes_is_damaged(any_storage, sha256_calls):
    expected = hashlib.sha256(ORIGINAL).hexdigest()
    rotten = bytearray(ORIGINAL)
    rotten[100] ^= 0xFF
    path = _put(any_storage, "recordings/2024/05/01/2.wav", bytes(rotten))
    check = any_storage.verify_file(path, len(ORIGINAL), expected)
    assert check.status == "damaged" and not check.ok
    assert check.actual_bytes == check.expected_bytes == len(ORIGINAL)
    assert check.actual_sha256 == hashlib.sha256(rotten).hexdigest() != expected
    assert sha256_calls == [path]
    assert check.describe() == f"damaged: sha256 {check.actual_sha256[:12]}.. != {expected[:12]}.."


def test_verify_file_other_size_is_damaged_without_hashing(any_storage, sha256_calls):
    path = _put(any_storage, "recordings/2024/05/01/3.wav", ORIGINAL[:1000])
    check = any_storage.verify_file(path, 1300, hashlib.sha256(ORIGINAL).hexdigest())
    assert check.status == "damaged"
    assert (check.actual_bytes, check.actual_sha256) == (1000, None)
    assert sha256_calls == [], "a size mismatch must not read the file"
    assert check.describe() == "damaged: 1,000 bytes, expected 1,300"


def test_verify_file_function_defaults_to_local_files(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"abc")
    assert verify_file(str(target), 3, hashlib.sha256(b"abc").hexdigest()).ok
    unknown = verify_file(str(target), None, None)
    assert unknown.status == "damaged"
    assert unknown.describe() == "damaged: 3 bytes, expected unknown"


# ---------------------------------------------------------------- write_parquet
def _table(n: int) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int64()), "name": [f"row {i}" for i in range(n)]})


def test_write_parquet_round_trips(any_storage):
    assert any_storage.write_parquet(Dataset.CALLS, DAY, _table(5)) == 5
    assert any_storage.read_parquet(Dataset.CALLS, DAY).equals(_table(5))
    assert any_storage.list_partitions(Dataset.CALLS) == [DAY]
    with any_storage.fs.open(any_storage.parquet_path(Dataset.CALLS, DAY), "rb") as handle:
        column = pq.ParquetFile(handle).metadata.row_group(0).column(0)
        assert column.compression == "ZSTD"
    assert any_storage.write_parquet("parquet/calls", DAY, _table(2)) == 2
    assert any_storage.read_parquet(Dataset.CALLS, DAY).num_rows == 2
    assert _temp_keys(any_storage) == []
    with pytest.raises(ValueError):
        any_storage.write_parquet(Dataset.RAW_CALL_LOG, DAY, _table(1))


def test_write_parquet_failure_keeps_the_previous_table(any_storage, monkeypatch):
    any_storage.write_parquet(Dataset.MESSAGES, DAY, _table(3))

    def dies_halfway(table, where, **kwargs):
        where.write(b"PAR1 half a table")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        any_storage.write_parquet(Dataset.MESSAGES, DAY, _table(10))
    monkeypatch.undo()
    assert any_storage.read_parquet(Dataset.MESSAGES, DAY).equals(_table(3))
    assert _temp_keys(any_storage) == []


# ---------------------------------------------------------------- paths that used to be built elsewhere
def test_export_lease_and_attachment_staging_paths(any_storage):
    root = any_storage.root
    assert any_storage.export_lease_path() == f"{root}/state/message_store_export/.lease"
    # Locally a rename away from the content tree; for a remote root on this machine, so the archive
    # only ever receives final objects.
    # The name says which process extracts into it (a sweep removes those of killed processes).
    staging = any_storage.attachment_staging_dir("0123abcd")
    name = f"{owner_prefix()}extract-0123abcd"
    if any_storage.is_local:
        assert staging == f"{root}/message_store/content/{name}"
    else:
        assert staging.startswith(tempfile.gettempdir() + "/") and staging.endswith(f"/{name}")
        assert staging != ArchiveStorage("memory://another-root").attachment_staging_dir("0123abcd")
    token = uuid.uuid4().hex
    assert any_storage.attachment_staging_dir(token).endswith(f"/{owner_prefix()}extract-{token}")
    with pytest.raises(ValueError):
        any_storage.attachment_staging_dir("../escape")
    # The lease lives beside the state files but is never taken for one.
    any_storage.atomic_write_bytes(any_storage.export_lease_path(), b"lease")
    any_storage.write_json(any_storage.export_state_path(DAY), {"state": "queued"})
    assert any_storage.export_state_days() == [DAY]

"""Storage layer: layout, atomic writes, and the raw call-log partition."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date
from pathlib import Path

import pytest

from rc_pipeline.storage import ArchiveStorage, Dataset, atomic_open, atomic_write_bytes, file_sha256
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

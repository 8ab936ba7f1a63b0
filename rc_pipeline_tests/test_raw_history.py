"""A re-fetch never shrinks the archive: calls RingCentral has since deleted stay archived."""

from datetime import UTC, date, datetime

from rc_pipeline.calls.tables import write_calls_and_legs
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.sample_records import call_log_page, sample_call_record

DAY = date(2026, 3, 4)
START = datetime(2026, 3, 4, tzinfo=UTC)
END = datetime(2026, 3, 5, tzinfo=UTC)


def page(*indexes: int) -> bytes:
    records = [sample_call_record(i, DAY, 1) for i in indexes]
    return call_log_page(records, 1, 1000, None)


def archive(storage: ArchiveStorage, pages: list[bytes], fetched_at: str) -> set[str]:
    storage.write_raw_call_log(DAY, pages, START, END, fetched_at=fetched_at)
    write_calls_and_legs(storage.read_raw_call_log_pages(DAY), DAY, storage)
    return set(storage.read_parquet(Dataset.CALLS, DAY).column("id").to_pylist())


def test_a_refetch_missing_a_call_keeps_it(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    first = archive(storage, [page(0, 1, 2)], "2026-03-05T02:00:00+00:00")
    # RingCentral deleted call 1 before the lookback re-fetch.
    second = archive(storage, [page(0, 2)], "2026-03-06T02:00:00+00:00")
    assert second == first and len(first) == 3
    manifest = storage.read_manifest(DAY)
    assert manifest.records_received == 2
    assert manifest.superseded == ("pages.superseded-20260305T0200000000.ndjson.gz",)
    # The superseded fetch is kept byte for byte.
    assert len(list(storage.read_raw_pages(DAY, all_fetches=True))) == 2


def test_an_identical_refetch_changes_nothing(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    archive(storage, [page(0, 1)], "2026-03-05T02:00:00+00:00")
    files = sorted(p.name for p in (tmp_path / "raw" / "call_log" / "date=2026-03-04").iterdir())
    archive(storage, [page(0, 1)], "2026-03-06T02:00:00+00:00")
    assert sorted(p.name for p in (tmp_path / "raw" / "call_log" / "date=2026-03-04").iterdir()) == files
    assert storage.read_manifest(DAY).superseded == ()


def test_newest_version_of_a_changed_call_wins_across_fetches(tmp_path):
    storage = ArchiveStorage(str(tmp_path))
    old = sample_call_record(5, DAY, 1)
    new = dict(old, result="Voicemail", lastModifiedTime="2026-03-05T09:00:00.000Z")
    storage.write_raw_call_log(
        DAY, [call_log_page([old], 1, 1000, None)], START, END, fetched_at="2026-03-05T02:00:00Z"
    )
    storage.write_raw_call_log(
        DAY, [call_log_page([new], 1, 1000, None)], START, END, fetched_at="2026-03-06T02:00:00Z"
    )
    write_calls_and_legs(storage.read_raw_call_log_pages(DAY), DAY, storage)
    calls = storage.read_parquet(Dataset.CALLS, DAY).to_pylist()
    assert [c["result"] for c in calls] == ["Voicemail"]

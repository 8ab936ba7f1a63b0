"""On S3 a refresh tells a re-written partition from an unchanged one by its listing alone (ETag)."""

from __future__ import annotations

import io
import random

import pyarrow.parquet as pq

from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.warehouse.partitions import compare, list_partitions
from rc_pipeline_tests.s3helpers import s3, s3_server  # noqa: F401
from rc_pipeline_tests.test_warehouse_refresh import DAYS, write_call_day


def test_rewrites_by_another_process_show_as_changed_partitions(s3):  # noqa: F811
    bucket = s3.make_bucket()
    storage = ArchiveStorage(f"s3://{bucket}/archive")
    rng = random.Random(4)
    for day in DAYS[:2]:
        write_call_day(storage, day, rng)
    recorded = {day: p.signature for day, p in list_partitions(storage, Dataset.CALLS).items()}
    assert set(recorded) == set(DAYS[:2]) and all(recorded.values())
    assert not compare(recorded, list_partitions(storage, Dataset.CALLS)).days
    # Another process re-writes day 0 with other rows (one PUT) and removes day 1: this process's
    # filesystem (and its listing cache) never saw those writes.
    table = storage.read_parquet(Dataset.CALLS, DAYS[0]).slice(1)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    client = s3.client()
    key = storage.parquet_path(Dataset.CALLS, DAYS[0]).split("/", 1)[1]
    client.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    client.delete_object(Bucket=bucket, Key=storage.parquet_path(Dataset.CALLS, DAYS[1]).split("/", 1)[1])
    changes = compare(recorded, list_partitions(storage, Dataset.CALLS))
    assert (changes.rewritten, changes.removed, changes.added) == ({DAYS[0]}, {DAYS[1]}, frozenset())

"""The extension directory as the archive knows it: which mailboxes to list, which ever existed."""

from __future__ import annotations

import pyarrow as pa

from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.raw_shapes import coerce


def extension_ids(storage: ArchiveStorage, client: RingCentralClient) -> list[int]:
    """Extensions whose message stores to list: the latest `extensions` snapshot, else the API's list."""
    snapshots = storage.list_partitions(Dataset.EXTENSIONS)
    if snapshots:
        ids = storage.read_parquet(Dataset.EXTENSIONS, snapshots[-1]).column("id").to_pylist()
    else:
        ids = [coerce(r.get("id"), pa.int64()) for r in client.iter_extensions()]
    return sorted({i for i in ids if i is not None})


def known_extension_ids(storage: ArchiveStorage) -> set[int]:
    """Every extension id in any `extensions` snapshot: a mailbox deleted since still existed then."""
    known: set[int] = set()
    for snapshot in storage.list_partitions(Dataset.EXTENSIONS):
        known.update(storage.read_parquet(Dataset.EXTENSIONS, snapshot).column("id").to_pylist())
    return known

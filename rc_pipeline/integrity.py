"""Whether archived files are still what their manifest says: the answer `verify`, the checks and the
purge at the source all rely on, written once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.transform.schemas import PURGED_AT_SOURCE


def missing_or_damaged(
    storage: ArchiveStorage, rows: Mapping[str, Mapping[str, Any] | None], archived_status: str
) -> tuple[list[str], list[str]]:
    """(missing, damaged) keys of ``rows``: manifest rows (``status``, ``path``, ``bytes``, ``sha256``).

    Missing: no row, a row whose status is not ``archived_status``, or no file at its path. Damaged: a
    file whose size or sha256 (recomputed now) differs from the row.
    """
    missing, damaged = [], []
    for key, row in rows.items():
        if row is None or row.get("status") != archived_status:
            missing.append(key)
            continue
        check = storage.verify_file(row.get("path"), row.get("bytes"), row.get("sha256"))
        if check.status == "missing":
            missing.append(key)
        elif check.status == "damaged":
            damaged.append(key)
    return missing, damaged


def damaged_attachments(storage: ArchiveStorage, table: pa.Table) -> tuple[list[str], list[str]]:
    """(missing, damaged) keys ``messageId/attachmentId`` of a `message_attachments` partition."""
    rows = table.select(["message_id", "attachment_id", "status", "path", "bytes", "sha256"]).to_pylist()
    # An attachment purged at the source before any fetch reached it was never archivable.
    return missing_or_damaged(
        storage,
        {f"{r['message_id']}/{r['attachment_id']}": r for r in rows if r["status"] != PURGED_AT_SOURCE},
        "archived",
    )


def purged_before_archived(table: pa.Table) -> list[str]:
    """Keys ``messageId/attachmentId`` of attachments whose message was purged before any fetch."""
    rows = table.select(["message_id", "attachment_id", "status"]).to_pylist()
    return [f"{r['message_id']}/{r['attachment_id']}" for r in rows if r["status"] == PURGED_AT_SOURCE]

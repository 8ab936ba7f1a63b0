"""Choosing one version of each call: records change after first listing, so the newest wins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def latest_version_mask(
    ids: pa.Array | pa.ChunkedArray, modified_ms: pa.Array | pa.ChunkedArray
) -> np.ndarray:
    """Boolean mask over rows: True for the one row kept per id.

    The kept row has the newest ``modified_ms``; a missing time counts as oldest, and among
    equal times the row read last wins (a later page is a later look at the record).
    Only ids, times and positions are held, so this scales to a day of any realistic size.
    """
    count = len(ids)
    keys = pa.table(
        {
            "id": ids,
            # Missing times sort first (oldest); filling beats null_placement, whose API moved.
            "modified": pc.fill_null(modified_ms, np.iinfo(np.int64).min),
            "position": pa.array(np.arange(count, dtype=np.int64)),
        }
    )
    order = pc.sort_indices(
        keys,
        sort_keys=[("id", "ascending"), ("modified", "ascending"), ("position", "ascending")],
    )
    sorted_ids = pc.take(keys.column("id"), order)
    last_of_group = np.ones(count, dtype=bool)
    if count > 1:
        differs = pc.not_equal(sorted_ids.slice(0, count - 1), sorted_ids.slice(1))
        last_of_group[:-1] = differs.to_numpy(zero_copy_only=False)
    keep = np.zeros(count, dtype=bool)
    keep[order.to_numpy()[last_of_group]] = True
    return keep

"""Pure data-quality checks over typed tables, for asset checks to call."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc


def duplicate_ids(table: pa.Table, column: str = "id") -> list[str]:
    """Values of ``column`` that occur more than once, sorted."""
    counts = table.group_by(column).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1))
    return sorted(v for v in repeated.column(column).to_pylist() if v is not None)


def records_outside_window(
    table: pa.Table, start: datetime, end: datetime, column: str = "start_time", id_column: str = "id"
) -> list[str]:
    """Ids whose ``column`` is missing or outside ``[start, end)``, sorted.

    A record outside the fetch window means the request's dateFrom/dateTo were not honoured
    (or were built in the wrong timezone); a missing start time cannot be placed at all.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    times = table.column(column)
    lower = pa.scalar(start, times.type)
    upper = pa.scalar(end, times.type)
    inside = pc.and_(pc.greater_equal(times, lower), pc.less(times, upper))
    outside = pc.invert(pc.fill_null(inside, False))
    return sorted(table.filter(outside).column(id_column).to_pylist())


def orphan_legs(calls: pa.Table, legs: pa.Table) -> list[str]:
    """Call ids that legs point at but that are not in ``calls``, sorted and distinct."""
    known = pc.is_in(legs.column("call_id"), value_set=pc.unique(calls.column("id")))
    orphans = legs.filter(pc.invert(known)).column("call_id")
    return sorted(set(orphans.to_pylist()))

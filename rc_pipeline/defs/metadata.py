"""Materialisation metadata a user actually reads: counts, bytes, API spend, waits, time, a preview."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pyarrow as pa

from rc_pipeline.ringcentral import ClientStats, RingCentralClient, RingCentralError

# A check lists at most this many offending ids; the count says how many there are.
SHOWN_IDS = 50


@dataclass
class ApiSpend:
    """Filled in when the `measure` block ends."""

    stats: ClientStats = field(default_factory=ClientStats)
    elapsed: float = 0.0

    def metadata(self) -> dict[str, Any]:
        s = self.stats
        return {
            "api_requests": dg.MetadataValue.int(s.total_requests),
            "api_requests_by_group": dg.MetadataValue.json(dict(sorted(s.requests.items()))),
            "api_429s": dg.MetadataValue.int(s.throttled_429),
            # Wall-clock time during which at least one request waited for the budget (<= elapsed_s);
            # the per-thread sum beside it counts parallel waits once per download thread.
            "rate_limit_wait_s": dg.MetadataValue.float(round(s.throttle_wait_wall_seconds, 2)),
            "rate_limit_wait_thread_s": dg.MetadataValue.float(round(s.throttle_wait_seconds, 2)),
            "retries_5xx_or_network": dg.MetadataValue.int(s.server_errors + s.connection_errors),
            "elapsed_s": dg.MetadataValue.float(round(self.elapsed, 2)),
        }


@contextmanager
def measure(client: RingCentralClient) -> Iterator[ApiSpend]:
    """Count the API spend of the enclosed block. A RingCentral error escaping it fails the step with
    that error as the failure's own text: left as it is, Dagster shows its wrapper ("Error occurred
    while executing op ...") first and what RingCentral answered only further down."""
    before = client.stats()
    started = time.monotonic()
    spend = ApiSpend()
    try:
        yield spend
    except RingCentralError as exc:
        raise dg.Failure(
            description=f"{type(exc).__name__}: {exc}",
            metadata={
                "request": exc.request or "",
                "http_status": exc.status if exc.status is not None else "",
                "error_code": exc.error_code or "",
            },
        ) from exc
    finally:
        spend.stats = client.stats().minus(before)
        spend.elapsed = time.monotonic() - started


def preview(table: pa.Table, columns: list[str], rows: int = 5) -> dg.MetadataValue:
    """A small Markdown table of the first rows (the UI renders it on the materialisation)."""
    cols = [c for c in columns if c in table.column_names]
    head = table.select(cols).slice(0, rows).to_pylist()
    if not head:
        return dg.MetadataValue.md("_no rows_")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head:
        lines.append("| " + " | ".join("" if row[c] is None else str(row[c]) for c in cols) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def shown_ids(values: Iterable[object]) -> dg.MetadataValue:
    """The first `SHOWN_IDS` ids, shortest first so numeric ids read in numeric order."""
    return dg.MetadataValue.json(sorted((str(v) for v in values), key=lambda v: (len(v), v))[:SHOWN_IDS])

"""What a day's `calls` and `call_legs` are built from: its listed pages plus every captured record.

Captured answers (`rc_pipeline.calls.changes`) are kept whole under each day they touch; this module
selects the records that started inside a day's window. The table writer keeps the newest
`lastModifiedTime` of each call, and among equal times the one read last, so captures come after the
listings: a call captured within minutes and deleted at RingCentral before the day was listed stays in
the day's table, and a late recording attachment reaches the table without listing the day again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from rc_pipeline.calls.tables import TransformStats, write_calls_and_legs
from rc_pipeline.days import DayWindow
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.transform.columns import parse_iso
from rc_pipeline.transform.pages import records_from_pages


def captured_records_of_day(storage: ArchiveStorage, window: DayWindow) -> Iterator[dict[str, Any]]:
    """Every captured record that started inside the day's window, oldest capture first."""
    for record in records_from_pages(storage.read_call_changes(window.day)):
        started = parse_iso(record.get("startTime"))
        if started is not None and window.start <= started < window.end:
            yield record


def captured_pages_of_day(storage: ArchiveStorage, window: DayWindow) -> Iterator[bytes]:
    """The day's captured records as page lines the table writer reads (records of other days left out).

    Derived, not stored: the raw answers stay whole on disk; this only selects the day's records.
    """
    records = list(captured_records_of_day(storage, window))
    if records:
        yield json.dumps({"records": records}, separators=(",", ":")).encode()


def pages_of_day(storage: ArchiveStorage, window: DayWindow) -> Iterator[bytes]:
    """What a day's tables are built from: every listed fetch, then every capture (later wins ties)."""
    yield from storage.read_raw_call_log_pages(window.day)
    yield from captured_pages_of_day(storage, window)


def has_listing(storage: ArchiveStorage, day: date) -> bool:
    """Whether the day was listed (its raw partition is complete): only such days can be rebuilt."""
    try:
        storage.read_manifest(day)
    except FileNotFoundError:
        return False
    return True


def days_behind_captures(storage: ArchiveStorage, first_day: date, last_day: date) -> dict[date, str]:
    """Listed days whose tables do not include their newest captured answer yet, with its name.

    Derived from the archive alone, not from what one sensor tick saw: a tick that failed after the
    sync token was stored, or a rebuild that never ran, leaves the day behind until it is rebuilt.
    """
    behind = {}
    for day in storage.call_change_days():
        if not first_day <= day <= last_day or not has_listing(storage, day):
            continue
        latest = storage.latest_call_change(day)
        if latest is not None and storage.calls_built_from(day) != latest:
            behind[day] = latest
    return behind


def build_day_tables(storage: ArchiveStorage, window: DayWindow) -> TransformStats:
    """Write the day's `calls` and `call_legs` from its listings plus its captures (no request to
    RingCentral), and note the newest capture they include, so `days_behind_captures` knows."""
    # Noted before reading: a capture landing meanwhile leaves the day behind, to be rebuilt again.
    latest_capture = storage.latest_call_change(window.day)
    stats = write_calls_and_legs(pages_of_day(storage, window), window.day, storage)
    storage.record_calls_built_from(window.day, latest_capture)
    return stats

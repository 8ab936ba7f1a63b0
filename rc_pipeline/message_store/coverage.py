"""Whether the capture vouches for a day's late changes, so the daily schedule need not export it again.

The daily schedule used to re-export every lookback day (`RC_LOOKBACK_DAYS`) to pick up what changed
after a day was first archived (read status, deletions, transcriptions). An export is the expensive
part of the message store (Heavy requests: the task, its polls, the archive list, every zip), and
message-sync (Light) reports exactly those changes. A lookback day is therefore exported again only
when the capture cannot vouch for it: some mailbox has no unbroken sync chain reaching back before
the day's last fetch (a MSG-333 or a sync that left older changes unread restarts the chain), or its
last sync is older than `STALE_AFTER` (today's capture did not run). The
lookback stays the safety net for every such case.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from rc_pipeline.days import DayWindow
from rc_pipeline.message_store.capture import load_state
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.columns import parse_iso

# The daily capture runs a quarter of an hour before the message schedule (and every RC_CAPTURE_MINUTES
# when set): a chain not synced within two hours of the schedule missed today's capture, and what
# changed since its last sync is seen by nobody; the day is exported again.
STALE_AFTER = timedelta(hours=2)


def last_daily_fetch(storage: ArchiveStorage, day: DayWindow) -> datetime | None:
    """When the day's export or listing was last fetched; None when the day was never archived."""
    times: list[datetime | None] = []
    with contextlib.suppress(FileNotFoundError, ValueError):
        times += [parse_iso(m.fetched_at) for m in storage.committed_exports(day.day)]
    with contextlib.suppress(FileNotFoundError, ValueError):
        times.append(parse_iso(storage.raw_last_fetch(day.day, Dataset.RAW_MESSAGE_STORE)))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def capture_vouches_for(storage: ArchiveStorage, window: DayWindow, now: datetime) -> tuple[bool, str]:
    """(whether every mailbox's sync chain covers the day's changes since its last fetch, why not)."""
    fetched = last_daily_fetch(storage, window)
    if fetched is None:
        return False, "never archived"
    snapshots = storage.list_partitions(Dataset.EXTENSIONS)
    if not snapshots:
        return False, "no extensions snapshot"
    ids = storage.read_parquet(Dataset.EXTENSIONS, snapshots[-1]).column("id").to_pylist()
    for extension_id in sorted(i for i in ids if i is not None):
        state = load_state(storage, extension_id)
        if state is None:
            return False, f"extension {extension_id} never captured"
        started, synced, date_from = (
            parse_iso(state.chain_started_at),
            parse_iso(state.last_sync_at),
            parse_iso(state.date_from),
        )
        if started is None or synced is None or date_from is None:
            return False, f"extension {extension_id}: unreadable sync state"
        if started > fetched or date_from > window.start:
            return False, f"extension {extension_id}: sync chain began after the day's last fetch"
        if synced < now - STALE_AFTER:
            return False, f"extension {extension_id}: last capture {state.last_sync_at} is stale"
    return True, "every mailbox synced since the day's last fetch"

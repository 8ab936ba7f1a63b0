"""The dry run: `plan_erasure`."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rc_pipeline.control.erase.model import DayPlan, ErasurePlan, Progress, _blocked, _plan_items
from rc_pipeline.control.erase.retention import retained
from rc_pipeline.control.erase.scan import _scan_archive
from rc_pipeline.control.erase.source import SOURCE_FLOOR, _list_source, _source_windows
from rc_pipeline.control.holds import active_holds
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.storage.rewrite import (
    relative_path,
)
from rc_pipeline.storage.zipsafe import ZipLimits


def plan_erasure(
    storage: ArchiveStorage,
    client: RingCentralClient,
    extension_id: int,
    *,
    tz: str,
    now: datetime | None = None,
    source_since: date | None = None,
    limits: ZipLimits | None = None,
    progress: Progress | None = None,
) -> ErasurePlan:
    """The dry run: every trace of ``extension_id``'s mailbox in the archive, what the source still
    holds of it, and which of it legal holds protect. Reads only (one listing per window at the source).

    ``source_since`` is the first day listed at the source (default `SOURCE_FLOOR`); ``now`` the end of
    the last window (default: the current time).
    """
    say = progress or (lambda _: None)
    limits = limits or ZipLimits()
    now = now or datetime.now(UTC)
    scans = _scan_archive(storage, extension_id, limits, say)
    say(f"archive: traces of extension {extension_id} on {len(scans)} day(s)")
    person_days = [d for d, s in scans.items() if s.kinds]
    windows = _source_windows(person_days, tz, min([source_since or SOURCE_FLOOR, *person_days]), now)
    source, known_at_source = _list_source(client, extension_id, windows, tz)
    say(f"source: {len(source)} message(s) of extension {extension_id} in {len(windows)} window(s)")
    days: dict[date, DayPlan] = {}
    for day, scan in scans.items():
        days[day] = DayPlan(
            day=day,
            in_archive=scan.ids,
            kinds=dict(scan.kinds),
            message_rows=scan.message_rows,
            attachment_rows=scan.attachment_rows,
            attachment_files=sorted(relative_path(storage, p) for p in scan.attachment_files),
            index_entries={d.value: keys for d, keys in scan.index_keys.items()},
            raw_files=[h.public(storage) for h in scan.raw],
            manifest_repairs=sorted({relative_path(storage, r.path) for r in scan.repairs}),
            leftovers=[relative_path(storage, p) for p in scan.leftovers],
        )
    for message in source.values():
        plan = days.setdefault(message.day, DayPlan(day=message.day))
        plan.at_source[message.id] = message.availability or "Alive"
        plan.kinds[message.id] = plan.kinds.get(message.id) or message.kind
    holds = active_holds(storage)
    result = ErasurePlan(
        extension_id=extension_id,
        timezone=tz,
        planned_at=datetime.now(UTC).isoformat(),
        source_windows=[(s.isoformat(), e.isoformat()) for _, s, e in windows],
        extension_at_source=known_at_source,
        days=[days[d] for d in sorted(days)],
        holds_checked=[h.id for h in holds],
        retained=retained(storage, scans, extension_id),
    )
    for blocked in _blocked(_plan_items(result), holds, extension_id):
        days[blocked.day].blocked.append(blocked)
    return result

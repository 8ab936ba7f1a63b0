"""Recordings of one day: what the call log references, what is already archived intact, and the rest
streamed from RingCentral, verified and listed in the day's manifest.

The rest is fetched in order of deadline (the call's start: RingCentral deletes a recording a fixed
number of days after it). With a budget, a run fetches at most that many and lists the others as
deferred, each with the moment RingCentral deletes it, for a later run (or the risk checks) to see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa

from rc_pipeline.calls.audio import audio_seconds
from rc_pipeline.downloads import download_all
from rc_pipeline.forecast import is_hipaa
from rc_pipeline.ringcentral import NotFound, RingCentralClient, RingCentralError
from rc_pipeline.risk.rules import recording_retention_days
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline.transform.recordings import (
    RecordingRef,
    has_deadline,
    recordings_manifest_table,
    recordings_referenced,
)


def previous_manifest(storage: ArchiveStorage, day: date) -> dict[str, dict[str, Any]]:
    """The day's manifest rows by recording id, or nothing when the day was never archived."""
    if not storage.exists(storage.parquet_path(Dataset.RECORDINGS, day)):
        return {}
    return {row["recording_id"]: row for row in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist()}


def already_archived(storage: ArchiveStorage, row: dict[str, Any] | None) -> bool:
    """A verified row whose file still has its recorded size and sha256: nothing to fetch.

    Re-hashing costs local reads only; trusting the size alone would leave a file damaged in place
    (same length, other bytes) unrepaired while RingCentral still holds the original.
    """
    if not row or row.get("status") != "verified":
        return False
    return storage.verify_file(row.get("path"), row.get("bytes"), row.get("sha256")).ok


def fetch_recording(
    client: RingCentralClient, storage: ArchiveStorage, day: date, ref: RecordingRef
) -> dict[str, Any]:
    """Stream one recording into the archive; the manifest row says verified, missing or failed."""
    row: dict[str, Any] = {
        "recording_id": ref.recording_id,
        "call_id": ref.call_id,
        "leg_index": ref.leg_index,
    }
    try:
        incoming = storage.recording_incoming_path(day, ref.recording_id)
        result = client.download_recording(
            {"id": ref.recording_id, "contentUri": ref.content_uri} if ref.content_uri else ref.recording_id,
            incoming,
        )
        seconds = audio_seconds(incoming, result.content_type)
        path = storage.publish_recording(incoming, day, ref.recording_id, result.content_type or "")
    except NotFound as exc:
        # Gone at RingCentral (retention, deletion): record it; the completeness check lists it.
        return {**row, "status": "missing", "error": str(exc)}
    except (RingCentralError, OSError, ValueError) as exc:
        return {**row, "status": "failed", "error": str(exc)}
    return {
        **row,
        "content_type": result.content_type,
        "bytes": result.size,
        "sha256": result.sha256,
        "duration_s": round(seconds) if seconds is not None else None,
        "path": path,
        "status": "verified",
        "error": None,
    }


@dataclass(frozen=True)
class RecordingsArchived:
    """What archiving one day's recordings did; ``rows`` is the manifest as written."""

    referenced: int
    manifest_rows: int
    rows: list[dict[str, Any]]
    fetched: list[dict[str, Any]]
    # Left for a later run by the budget, earliest deadline first: recording_id, call_id, deadline.
    deferred: list[dict[str, str | None]] = field(default_factory=list)
    budget: int | None = None

    @property
    def earliest_deadline(self) -> str | None:
        return earliest_deadline(self.deferred)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "failed"]

    @property
    def missing_ids(self) -> list[str]:
        return [r["recording_id"] for r in self.rows if r["status"] == "missing"]

    @property
    def downloaded(self) -> int:
        return sum(1 for r in self.fetched if r["status"] == "verified")

    @property
    def bytes_downloaded(self) -> int:
        return sum(r.get("bytes") or 0 for r in self.fetched if r["status"] == "verified")

    @property
    def bytes_total(self) -> int:
        return sum(r.get("bytes") or 0 for r in self.rows)


def earliest_deadline(deferred: list[dict[str, str | None]]) -> str | None:
    """The nearest deadline of a deferred list (ISO UTC strings compare in time order)."""
    return min((d["deadline"] for d in deferred if d.get("deadline")), default=None)


def call_starts(calls: pa.Table, day: date) -> Callable[[RecordingRef], datetime]:
    """Each recording's call start, the clock its deadline runs on. A call without one counts from the
    day's earliest start (midnight UTC when none has one): never later than it can be."""
    starts = {
        row["id"]: row["start_time"]
        for row in calls.select(["id", "start_time"]).to_pylist()
        if row["start_time"]
    }
    fallback = min(starts.values(), default=datetime.combine(day, time.min, UTC))
    return lambda ref: starts.get(ref.call_id) or fallback


def read_hipaa(client: RingCentralClient, progress: Callable[[str], None]) -> bool | None:
    """service-info's HIPAA flag (one Light request); None when it cannot be read."""
    try:
        return is_hipaa(client.service_info())
    except RingCentralError as exc:
        progress(f"service-info unreadable ({exc}); deadlines assume a HIPAA account (30 days)")
        return None


def account_is_hipaa(client: RingCentralClient, progress: Callable[[str], None]) -> bool:
    """service-info's HIPAA flag. Unreadable: assume HIPAA, whose 30 days are the earlier deadline, so
    a deadline is never stated later than it is."""
    return read_hipaa(client, progress) is not False


def _unfetched_row(ref: RecordingRef, status: str, why: str) -> dict[str, Any]:
    return {
        "recording_id": ref.recording_id,
        "call_id": ref.call_id,
        "leg_index": ref.leg_index,
        "status": status,
        "error": why,
    }


def archive_recordings(
    client: RingCentralClient,
    storage: ArchiveStorage,
    day: date,
    progress: Callable[[str], None],
    *,
    budget: int | None = None,
    now: datetime | None = None,
    only_with_deadline: bool = False,
    deadline_days: int | None = None,
) -> RecordingsArchived:
    """Fetch the recordings the day's calls and legs reference that are not archived intact yet,
    earliest deadline first, at most ``budget`` of them (None: all).

    The manifest is written whatever failed, so the next run keeps what succeeded and retries only
    the rest; the caller decides whether failures fail the partition. What the budget left is in the
    manifest as ``deferred`` and in the storage's deferred list with its deadline (not a failure).
    ``now`` (default: the current time) decides which deadlines have passed. With
    ``only_with_deadline`` the budget goes to automatic recordings only (the on-demand ones are
    deferred): a caller spreading one budget over several days spends it on every deadline first.
    ``deadline_days`` overrides the account's recording deadline (default: service-info's HIPAA flag).
    """
    calls = storage.read_parquet(Dataset.CALLS, day)
    refs = recordings_referenced(calls, storage.read_parquet(Dataset.CALL_LEGS, day))
    before = previous_manifest(storage, day)
    rows: list[dict[str, Any]] = []
    todo: list[RecordingRef] = []
    for ref in refs:
        prior = before.get(ref.recording_id)
        if already_archived(storage, prior):
            rows.append({**prior, "call_id": ref.call_id, "leg_index": ref.leg_index})
        else:
            todo.append(ref)
    start_of = call_starts(calls, day)
    # Deadline order: automatic recordings by their call's start (one retention for the account), then
    # on-demand ones, which RingCentral's time limit does not delete.
    todo.sort(key=lambda ref: (not has_deadline(ref), start_of(ref), ref.recording_id))
    later: list[tuple[RecordingRef, datetime | None]] = []
    gone: list[tuple[RecordingRef, datetime]] = []
    if budget is not None and todo:
        # A budget goes to the recordings RingCentral still holds, the nearest deadline first: one past
        # its deadline is deleted there, and asking for it would spend a Heavy request on a 404.
        # (Without a budget every one is tried, as ever.)
        hipaa = None if deadline_days else read_hipaa(client, progress)
        # Deadlines are stated with the earlier reading (unknown: HIPAA's 30 days); a recording is
        # written off only with the flag actually read (unknown: 90 days), never on a guess. Past its
        # deadline it is not requested: in a budget-bound run a 404 would spend a download another
        # recording needs before its own deadline.
        days = deadline_days or recording_retention_days(hipaa is not False)
        skip_after = timedelta(days=deadline_days or recording_retention_days(bool(hipaa)))
        moment = now or datetime.now(UTC)
        dated = [(ref, start_of(ref) + timedelta(days=days) if has_deadline(ref) else None) for ref in todo]
        written_off = {
            ref.recording_id for ref in todo if has_deadline(ref) and start_of(ref) + skip_after <= moment
        }
        gone = [(ref, dl) for ref, dl in dated if dl is not None and ref.recording_id in written_off]
        alive = [d for d in dated if d[0].recording_id not in written_off]
        eligible = [d for d in alive if d[1] is not None] if only_with_deadline else alive
        held = [d for d in alive if d[1] is None] if only_with_deadline else []
        todo, later = [ref for ref, _ in eligible[:budget]], eligible[budget:] + held
    progress(
        f"{len(refs)} recordings referenced, {len(rows)} already archived, {len(todo)} to fetch"
        + (f", {len(later)} deferred (budget {budget})" if later else "")
        + (f", {len(gone)} past their deadline" if gone else "")
    )
    fetched = download_all(
        todo,
        lambda ref: fetch_recording(client, storage, day, ref),
        progress=progress,
        what="recordings fetched",
    )
    rows.extend(fetched)
    deferred = [
        {
            "recording_id": ref.recording_id,
            "call_id": ref.call_id,
            "deadline": deadline.isoformat() if deadline else None,
        }
        for ref, deadline in later
    ]
    for ref, deadline in later:
        when = (
            f"RingCentral deletes it at {deadline.isoformat()}"
            if deadline
            else "on-demand: no time limit deletes it"
        )
        rows.append(
            _unfetched_row(
                ref, "deferred", f"left for a later run: the run's budget of {budget} went first; {when}"
            )
        )
    for ref, deadline in gone:
        rows.append(
            _unfetched_row(
                ref,
                "missing",
                f"not fetched: past its deadline ({deadline.isoformat()}), RingCentral has deleted it",
            )
        )
    # The manifest in the call log's order, whatever order they were fetched in: a re-run writes the
    # same file.
    position = {ref.recording_id: n for n, ref in enumerate(refs)}
    rows.sort(key=lambda row: position.get(row["recording_id"], len(position)))
    # The deferred list first: the manifest is the partition's commit marker. A day that never
    # deferred anything gets no file; one that did gets its list replaced (emptied once all is in).
    if deferred or storage.exists(storage.deferred_recordings_path(day)):
        storage.write_deferred_recordings(day, deferred)
    written = storage.write_parquet(Dataset.RECORDINGS, day, recordings_manifest_table(rows, day))
    return RecordingsArchived(
        referenced=len(refs),
        manifest_rows=written,
        rows=rows,
        fetched=fetched,
        deferred=deferred,
        budget=budget,
    )

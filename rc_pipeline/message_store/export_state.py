"""Durable state of message-store export tasks: one small JSON file per partition.

`state/message_store_export/date=YYYY-MM-DD.json` under the archive root says which task archives
that day, where it stands and what happened to earlier attempts. The task asset writes a file when
it asks for an export; from then on the poller (sensor or `rc-pipeline archive`) owns it until the
entry is final. One file per partition means the two never rewrite each other's partitions.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from rc_pipeline.storage import ArchiveStorage
from rc_pipeline.storage.modes import file_mode, make_dirs

# Our view of a partition's export (RingCentral's own task status is kept beside it).
QUEUED = "queued"  # waiting for a free task slot or for a retry's backoff to pass
# Saved just before the POST: if the process dies between the POST and the next save, the entry
# says a task may exist at RingCentral that we hold no id for (see `ExportEntry.abandoned`).
SUBMITTING = "submitting"
SUBMITTED = "submitted"  # a RingCentral task is running
COMPLETED = "completed"  # the task finished; its archives can be downloaded
GAVE_UP = "gave_up"  # every attempt failed: surfaced as a failed download run
LIVE_STATES = frozenset({QUEUED, SUBMITTING, SUBMITTED})
FINAL_STATES = frozenset({COMPLETED, GAVE_UP})

# RingCentral task statuses. AttemptFailed is not final: one attempt failed and RingCentral tries
# again, so the task may still complete (and it still holds one of the account's task slots).
# Re-submitting at AttemptFailed would spend a slot and Heavy requests on a second task.
RUNNING_TASK_STATUSES = frozenset({"Accepted", "Pending", "InProgress", "AttemptFailed"})
FAILED_TASK_STATUSES = frozenset({"Failed", "Cancelled"})


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class ExportEntry:
    """The export of one partition."""

    partition: str
    window_start: str
    window_end: str
    state: str
    requested_at: str
    updated_at: str
    attempt: int = 0  # tasks submitted so far
    task_id: str | None = None
    task_status: str | None = None
    submitted_at: str | None = None
    not_before: str | None = None  # a queued entry is not submitted before this time
    error: str | None = None
    # One item per submitted task: task_id, status, submitted_at, finished_at.
    history: list[dict[str, Any]] = field(default_factory=list)
    # Tasks we stopped waiting for (timed out) or may have created without learning the id (a
    # submission interrupted by a crash): task_id (or None), since. RingCentral still runs them,
    # so each occupies one of the account's task slots until it reaches a final status (or, with
    # no id to ask about, until the task timeout has passed since `since`).
    abandoned: list[dict[str, Any]] = field(default_factory=list)

    @property
    def day(self) -> date:
        return date.fromisoformat(self.partition)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def run_key(self) -> str:
        """The download run's key: the task id (a task completes or fails once, so it is unique)."""
        return self.task_id or f"{self.partition}@{self.requested_at}"

    def describe(self) -> str:
        """One line for logs and errors: partition, state, task and its status."""
        task = f"task {self.task_id} ({self.task_status})" if self.task_id else "no task yet"
        return f"{self.partition}: {self.state}, attempt {self.attempt}, {task}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ExportEntry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in known})


def abandoned_running(entry: ExportEntry, now: datetime, timeout_seconds: float) -> int:
    """How many of the entry's abandoned tasks still count against RingCentral's task limit."""
    count = 0
    for item in entry.abandoned:
        if item.get("task_id"):
            count += 1  # removed by the poller once RingCentral reports a final status
        elif now - parse_utc(str(item["since"])) < timedelta(seconds=timeout_seconds):
            count += 1
    return count


def load_entry(storage: ArchiveStorage, day: date) -> ExportEntry | None:
    """The export state of ``day``, or None when no export was ever requested for it."""
    path = storage.export_state_path(day)
    if not storage.exists(path):
        return None
    return ExportEntry.from_json(storage.read_json(path))


def save_entry(storage: ArchiveStorage, entry: ExportEntry) -> None:
    """Replace the state file of the entry's partition (atomic)."""
    storage.write_json(storage.export_state_path(entry.day), entry.to_json())


def load_all(storage: ArchiveStorage) -> list[ExportEntry]:
    """Every partition's export state, oldest partition first."""
    entries = []
    for day in storage.export_state_days():
        entry = load_entry(storage, day)
        if entry is not None:
            entries.append(entry)
    return entries


# ------------------------------------------------------------------ the per-archive-root lease
# A remote lease older than this is taken to belong to a dead process. Every holder finishes a
# poll (a few status calls, at most two submissions) well within it.
LEASE_TTL_SECONDS = 300.0
LEASE_WAIT_SECONDS = 120.0


class LeaseBusy(TimeoutError):
    """Another poller held the export-state lease for longer than we were willing to wait."""


@contextlib.contextmanager
def export_lease(
    storage: ArchiveStorage,
    wait_seconds: float = LEASE_WAIT_SECONDS,
    ttl_seconds: float = LEASE_TTL_SECONDS,
    path: str | None = None,
) -> Iterator[None]:
    """Hold the archive root's export-state lease (or the lease at ``path``): one holder at a time.

    The sensor, `rc-pipeline archive` and the task asset all read-modify-write the same state
    files and all submit tasks; without mutual exclusion two of them submit the same queued day.
    Local roots use `fcntl.flock` (released by the kernel if the process dies, so never stale);
    other fsspec roots use an exclusive create of a lease file that expires after ``ttl_seconds``.
    """
    lease_path = path or storage.export_lease_path()
    if storage.is_local:
        with _local_lease(lease_path, wait_seconds):
            yield
    else:
        with _remote_lease(storage, lease_path, wait_seconds, ttl_seconds):
            yield


@contextlib.contextmanager
def _local_lease(path: str, wait_seconds: float) -> Iterator[None]:
    import fcntl

    make_dirs(os.path.dirname(path))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        os.fchmod(fd, file_mode())
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LeaseBusy(f"{path} held by another poller for over {wait_seconds:g} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _remote_lease(
    storage: ArchiveStorage, path: str, wait_seconds: float, ttl_seconds: float
) -> Iterator[None]:
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_seconds
    while True:
        now = datetime.now(UTC)
        body = json.dumps({"owner": token, "expires_at": utc_text(now + timedelta(seconds=ttl_seconds))})
        try:
            # "xb" is an exclusive create on filesystems that support it (local, recent s3fs/gcsfs
            # through conditional writes); elsewhere the read-back below narrows the race.
            with storage.fs.open(path, "xb") as handle:
                handle.write(body.encode())
        except FileExistsError:
            pass
        except (ValueError, NotImplementedError):
            if not storage.exists(path):
                storage.fs.pipe_file(path, body.encode())
        if _lease_owner(storage, path, now) == token:
            break
        if time.monotonic() > deadline:
            raise LeaseBusy(f"{path} held by another poller for over {wait_seconds:g} s")
        time.sleep(0.2)
    try:
        yield
    finally:
        if _lease_owner(storage, path, datetime.now(UTC)) == token:
            storage.remove(path)


def _lease_owner(storage: ArchiveStorage, path: str, now: datetime) -> str | None:
    """The current lease holder's token; an expired or unreadable lease is removed (None)."""
    storage.fs.invalidate_cache(path)
    try:
        lease = storage.read_json(path)
    except FileNotFoundError:
        return None
    except ValueError:
        lease = {}
    expires = lease.get("expires_at") if isinstance(lease, dict) else None
    if not expires or parse_utc(str(expires)) <= now:
        storage.remove(path)  # stale: its holder died without releasing it
        return None
    return str(lease.get("owner"))

"""Durable state of message-store export tasks: one small JSON file per partition.

`state/message_store_export/date=YYYY-MM-DD.json` under the archive root says which task archives
that day, where it stands and what happened to earlier attempts. The task asset writes a file when
it asks for an export; from then on the poller (sensor or `rc-pipeline archive`) owns it until the
entry is final. One file per partition means the two never rewrite each other's partitions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

from rc_pipeline.storage import ArchiveStorage

# Our view of a partition's export (RingCentral's own task status is kept beside it).
QUEUED = "queued"  # waiting for a free task slot or for a retry's backoff to pass
SUBMITTED = "submitted"  # a RingCentral task is running
COMPLETED = "completed"  # the task finished; its archives can be downloaded
GAVE_UP = "gave_up"  # every attempt failed: surfaced as a failed download run
LIVE_STATES = frozenset({QUEUED, SUBMITTED})
FINAL_STATES = frozenset({COMPLETED, GAVE_UP})

# RingCentral task statuses.
RUNNING_TASK_STATUSES = frozenset({"Accepted", "Pending", "InProgress"})
FAILED_TASK_STATUSES = frozenset({"AttemptFailed", "Failed", "Cancelled"})


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

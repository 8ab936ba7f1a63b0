"""The manifest written beside a raw partition: what was asked for, what came back, and a checksum."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass(frozen=True)
class RawManifest:
    """Describes one raw partition; its presence marks the partition complete.

    ``records_reported`` is what RingCentral's paging said (``totalElements``), which the API may
    omit; ``records_received`` is what the pages actually held. A gap between the two is the
    first sign of a lost page.
    """

    window_start: str
    window_end: str
    pages: int
    records_reported: int | None
    records_received: int
    fetched_at: str
    sha256: str
    pages_file: str
    bytes: int
    # Earlier fetches that differed from this one, kept beside it (oldest first).
    superseded: tuple[str, ...] = ()

    def to_json(self) -> bytes:
        """Stable, human-readable encoding (sorted keys) so re-runs produce comparable files."""
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> RawManifest:
        """Parse a manifest written by `to_json`; unknown keys from newer writers are ignored."""
        raw = json.loads(data)
        known = {name: raw.get(name) for name in cls.__dataclass_fields__}
        known["superseded"] = tuple(known.get("superseded") or ())
        return cls(**known)


def iso(value: datetime | str) -> str:
    """ISO 8601 text of a timestamp; strings are trusted to be ISO already."""
    return value if isinstance(value, str) else value.isoformat()


@dataclass(frozen=True)
class ExportPart:
    """One zip of a message-store export, as downloaded."""

    index: int
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ExportManifest:
    """Commit marker of a raw message-store export partition: which task, which zips.

    Written after the zips and the attachment index, so its presence means all of them are whole.
    """

    task_id: str
    window_start: str
    window_end: str
    parts: tuple[ExportPart, ...]
    fetched_at: str
    messages: int
    attachments: int

    def to_json(self) -> bytes:
        body = asdict(self)
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> ExportManifest:
        raw = json.loads(data)
        known = {name: raw.get(name) for name in cls.__dataclass_fields__}
        known["parts"] = tuple(ExportPart(**p) for p in known.get("parts") or [])
        return cls(**known)

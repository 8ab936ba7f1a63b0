"""The audit trail: one entry per change at the source or erasure in the archive, hash-chained.

Each entry is its own object (`control/audit/<seq>.json`, created exclusively, fsynced) holding the
sha256 of the previous entry's bytes and of its own body, so `verify` names the first entry that was
edited, removed or reordered. This is the audit-trail alternative SEC 17a-4(f) accepts beside WORM
storage; the last entry can only be anchored by WORM storage or a copy kept elsewhere.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rc_pipeline.storage import ArchiveStorage

GENESIS = "0" * 64
# Racing writers: each lost race re-reads the tail; more than this many in a row is not a race.
MAX_APPEND_ATTEMPTS = 50


def default_operator() -> str:
    """Who runs the command when neither --operator nor RC_OPERATOR says: the OS account."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: str
    command: str
    operator: str
    action: str
    scope: dict[str, Any]
    items: list[dict[str, Any]]
    details: dict[str, Any]
    prev_sha256: str
    sha256: str

    @property
    def ids(self) -> list[str]:
        return [str(item["id"]) for item in self.items if "id" in item]

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> AuditEntry:
        return cls(**{name: value[name] for name in cls.__dataclass_fields__})


def _body(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "sha256"}


def append(
    storage: ArchiveStorage,
    *,
    command: str,
    operator: str,
    action: str,
    scope: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] = (),
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry durably and return it; raises if the trail cannot be written (say nothing
    happened rather than act unaudited). Items carry ids, kinds, outcomes and hashes: never content."""
    for _ in range(MAX_APPEND_ATTEMPTS):
        paths = storage.audit_entry_paths()
        last = max(paths, default=0)
        prev = _sha256(storage.fs.cat_file(paths[last])) if last else GENESIS
        body = {
            "seq": last + 1,
            "time": datetime.now(UTC).isoformat(),
            "command": command,
            "operator": operator,
            "action": action,
            "scope": dict(scope),
            "items": [dict(item) for item in items],
            "details": dict(details or {}),
            "prev_sha256": prev,
        }
        entry = {**body, "sha256": _sha256(_canonical(body))}
        if storage.create_exclusive(storage.audit_entry_path(last + 1), _canonical(entry) + b"\n"):
            return AuditEntry.from_json(entry)
    raise RuntimeError(f"could not append to the audit trail at {storage.audit_dir()}: contention")


def read_entries(storage: ArchiveStorage) -> list[AuditEntry]:
    """Every entry in sequence order (unverified: see `verify`)."""
    return [
        AuditEntry.from_json(json.loads(storage.fs.cat_file(p))) for p in storage.audit_entry_paths().values()
    ]


@dataclass(frozen=True)
class AuditVerification:
    entries: int
    problem: str | None = None
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(storage: ArchiveStorage) -> AuditVerification:
    """Recompute the chain; name the first entry that was edited, removed or reordered."""
    paths = storage.audit_entry_paths()
    prev = GENESIS
    for position, (seq, path) in enumerate(paths.items(), start=1):
        if seq != position:
            return AuditVerification(len(paths), f"entry {position} is missing (removed)", position)
        raw = storage.fs.cat_file(path)
        try:
            entry = json.loads(raw)
            stated_seq = int(entry["seq"])
        except (ValueError, KeyError, TypeError):
            return AuditVerification(len(paths), f"entry {seq} is not a readable entry (edited)", seq)
        if stated_seq != seq:
            return AuditVerification(
                len(paths), f"entry {seq} holds entry {stated_seq}: entries were reordered or renamed", seq
            )
        if entry.get("sha256") != _sha256(_canonical(_body(entry))):
            return AuditVerification(
                len(paths), f"entry {seq} was edited: its content hash does not match", seq
            )
        if entry.get("prev_sha256") != prev:
            # The previous file changed after this entry recorded its hash (or one was swapped in).
            return AuditVerification(
                len(paths),
                f"entry {seq - 1} was edited or replaced: entry {seq} recorded another hash for it",
                seq - 1,
            )
        prev = _sha256(raw)
    return AuditVerification(len(paths))

"""Legal holds: what must not be deleted at the source or erased from the archive, and why.

A hold lives in the archive root (`control/holds/<id>.json`, written atomically). Releasing one
keeps the file, marked released with who, when and why: a hold's history is evidence too. Adding
and releasing are audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime

from rc_pipeline.control import audit
from rc_pipeline.storage import ArchiveStorage

# What a hold may name. Message types follow RingCentral's; "Recording" is call-recording audio.
HOLD_TYPES = ("SMS", "Fax", "VoiceMail", "Pager", "Recording")


class HoldError(ValueError):
    """A hold request that cannot be right; the message says what."""


@dataclass(frozen=True)
class Hold:
    id: str
    reason: str
    created_at: str
    created_by: str
    # Empty means every extension / every type; start and end are inclusive days, None is open.
    extensions: tuple[int, ...] = ()
    start: str | None = None
    end: str | None = None
    types: tuple[str, ...] = ()
    released_at: str | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, kind: str, extension_id: int | None, day: date) -> bool:
        """Whether this hold protects an item. Unknown types and items without an extension are covered
        by any hold that could reach them: a hold errs on the side of keeping."""
        if not self.active:
            return False
        if self.types and kind in HOLD_TYPES and kind not in self.types:
            return False
        if self.extensions and extension_id is not None and extension_id not in self.extensions:
            return False
        if self.start and day < date.fromisoformat(self.start):
            return False
        return not (self.end and day > date.fromisoformat(self.end))

    def describe(self) -> str:
        scope = [
            "extensions " + ",".join(map(str, self.extensions)) if self.extensions else "every extension",
            "types " + ",".join(self.types) if self.types else "every type",
            f"{self.start or '(open)'} .. {self.end or '(open)'}",
        ]
        state = "active" if self.active else f"released {self.released_at} by {self.released_by}"
        return f"{self.id}: {'; '.join(scope)}; {state}; reason: {self.reason}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict) -> Hold:
        known = {name: value.get(name) for name in cls.__dataclass_fields__ if name in value}
        known["extensions"] = tuple(int(e) for e in value.get("extensions") or ())
        known["types"] = tuple(value.get("types") or ())
        return cls(**known)


def load_holds(storage: ArchiveStorage) -> list[Hold]:
    """Every hold, released ones included, read afresh (purge re-reads them before every batch)."""
    return [Hold.from_json(storage.read_json(path)) for path in storage.hold_paths()]


def active_holds(storage: ArchiveStorage) -> list[Hold]:
    """Every hold in force. Fails closed: a hold the audit trail says was placed and never released
    stays in force even when its file was deleted or edited to look released."""
    holds = {h.id: h for h in load_holds(storage) if h.active}
    placed: dict[str, Hold] = {}
    released: set[str] = set()
    for entry in audit.read_entries(storage):
        if entry.action == "hold_added":
            placed[str(entry.scope["id"])] = Hold.from_json(entry.scope)
        elif entry.action == "hold_released":
            released.add(str(entry.scope["id"]))
    for hold_id, hold in placed.items():
        if hold_id not in released:
            holds.setdefault(hold_id, hold)
    return list(holds.values())


def covering(holds: Iterable[Hold], kind: str, extension_id: int | None, day: date) -> list[Hold]:
    return [h for h in holds if h.covers(kind, extension_id, day)]


def _check_types(types: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(types) - set(HOLD_TYPES))
    if unknown:
        raise HoldError(f"unknown type(s) {', '.join(unknown)}: a hold names {', '.join(HOLD_TYPES)}")
    return tuple(dict.fromkeys(types))


def add_hold(
    storage: ArchiveStorage,
    *,
    reason: str,
    operator: str,
    extensions: Sequence[int] = (),
    start: date | None = None,
    end: date | None = None,
    types: Sequence[str] = (),
) -> Hold:
    if not reason.strip():
        raise HoldError("a hold needs a reason (--reason): the matter or request it serves")
    if start and end and end < start:
        raise HoldError(f"--end {end} is before --start {start}")
    now = datetime.now(UTC)
    hold = Hold(
        id=f"hold-{now:%Y%m%d}-{secrets.token_hex(4)}",
        reason=reason.strip(),
        created_at=now.isoformat(),
        created_by=operator,
        extensions=tuple(sorted({int(e) for e in extensions})),
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        types=_check_types(types),
    )
    # Audited first: a hold that exists must have its entry, and an entry without a file only
    # says an addition was attempted.
    audit.append(storage, command="hold add", operator=operator, action="hold_added", scope=hold.to_json())
    storage.write_json(storage.hold_path(hold.id), hold.to_json())
    return hold


def release_hold(storage: ArchiveStorage, hold_id: str, *, reason: str, operator: str) -> Hold:
    if not reason.strip():
        raise HoldError("releasing a hold needs a reason (--reason)")
    path = storage.hold_path(hold_id)
    if not storage.exists(path):
        raise HoldError(f"no hold {hold_id!r} (see `rc-pipeline hold list`)")
    hold = Hold.from_json(storage.read_json(path))
    if not hold.active:
        raise HoldError(f"hold {hold_id} was already released at {hold.released_at}")
    released = replace(
        hold, released_at=datetime.now(UTC).isoformat(), released_by=operator, release_reason=reason.strip()
    )
    audit.append(
        storage, command="hold release", operator=operator, action="hold_released", scope=released.to_json()
    )
    storage.write_json(path, released.to_json())
    return released

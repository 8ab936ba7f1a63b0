"""What an erasure plans and what it did: the plan (per day), holds blocking it, and the result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rc_pipeline.control.holds import Hold, HoldError, covering
from rc_pipeline.verification import DayVerdict

Progress = Callable[[str], None]


class ErasureBlocked(HoldError):
    """A legal hold covers messages of the extension: nothing of them may be erased while it is active."""

    def __init__(self, extension_id: int, blocked: list[Blocked]) -> None:
        self.extension_id = extension_id
        self.blocked = blocked
        by_hold: dict[str, list[Blocked]] = {}
        for item in blocked:
            by_hold.setdefault(item.hold_id, []).append(item)
        named = "; ".join(
            f"hold {hold_id} ({items[0].reason}) covers {len({i.message_id for i in items})} message(s)"
            for hold_id, items in sorted(by_hold.items())
        )
        super().__init__(
            f"erasure of extension {extension_id} refused: {named}. Nothing a hold covers was touched; "
            "release the hold (`rc-pipeline hold release`) once the matter allows it, then erase again"
        )


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Blocked:
    """A message of the extension that a hold protects."""

    message_id: int
    day: date
    kind: str
    hold_id: str
    reason: str


@dataclass(frozen=True)
class RawFile:
    """A raw file that holds the person's records or entries and will be re-written (or removed)."""

    dataset: str
    path: str  # relative to the archive root
    kind: str  # "pages" (current fetch), "superseded" (an earlier fetch) or "export_part"
    task_id: str | None
    records: int  # the person's message records in it
    dropped: int  # pages (listing) or zip entries (export) that go as a whole
    removed: bool = False  # a superseded page file with nothing else in it is removed


@dataclass
class DayPlan:
    """What an erasure does to one day (paths relative to the archive root)."""

    day: date
    # message id -> availability at the source (Alive or Deleted)
    at_source: dict[int, str] = field(default_factory=dict)
    in_archive: set[int] = field(default_factory=set)
    kinds: dict[int, str | None] = field(default_factory=dict)
    message_rows: int = 0
    attachment_rows: int = 0
    attachment_files: list[str] = field(default_factory=list)
    # raw dataset -> attachment index keys (``messageId/attachmentId``) to remove
    index_entries: dict[str, list[str]] = field(default_factory=dict)
    raw_files: list[RawFile] = field(default_factory=list)
    # raw files an earlier, interrupted erasure re-wrote whose manifest still describes the old bytes
    manifest_repairs: list[str] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    # temp files of crashed writers beside the day's raw files: reported, never touched
    leftovers: list[str] = field(default_factory=list)

    @property
    def touches_archive(self) -> bool:
        return bool(
            self.in_archive
            or self.message_rows
            or self.attachment_rows
            or self.attachment_files
            or any(self.index_entries.values())
            or self.raw_files
            or self.manifest_repairs
        )


@dataclass
class ErasurePlan:
    """The dry run: what `execute_erasure` would delete at the source and re-write in the archive."""

    extension_id: int
    timezone: str
    planned_at: str
    source_windows: list[tuple[str, str]]
    extension_at_source: bool
    days: list[DayPlan]
    holds_checked: list[str]
    # Objects it would change that S3 Object Lock keeps ("path: MODE until DATE"): nothing is erased.
    retained: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> list[Blocked]:
        return [b for d in self.days for b in d.blocked]

    @property
    def source_ids(self) -> list[int]:
        return sorted({i for d in self.days for i in d.at_source})

    @property
    def archive_ids(self) -> list[int]:
        return sorted({i for d in self.days for i in d.in_archive})

    @property
    def nothing_to_do(self) -> bool:
        return not self.source_ids and not any(d.touches_archive for d in self.days)

    def items(self) -> list[dict[str, Any]]:
        """Every message of the plan as an audit item: id, type, day, where it is. Never content."""
        out = []
        for plan in self.days:
            for message_id in sorted(set(plan.at_source) | plan.in_archive):
                out.append(
                    {
                        "id": str(message_id),
                        "kind": plan.kinds.get(message_id) or "unknown",
                        "day": plan.day.isoformat(),
                        "at_source": plan.at_source.get(message_id),
                        "in_archive": message_id in plan.in_archive,
                    }
                )
        return out

    def describe(self) -> str:
        """The dry run as the CLI prints it: totals, one line per day, then what blocks it."""
        lines = [
            f"Erasure of extension {self.extension_id} (planned {self.planned_at}, days in {self.timezone})",
            (
                f"source: {len(self.source_windows)} explicit window(s) listed (Alive and Deleted): "
                f"{len(self.source_ids)} message(s) to purge by id"
                if self.extension_at_source
                else "source: RingCentral does not know this extension (deleted?): nothing to purge there"
            ),
            (
                f"archive: {len(self.archive_ids)} message(s) on "
                f"{sum(1 for d in self.days if d.touches_archive)} day(s); "
                f"{sum(len(d.attachment_files) for d in self.days)} attachment file(s) to delete; "
                f"{sum(len(d.raw_files) for d in self.days)} raw file(s) to re-write"
            ),
        ]
        header = (
            f"{'day':<10}  {'at source':>9}  {'in archive':>10}  {'typed rows':>10}  {'attach. files':>13}  "
            f"{'raw files':>9}  {'blocked':>7}"
        )
        lines += ["", header, "-" * len(header)]
        for d in self.days:
            lines.append(
                f"{d.day.isoformat():<10}  {len(d.at_source):>9}  {len(d.in_archive):>10}  "
                f"{d.message_rows + d.attachment_rows:>10}  {len(d.attachment_files):>13}  "
                f"{len(d.raw_files):>9}  {len({b.message_id for b in d.blocked}):>7}"
            )
        for d in self.days:
            for raw in d.raw_files:
                what = "remove" if raw.removed else "re-write"
                lines.append(
                    f"  {d.day.isoformat()} {what} {raw.path}: {raw.records} record(s) of the mailbox, "
                    f"{raw.dropped} {'page(s)' if raw.kind != 'export_part' else 'zip entries'} dropped"
                )
            for path in d.manifest_repairs:
                lines.append(f"  {d.day.isoformat()} manifest to bring up to date (earlier erasure): {path}")
            for path in d.leftovers:
                lines.append(f"  {d.day.isoformat()} leftover temp file (not touched, check it): {path}")
        blocked = self.blocked
        if blocked:
            by_hold: dict[str, list[Blocked]] = {}
            for b in blocked:
                by_hold.setdefault(b.hold_id, []).append(b)
            lines.append("")
            for hold_id, items in sorted(by_hold.items()):
                days = sorted({i.day.isoformat() for i in items})
                lines.append(
                    f"BLOCKED by hold {hold_id} ({items[0].reason}): {len({i.message_id for i in items})} "
                    f"message(s) on {', '.join(days)}"
                )
            lines.append(
                "Nothing will be erased, at the source or in the archive, while a hold covers any of it."
            )
        elif self.nothing_to_do:
            lines += ["", "Nothing of this extension is left at the source or in the archive."]
        if self.retained:
            lines += ["", "REFUSED: records retention overrides erasure. Under S3 Object Lock:"]
            lines += [f"  {line}" for line in self.retained]
            lines.append(
                "Nothing will be erased, at the source or in the archive, while any of it is locked."
            )
        return "\n".join(lines)


# ------------------------------------------------------------------ holds
def _blocked(
    items: Iterable[tuple[int, date, str | None]], holds: list[Hold], extension_id: int
) -> list[Blocked]:
    out = []
    for message_id, day, kind in items:
        for hold in covering(holds, kind or "unknown", extension_id, day):
            out.append(Blocked(message_id, day, kind or "unknown", hold.id, hold.reason))
    return out


def _plan_items(plan: ErasurePlan) -> list[tuple[int, date, str | None]]:
    return [
        (message_id, d.day, d.kinds.get(message_id))
        for d in plan.days
        for message_id in sorted(set(d.at_source) | d.in_archive)
    ]


# ------------------------------------------------------------------ result
@dataclass(frozen=True)
class FileChange:
    """One archived file an erasure re-wrote or removed (sha256_after None: removed)."""

    path: str
    kind: str
    bytes_before: int | None
    sha256_before: str | None
    bytes_after: int | None
    sha256_after: str | None

    def item(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DayOutcome:
    day: date
    messages: int = 0
    message_rows_removed: int = 0
    attachment_rows_removed: int = 0
    index_entries_removed: int = 0
    files: list[FileChange] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    verdict: DayVerdict | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and (self.verdict is None or self.verdict.passed)


@dataclass
class ErasureResult:
    extension_id: int
    run: str
    # message id -> purged | already_gone | failed | unknown (no per-id answer) | not_sent
    source: dict[int, str] = field(default_factory=dict)
    source_failures: list[str] = field(default_factory=list)
    # Alive or Deleted messages the source still listed after the deletes
    source_remaining: list[int] = field(default_factory=list)
    days: list[DayOutcome] = field(default_factory=list)
    warehouse_rebuilt: bool = False
    audit_seqs: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.source_failures and not self.source_remaining and all(d.passed for d in self.days)

    def describe(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.source.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        lines = [
            f"Erasure of extension {self.extension_id} (run {self.run}): "
            + ("done" if self.ok else "INCOMPLETE, see below"),
            "source: "
            + (", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing to delete")
            + (f"; still listed afterwards: {len(self.source_remaining)}" if self.source_remaining else ""),
        ]
        lines += [f"  source failure: {f}" for f in self.source_failures]
        for d in self.days:
            status = (
                "verified"
                if d.passed
                else "FAILED: "
                + "; ".join(
                    [*d.problems, *([d.verdict.describe()] if d.verdict and not d.verdict.passed else [])]
                )
            )
            rows = d.message_rows_removed + d.attachment_rows_removed
            lines.append(
                f"{d.day.isoformat()}  {d.messages} message(s), {rows} "
                f"typed row(s), {sum(1 for f in d.files if f.kind == 'attachment')} attachment file(s), "
                f"{sum(1 for f in d.files if f.kind != 'attachment')} raw file(s), "
                f"{len(d.manifests)} manifest(s)  {status}"
            )
        if self.warehouse_rebuilt:
            lines.append("warehouse rebuilt without the erased rows")
        lines.append(f"audit entries: {', '.join(map(str, self.audit_seqs))}")
        return "\n".join(lines)

"""A retention-risk report: the items RingCentral drops within the horizon, and the days not known."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rc_pipeline.risk import rules
from rc_pipeline.risk.rules import AccountRetention


@dataclass(frozen=True)
class AtRisk:
    """One item RingCentral drops before the horizon ends."""

    data_type: str
    id: str
    extension_id: int | None
    # The archive day it belongs to (creation or start time in the archive's timezone).
    day: date
    deadline: datetime
    # None when archived and verified; otherwise why not ("not archived", "missing: ...", ...).
    problem: str | None
    # "time" (its age) or "count" (a box, folder or the account over its limit).
    rule: str = "time"

    @property
    def archived(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class UnknownDay:
    """A day of the at-risk window whose calls (and recordings) the archive does not hold."""

    data_type: str
    day: date
    # When RingCentral starts dropping the day's items.
    deadline: datetime
    # Items the day probably holds, from the archived days of the window (None: nothing to go by).
    estimate: int | None
    # Before the archive's first partition (RC_START_DATE): not expected in the archive.
    before_start: bool

    @property
    def failing(self) -> bool:
        return not self.before_start


@dataclass(frozen=True)
class Row:
    """One line of the report: a data type in one mailbox."""

    data_type: str
    extension_id: int | None
    at_risk: int
    archived: int
    earliest_deadline: datetime | None
    earliest_unarchived: datetime | None

    @property
    def not_archived(self) -> int:
        return self.at_risk - self.archived


@dataclass
class RiskReport:
    now: datetime
    horizon_days: int
    account: AccountRetention
    items: list[AtRisk] = field(default_factory=list)
    unknown_days: list[UnknownDay] = field(default_factory=list)
    mailboxes_listed: int = 0
    mailboxes_gone: list[int] = field(default_factory=list)
    source_requests: dict[str, int] = field(default_factory=dict)
    # What limits the answer (e.g. no directory snapshot, so no mailbox was listed).
    notes: list[str] = field(default_factory=list)

    @property
    def horizon_end(self) -> datetime:
        return self.now + timedelta(days=self.horizon_days)

    def rows(self) -> list[Row]:
        groups: dict[tuple[str, int | None], list[AtRisk]] = defaultdict(list)
        for item in self.items:
            groups[item.data_type, item.extension_id].append(item)
        order = {t: i for i, t in enumerate(rules.DATA_TYPES)}
        rows = []
        for (data_type, extension_id), items in sorted(
            groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] is None, kv[0][1] or 0)
        ):
            unarchived = [i.deadline for i in items if not i.archived]
            rows.append(
                Row(
                    data_type,
                    extension_id,
                    len(items),
                    len(items) - len(unarchived),
                    min(i.deadline for i in items),
                    min(unarchived, default=None),
                )
            )
        return rows

    @property
    def unarchived(self) -> list[AtRisk]:
        return [i for i in self.items if not i.archived]

    @property
    def failing_unknown_days(self) -> list[UnknownDay]:
        return [d for d in self.unknown_days if d.failing]

    @property
    def ok(self) -> bool:
        """Nothing RingCentral drops within the horizon is missing from the archive (as far as known)."""
        return not self.unarchived and not self.failing_unknown_days

    @property
    def earliest_deadline(self) -> datetime | None:
        return min((i.deadline for i in self.items), default=None)

    @property
    def earliest_unarchived(self) -> datetime | None:
        deadlines = [i.deadline for i in self.unarchived] + [d.deadline for d in self.failing_unknown_days]
        return min(deadlines, default=None)

    def counts(self) -> dict[str, int]:
        return {
            "at_risk": len(self.items),
            "archived_verified": len(self.items) - len(self.unarchived),
            "not_archived": len(self.unarchived),
            "unknown_days": len(self.unknown_days),
            "unknown_days_in_archive_range": len(self.failing_unknown_days),
        }

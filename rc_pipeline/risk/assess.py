"""What RingCentral will delete within a horizon, item by item, and whether the archive holds each.

Sources, all cheap:
- the account's retention (message-store-configuration, service-info): two Light requests;
- each mailbox's message store (voicemail, fax, SMS; Alive and in the trash), 1000 per page: Light
  requests; the mailboxes are those of the archive's latest `extensions` snapshot (listing the
  directory would be a Medium request);
- the archive for calls and recordings: listing the call log or reading recording metadata would be
  Heavy, so calls at risk are the archived calls whose deadline falls within the horizon, and a day of
  the at-risk window that the archive does not hold is reported as an unknown day (with an estimate
  from the archived days around it).

"Archived and verified" is what the purge at the source relies on: the item is in the archive's typed
table of its day, and each of its files (recording, attachments) still has the recorded size and
sha256 (re-hashed now). Count limits (voicemail box, SMS folder, recordings per account) drop the
oldest first; how many more arrive within the horizon is taken from the last horizon's arrivals.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from rc_pipeline.control.retention import read_retention
from rc_pipeline.ringcentral import NotFound, RingCentralClient
from rc_pipeline.risk import rules
from rc_pipeline.risk.calls import CallSide
from rc_pipeline.risk.lookup import ArchiveLookup
from rc_pipeline.risk.messages import list_mailbox, mailboxes, message_deadlines
from rc_pipeline.risk.model import AtRisk, RiskReport
from rc_pipeline.risk.rules import RINGCENTRAL_LIMITS, AccountRetention, CountLimits
from rc_pipeline.storage import ArchiveStorage


def assess_risk(
    storage: ArchiveStorage,
    client: RingCentralClient,
    *,
    now: datetime,
    horizon_days: int,
    tz: str,
    start_date: date | None = None,
    progress: Callable[[str], None] | None = None,
    limits: CountLimits = RINGCENTRAL_LIMITS,
) -> RiskReport:
    """Everything RingCentral drops in [now, now + horizon_days), per item, and whether it is archived.

    ``now`` is explicit (a report is as of a moment; tests move it); ``tz`` is the archive's timezone
    and ``start_date`` its first partition (unknown days before it are reported, not failed);
    ``limits`` the count limits (RingCentral's unless the account is known to differ).
    Requests: two Light for the retention, one Light per 1000 messages of each mailbox.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must carry a timezone (got naive {now.isoformat()})")
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days < 1:
        raise ValueError(f"the horizon must be a whole number of days >= 1, got {horizon_days!r}")
    now = now.astimezone(UTC)
    before = client.stats()
    settings = read_retention(client)
    account = AccountRetention(settings.hipaa, settings.retention_period)
    report = RiskReport(now, horizon_days, account)
    lookup = ArchiveLookup(storage)
    zone = ZoneInfo(tz)
    boxes = mailboxes(storage)
    if not boxes:
        report.notes.append(
            "no directory snapshot in the archive: no mailbox was listed, so voicemail, fax and SMS "
            "are not assessed (materialise `extensions` first)"
        )
    for index, extension_id in enumerate(boxes, 1):
        try:
            listed = list_mailbox(client, extension_id, now)
        except NotFound:
            report.mailboxes_gone.append(extension_id)  # gone at the source: nothing of it left to drop
            continue
        report.mailboxes_listed += 1
        for message, deadline, rule in message_deadlines(listed, account, now, horizon_days, limits):
            day = message.created.astimezone(zone).date()
            problem = lookup.message_problem(day, message.id)
            report.items.append(
                AtRisk(message.data_type, message.id, extension_id, day, deadline, problem, rule)
            )
        if progress is not None and (index % 10 == 0 or index == len(boxes)):
            progress(f"mailboxes listed: {index}/{len(boxes)}")
    calls = CallSide(report, storage, lookup, tz, start_date)
    calls.assess(rules.RECORDING, rules.recording_retention_days(account.hipaa), limits.recordings_account)
    calls.assess(rules.CALL_LOG, rules.CALL_LOG_RETENTION_DAYS)
    report.items.sort(key=lambda i: (i.deadline, i.data_type, i.id))
    report.source_requests = dict(client.stats().minus(before).requests)
    return report

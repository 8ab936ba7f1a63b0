"""RingCentral's deletion rules as data: deadlines, limits and their edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rc_pipeline.risk import rules
from rc_pipeline.risk.rules import AccountRetention

START = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


def test_recording_deadline_is_90_days_or_30_on_hipaa():
    assert rules.recording_deadline(START, hipaa=False) == START + timedelta(days=90)
    assert rules.recording_deadline(START, hipaa=True) == START + timedelta(days=30)
    assert rules.recording_retention_days(False) == rules.RECORDING_RETENTION_DAYS == 90
    assert rules.recording_retention_days(True) == rules.HIPAA_RECORDING_RETENTION_DAYS == 30


def test_deadlines_refuse_naive_times():
    with pytest.raises(ValueError, match="start_time must carry a timezone"):
        rules.recording_deadline(datetime(2026, 3, 1), hipaa=False)
    with pytest.raises(ValueError, match="creation_time"):
        AccountRetention().message_deadline(rules.FAX_SENT, datetime(2026, 3, 1))


def test_call_log_deadline_is_never_later_than_twelve_months():
    # Across a leap day twelve calendar months are 366 days; the rule answers the earlier 365.
    start = datetime(2027, 6, 1, tzinfo=UTC)
    assert rules.call_log_deadline(start) == datetime(2028, 5, 31, tzinfo=UTC)
    assert rules.call_log_deadline(START) == START + timedelta(days=365)


def test_message_time_limits_by_type_hipaa_and_retention_period():
    plain = AccountRetention()
    assert plain.message_retention_days(rules.FAX_SENT) == 30
    assert plain.message_retention_days(rules.FAX_RECEIVED) is None
    assert plain.message_retention_days(rules.VOICEMAIL) is None
    assert plain.message_retention_days(rules.SMS) is None
    assert plain.message_deadline(rules.SMS, START) is None
    hipaa = AccountRetention(hipaa=True)
    assert hipaa.message_retention_days(rules.FAX_RECEIVED) == 30
    assert hipaa.recording_deadline(START) == START + timedelta(days=30)
    # The message store's retentionPeriod applies to fax and voicemail, never to SMS; the shorter wins.
    short = AccountRetention(retention_period_days=7)
    assert short.message_retention_days(rules.VOICEMAIL) == 7
    assert short.message_retention_days(rules.FAX_SENT) == 7
    assert short.message_retention_days(rules.FAX_RECEIVED) == 7
    assert short.message_retention_days(rules.SMS) is None
    long = AccountRetention(retention_period_days=90)
    assert long.message_retention_days(rules.FAX_SENT) == 30
    assert long.message_deadline(rules.VOICEMAIL, START) == START + timedelta(days=90)
    with pytest.raises(ValueError, match="not a message data type"):
        plain.message_retention_days(rules.RECORDING)


@pytest.mark.parametrize("bad", [6, 91, 0, True, "30"])
def test_retention_period_outside_7_to_90_is_refused(bad):
    with pytest.raises(ValueError, match="retentionPeriod"):
        AccountRetention(retention_period_days=bad)


def test_message_data_type_maps_type_and_direction():
    assert rules.message_data_type("VoiceMail", "Inbound") == rules.VOICEMAIL
    assert rules.message_data_type("Fax", "Outbound") == rules.FAX_SENT
    assert rules.message_data_type("Fax", "Inbound") == rules.FAX_RECEIVED
    assert rules.message_data_type("SMS", "Outbound") == rules.SMS
    assert rules.message_data_type("Pager", "Inbound") is None


def test_count_limits_drop_the_oldest_beyond_the_limit():
    assert rules.count_limit(rules.VOICEMAIL) == 200
    assert rules.count_limit(rules.SMS) == 5_000
    assert rules.count_limit(rules.RECORDING) == 100_000
    assert rules.count_limit(rules.FAX_SENT) is None
    assert rules.over_limit(150, 200) == 0
    assert rules.over_limit(200, 200) == 0
    assert rules.over_limit(195, 200, arriving=10) == 5
    assert rules.over_limit(201, 200) == 1
    # More arriving than the box holds: everything in it now goes, nothing more.
    assert rules.over_limit(3, 200, arriving=500) == 3
    with pytest.raises(ValueError, match="must not be negative"):
        rules.over_limit(-1, 200)

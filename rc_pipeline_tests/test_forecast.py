"""The loss forecast: exact numbers on inputs small enough to follow by hand, and the plan's output."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from rc_pipeline.cli import main as cli_main
from rc_pipeline.forecast import (
    NEWEST_FIRST,
    effective_deadline_days,
    forecast_recordings,
    is_hipaa,
    simulate_loss,
)
from rc_pipeline.plan import GroupLimit, Volume, format_plan, make_plan
from rc_pipeline.risk.rules import recording_deadline
from rc_pipeline_tests.clienthelpers import point_env_at_simulator

D0 = date(2026, 1, 1)


def days(n: int, per_day: int, first: date = D0) -> dict[date, int]:
    return {first + timedelta(days=k): per_day for k in range(n)}


def test_deadline_first_loses_the_overflow_from_the_first_deadline_on():
    # 10 recordings a day, 6 fit the budget, deleted during the 3rd day after the call (runs happen
    # early, so a call day can be fetched on the 3 days after it). Runs Jan 2..6 clear Jan 1..3 (30 for
    # 30 of budget); from Jan 4 on each call day keeps 6 and loses 4, the first 4 during Jan 7.
    f = simulate_loss(days(10, 10), first_run=D0 + timedelta(days=1), budget_per_day=6, deadline_days=3)
    assert (f.total, f.saved, f.lost, f.pending) == (100, 72, 28, 0)
    assert f.first_loss == date(2026, 1, 7)
    assert f.lost_by_day == {date(2026, 1, d): 4 for d in range(4, 11)}


def test_newest_first_loses_more_with_the_same_budget():
    # Each run gives yesterday 6 and leaves its 4 waiting behind newer days until they are deleted;
    # only after the last arrival do runs reach back (Jan 10's rest, then 2 of Jan 9's).
    f = simulate_loss(
        days(10, 10), first_run=D0 + timedelta(days=1), budget_per_day=6, deadline_days=3, order=NEWEST_FIRST
    )
    assert (f.saved, f.lost) == (66, 34)
    assert f.first_loss == date(2026, 1, 4)  # Jan 1's last 4 waited behind the newer days
    assert f.lost_by_day == {**{date(2026, 1, d): 4 for d in range(1, 9)}, date(2026, 1, 9): 2}


def test_unlimited_budget_loses_nothing_and_overhead_is_paid_first():
    f = simulate_loss(days(5, 10), first_run=D0 + timedelta(days=1), budget_per_day=None, deadline_days=2)
    assert (f.saved, f.lost, f.first_loss) == (50, 0, None)
    # 25 requests of overhead eat the budgets of Jan 2 and 3 and half of Jan 4's: Jan 1 (fetchable on
    # Jan 2..3) is never reached; Jan 2 gets 5 on Jan 4 and loses 5; Jan 3 gets 10 on Jan 5.
    f = simulate_loss(
        days(3, 10), first_run=D0 + timedelta(days=1), budget_per_day=10, deadline_days=2, overhead=25
    )
    assert f.lost_by_day == {date(2026, 1, 1): 10, date(2026, 1, 2): 5}
    assert f.saved == 15 and f.first_loss == date(2026, 1, 3)


def test_last_run_leaves_the_rest_pending_and_bad_input_is_refused():
    f = simulate_loss(
        days(3, 10),
        first_run=D0 + timedelta(days=1),
        budget_per_day=5,
        deadline_days=30,
        last_run=D0 + timedelta(days=2),
    )
    assert (f.saved, f.lost, f.pending) == (10, 0, 20)
    with pytest.raises(ValueError, match="order"):
        simulate_loss({}, first_run=D0, budget_per_day=1, deadline_days=3, order="random")
    with pytest.raises(ValueError, match="deadline_days"):
        simulate_loss({}, first_run=D0, budget_per_day=1, deadline_days=0)


def test_deadlines_hipaa_and_the_account_cap():
    start = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert recording_deadline(start, False) == datetime(2026, 4, 1, 10, 30, tzinfo=UTC)
    assert recording_deadline(start, True) == datetime(2026, 1, 31, 10, 30, tzinfo=UTC)
    assert is_hipaa({"serviceFeatures": [{"featureName": "HipaaCompliance", "enabled": True}]})
    assert not is_hipaa({"serviceFeatures": [{"featureName": "HipaaCompliance", "enabled": False}]})
    assert effective_deadline_days(90, 1000) == 90
    # 2,500 a day fill 100,000 in 40 days: the oldest go after 40 days, before their 90.
    assert effective_deadline_days(90, 2500) == 40
    assert effective_deadline_days(30, 0) == 30


def test_forecast_of_a_backfill_beside_the_daily_runs():
    # Jan 1..2 backfilled from Jan 4 with 12 a day for 10 a day, fetchable on the 4 days after the call.
    # Deadline first saves everything of the range; newest first serves Jan 3, then each new day,
    # before them: Jan 1 gets nothing (deleted during Jan 5), Jan 2 6 of 10 (2 on Jan 4..6).
    f = forecast_recordings(
        start=D0,
        end=date(2026, 1, 2),
        today=date(2026, 1, 4),
        recordings_per_day=10,
        budget_per_day=12,
        deadline_days=4,
    )
    assert (f.already_deleted, f.backfill_lost, f.backfill_lost_newest_first) == (0, 0, 14)
    assert f.backfill_newest_first.first_loss == date(2026, 1, 5)
    assert f.daily_lost_per_day == 0 and f.daily.first_loss is None
    # A budget under the volume: daily running loses the difference every day once the backlog is full
    # (Jan 3..5 are cleared by Jan 8; Jan 6 keeps 6 and loses 4 during Jan 9).
    f = forecast_recordings(
        start=D0,
        end=date(2026, 1, 2),
        today=date(2026, 1, 4),
        recordings_per_day=10,
        budget_per_day=6,
        deadline_days=3,
    )
    assert f.daily_lost_per_day == 4 and f.daily.first_loss == date(2026, 1, 9)
    # One a day over the budget: the backlog grows by one a day and takes long to reach the deadline;
    # daily running is simulated long enough to see the steady loss.
    f = forecast_recordings(
        start=D0,
        end=date(2026, 1, 2),
        today=date(2026, 1, 4),
        recordings_per_day=10,
        budget_per_day=9,
        deadline_days=3,
    )
    assert f.daily_lost_per_day == 1 and f.daily.first_loss > date(2026, 1, 4) + timedelta(days=9)
    # Days already past their deadline on the first run are counted apart: no order saves them. From
    # Jan 9 with 5 days, Jan 4 (deleted during Jan 9) is still fetchable; Jan 1..3 are gone.
    f = forecast_recordings(
        start=D0,
        end=date(2026, 1, 10),
        today=date(2026, 1, 9),
        recordings_per_day=10,
        budget_per_day=100,
        deadline_days=5,
    )
    assert f.already_deleted == 30 and f.backfill_lost == 0


def test_plan_prints_the_forecast():
    volume = Volume(days=30, calls_per_day=70_000, recordings_per_day=40_000, extensions=300)
    limits = {"Heavy": GroupLimit(10, 60.0, True)}
    plan = make_plan(volume, limits, date(2026, 1, 1), date(2026, 1, 30), today=date(2026, 3, 1))
    f = plan.forecast
    # The Heavy day less the call-log pages, one export (4) and the daily extract-sync pass (one page per
    # 1,000 changes: 70,000 new calls and 40,000 recordings attaching).
    assert plan.daily_breakdown["change_sync"] == 110
    assert f is not None and f.budget_per_day == plan.max_recordings_per_day() == 14_400 - 210 - 4 - 110
    # 100,000 / 40,000 a day: the account cap deletes after 2 days, not 90.
    assert f.deadline_days == 2 and f.time_limit_days == 90
    assert f.daily_lost_per_day == 40_000 - f.budget_per_day
    text = format_plan(plan)
    assert "the account's 100,000 fill in 2 days, before the 90-day limit" in text
    assert "Loss forecast" in text and "Already deleted at RingCentral: 1,200,000" in text
    assert f"{f.daily_lost_per_day:,} recordings lost every day from {f.daily.first_loss}" in text
    assert (
        json.loads(json.dumps(plan.to_json(), default=str))["forecast"]["daily_lost_per_day"]
        == 40_000 - 14_076
    )


def test_plan_command_reads_the_hipaa_deadline(make_simulator, monkeypatch, capsys):
    sim = make_simulator(calls_per_day=30, hipaa=True)
    point_env_at_simulator(monkeypatch, sim, RC_TIMEZONE="UTC")
    end = datetime.now(UTC).date() - timedelta(days=1)
    args = ["plan", "--start", (end - timedelta(days=1)).isoformat(), "--end", end.isoformat(), "--json"]
    assert cli_main(args) == 0
    forecast = json.loads(capsys.readouterr().out)["forecast"]
    assert forecast["deadline_days"] == 30 and forecast["backfill_lost"] == 0


def test_listing_path_forecasts_fax_and_voicemail_attachments_on_the_medium_budget():
    volume = Volume(
        days=10,
        calls_per_day=100,
        recordings_per_day=10,
        extensions=300,
        attachments_per_day=80_000,
        deadline_attachments_per_day=70_000,
    )
    limits = {"Medium": GroupLimit(40, 60.0, True)}
    plan = make_plan(
        volume,
        limits,
        date(2026, 1, 1),
        date(2026, 1, 10),
        today=date(2026, 1, 11),
        attachment_deadline_days=30,
    )
    f = plan.attachment_forecast
    # 40 a minute is 57,600 Medium requests a day, less the one extension page of the snapshot.
    assert f is not None and f.budget_per_day == plan.max_attachments_per_day() == 57_599
    assert f.deadline_days == 30  # no 100,000 cap for messages
    assert f.daily_lost_per_day == 70_000 - 57_599
    assert "Attachments (listing path, Medium): 80,000 a day, 70,000 of them fax or voicemail" in format_plan(
        plan
    )
    assert (
        make_plan(
            volume, limits, date(2026, 1, 1), date(2026, 1, 10), today=date(2026, 1, 11)
        ).attachment_forecast
        is None
    )


def test_plan_command_on_the_listing_path_counts_attachments(make_simulator, monkeypatch, capsys):
    sim = make_simulator(calls_per_day=20, messages_per_day=4, extensions=6, retention_period=30)
    point_env_at_simulator(monkeypatch, sim, RC_TIMEZONE="UTC", RC_MESSAGE_SOURCE="listing")
    end = datetime.now(UTC).date() - timedelta(days=1)
    args = ["plan", "--start", (end - timedelta(days=1)).isoformat(), "--end", end.isoformat(), "--json"]
    assert cli_main(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["volume"]["attachments_per_day"] > 0
    assert plan["attachment_forecast"]["deadline_days"] == 30  # the message store's retentionPeriod
    assert plan["volume"]["requests_used"]["Light"] >= 6  # one listing per mailbox (6 sampled)

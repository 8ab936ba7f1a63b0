"""Capacity planning: the arithmetic, the account measurement, and `rc-pipeline plan`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from rc_pipeline.cli import main as cli_main
from rc_pipeline.plan import (
    DAY_SECONDS,
    GroupLimit,
    Volume,
    call_log_pages,
    format_plan,
    make_plan,
    measure_volume,
    sample_days,
    workload,
)
from rc_pipeline.ringcentral import InvalidRequest, RingCentralClient, RingCentralSettings
from rc_pipeline.ringcentral.throttle import DEFAULT_LIMITS, RateLimit, Throttler, floor_seconds
from rc_pipeline_tests.clienthelpers import RecordingTransport, client_for, point_env_at_simulator

STANDARD = {
    "Heavy": GroupLimit(10, 60.0, True),
    "Medium": GroupLimit(40, 60.0, True),
    "Auth": GroupLimit(5, 60.0, True),
}


def test_call_log_pages_per_day():
    assert call_log_pages(0) == 1  # an empty day still costs the request that says so
    assert call_log_pages(1) == 1
    assert call_log_pages(1000) == 1
    assert call_log_pages(1001) == 2
    assert call_log_pages(5000) == 5


def test_workload_counts_every_kind_of_request():
    w = workload(30, 5000, 1667, 20)
    assert w == {
        "call_log_pages": 150,
        "recordings": 50_010,
        "export_requests": 120,
        "extension_pages": 1,
        "logins": 1,
    }
    assert workload(30, 5000, 1667, 20, include_messages=False)["export_requests"] == 0


def test_40k_recordings_a_day_cannot_keep_up_on_the_standard_plan():
    volume = Volume(days=30, calls_per_day=70_000, recordings_per_day=40_000, extensions=300)
    plan = make_plan(volume, STANDARD, date(2026, 1, 1), date(2026, 1, 30))
    heavy = next(g for g in plan.daily if g.group == "Heavy")
    # 40,000 recordings + 3 x 70 pages + one export (4 requests; the message capture vouches for the
    # lookback days) + one daily extract-sync pass over 110,000 records (each call, and each late
    # recording) a day at 10 per minute.
    assert heavy.requests == 40_000 + 210 + 4 + 110
    assert heavy.min_seconds / 60 == pytest.approx(4032.4, abs=0.1)
    assert not plan.keeps_up
    assert plan.max_recordings_per_day() == 14_400 - 210 - 4 - 110
    text = format_plan(plan)
    assert "CANNOT keep up" in text and "4,032 Heavy minutes a day" in text


def test_a_small_account_keeps_up_and_the_backfill_floor_is_the_slowest_group():
    volume = Volume(days=10, calls_per_day=500, recordings_per_day=100, extensions=2500)
    plan = make_plan(volume, STANDARD, date(2026, 1, 1), date(2026, 1, 10), lookback_days=0)
    assert plan.keeps_up
    assert plan.daily_seconds < DAY_SECONDS
    heavy = next(g for g in plan.backfill if g.group == "Heavy")
    assert heavy.requests == 10 + 1000 + 40
    assert heavy.min_seconds == floor_seconds(1050, 10, 60.0)
    assert plan.backfill_seconds == heavy.min_seconds
    assert plan.backfill_breakdown["extension_pages"] == 3
    assert "KEEPS UP" in format_plan(plan)


def test_sample_days_spread_over_the_range():
    start = date(2026, 1, 1)
    assert sample_days(start, start + timedelta(days=29), 3) == [
        start,
        start + timedelta(days=14),
        start + timedelta(days=29),
    ]
    assert sample_days(start, start + timedelta(days=1), 5) == [start, start + timedelta(days=1)]


def _settings(sim):
    return RingCentralSettings(
        server_url=sim.base_url,
        media_url=sim.media_url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        jwt=sim.jwt,
    )


def _truth(sim, day):
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    records = sim.account.call_records(start, start + timedelta(days=1))
    recordings = {
        item["recording"]["id"]
        for r in records
        for item in (r, *(r.get("legs") or []))
        if item.get("recording")
    }
    return len(records), len(recordings)


def test_measure_volume_reads_the_account_and_its_announced_limits(make_simulator):
    sim = make_simulator(calls_per_day=60, recording_share=0.8)
    end = datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=1)
    with RingCentralClient(_settings(sim)) as client:
        volume, limits = measure_volume(client, start, end, sample_count=5)
    truths = [_truth(sim, start), _truth(sim, end)]
    assert not volume.estimated and volume.sampled_days == 2
    assert volume.calls_per_day == sum(t[0] for t in truths) / 2
    assert volume.recordings_per_day == sum(t[1] for t in truths) / 2
    assert volume.extensions == len(sim.account.extensions())
    assert volume.requests_used["Heavy"] == 2  # one page per day of 60 calls
    heavy_limit, heavy_window = sim.config.rate_limit("Heavy")
    assert limits["Heavy"] == GroupLimit(heavy_limit, float(-(-heavy_window // 1)), announced=True)


def test_measure_volume_extrapolates_a_day_larger_than_its_page_budget(make_simulator):
    sim = make_simulator(calls_per_day=2500, days=2)
    day = datetime.now(UTC).date() - timedelta(days=1)
    with RingCentralClient(_settings(sim)) as client:
        volume, _ = measure_volume(client, day, day, sample_count=1, max_pages_per_day=1)
    assert volume.estimated
    assert volume.requests_used["Heavy"] == 1
    # 1,000 of 2,500 uniformly spread calls: the span they cover scales to the day within a few %.
    assert volume.calls_per_day == pytest.approx(2500, rel=0.15)


class NextPageLoopsBack(RecordingTransport):
    """Rewrites every call-log nextPage after the first to point back at the second page, as a
    misbehaving server might."""

    def __init__(self) -> None:
        super().__init__()
        self.first_next: str | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "GET" or not request.url.path.endswith("/call-log"):
            return response
        response.read()
        body = json.loads(response.content)
        nxt = (body.get("navigation") or {}).get("nextPage")
        if not nxt:
            return response
        if self.first_next is None:
            self.first_next = nxt["uri"]
        else:
            nxt["uri"] = self.first_next
        # The body is re-encoded, so the original length and encoding no longer describe it.
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=headers, content=json.dumps(body).encode(), request=request
        )


def test_measure_volume_pages_through_the_client_loop_guard(make_simulator):
    sim = make_simulator(calls_per_day=2500, days=2)
    day = datetime.now(UTC).date() - timedelta(days=1)
    transport = NextPageLoopsBack()
    with client_for(sim, transport=transport) as client:
        # The page budget (3) would stop a loop on its own; the guard must stop it first, loudly.
        with pytest.raises(InvalidRequest, match="earlier page"):
            measure_volume(client, day, day, sample_count=1, max_pages_per_day=3)
    call_log = [url for _, method, url, _, _ in transport.sent if "/call-log" in url]
    assert len(call_log) == 2


def test_throttle_reports_which_limits_the_server_announced():
    throttler = Throttler()
    throttler.observe_headers("heavy", {"X-Rate-Limit-Limit": "25", "X-Rate-Limit-Window": "30"})
    limits = throttler.current_limits()
    assert limits["Heavy"] == RateLimit(25, 30.0, announced=True)
    assert limits["Medium"] == RateLimit(*DEFAULT_LIMITS["Medium"], announced=False)


def test_plan_takes_the_announced_limits_from_the_client_throttle(make_simulator):
    sim = make_simulator(rate_limits={"Heavy": (7, 3.0), "Medium": (33, 4.0), "Auth": (4, 5.0)})
    day = datetime.now(UTC).date() - timedelta(days=1)
    with client_for(sim) as client:
        assert client.rate_limits()["Heavy"] == RateLimit(*DEFAULT_LIMITS["Heavy"], announced=False)
        volume, limits = measure_volume(client, day, day, sample_count=1)
        throttle = client.rate_limits()
    assert throttle["Heavy"] == RateLimit(7, 3.0, announced=True)
    assert limits == {
        "Heavy": GroupLimit(7, 3.0, announced=True),
        "Medium": GroupLimit(33, 4.0, announced=True),
        # Announced only on the token endpoint, which plan never calls itself: only the throttle saw it.
        "Auth": GroupLimit(4, 5.0, announced=True),
    }
    plan = make_plan(volume, limits, day, day)
    assert plan.limits["Heavy"] == GroupLimit(7, 3.0, announced=True)
    text = format_plan(plan)
    assert "Heavy 7/3 s, Medium 33/4 s, Auth 4/5 s" in text and "RingCentral default" not in text


def test_plan_command_prints_the_plan(make_simulator, monkeypatch, capsys):
    sim = make_simulator(calls_per_day=30)
    point_env_at_simulator(monkeypatch, sim, RC_TIMEZONE="UTC")
    end = datetime.now(UTC).date() - timedelta(days=1)
    args = ["plan", "--start", (end - timedelta(days=1)).isoformat(), "--end", end.isoformat()]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "Backfill" in out and "Verdict: daily archiving KEEPS UP" in out
    assert cli_main([*args, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["keeps_up"] is True and plan["volume"]["days"] == 2


def test_plan_command_refuses_a_reversed_range(monkeypatch, capsys):
    monkeypatch.setenv("RC_TIMEZONE", "UTC")
    assert cli_main(["plan", "--start", "2026-02-01", "--end", "2026-01-01"]) == 2

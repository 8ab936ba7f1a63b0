"""The simulator's clock: simulated time moves forward on demand, history stays anchored at the start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rc_pipeline.simulator.clock import SimClock

ACC = "/restapi/v1.0/account/~"


def day_window(day: datetime) -> dict:
    return {"dateFrom": day.isoformat(), "dateTo": (day + timedelta(days=1)).isoformat(), "perPage": 1000}


def midnight(ts: datetime) -> datetime:
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def test_clock_moves_forward_only():
    clock = SimClock()
    before = clock.now()
    after = clock.advance(days=1, hours=2)
    assert timedelta(days=1, hours=2) <= after - before < timedelta(days=1, hours=2, seconds=5)
    assert clock.now() >= after and clock.now().tzinfo is not None
    assert abs(clock.now_ms() - int(clock.now().timestamp() * 1000)) < 1000
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds=-1)


def test_advancing_a_day_adds_the_next_days_calls_and_keeps_the_first_day(make_simulator, api_client):
    sim = make_simulator(throttling=False, days=2, calls_per_day=30)
    client = api_client(sim)
    first_day = midnight(sim.clock.now()) - timedelta(days=2)
    today = midnight(sim.clock.now())

    def listed(day: datetime) -> list[str]:
        response = client.get(f"{ACC}/call-log", params=day_window(day))
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["records"]]

    first_before = listed(first_day)
    assert first_before and listed(first_day - timedelta(days=1)) == []
    tomorrow = today + timedelta(days=1)
    assert listed(tomorrow) == []  # the future has no calls yet

    now = sim.advance(days=2)
    assert sim.clock.now() >= now > tomorrow + timedelta(days=1)
    calls_tomorrow = listed(tomorrow)
    assert len(calls_tomorrow) == 30  # a whole new day of traffic, all visible by now
    assert calls_tomorrow == [
        r["id"] for r in sim.account.call_records(tomorrow, tomorrow + timedelta(days=1))
    ]
    assert listed(first_day) == first_before  # anchored: the first day is still there, unchanged
    assert listed(first_day - timedelta(days=1)) == []


def test_clock_control_route(make_simulator):
    sim = make_simulator(throttling=False)
    start = datetime.fromisoformat(httpx.get(f"{sim.base_url}/_simulator/clock").json()["now"])
    assert abs(start - datetime.now(UTC)) < timedelta(seconds=5)
    moved = httpx.post(f"{sim.base_url}/_simulator/clock", json={"advanceSeconds": 3 * 86400})
    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.json()["now"]) - start >= timedelta(days=3)
    assert sim.clock.now() - start >= timedelta(days=3)
    for bad in ({"advanceSeconds": -5}, {"advanceSeconds": "1"}, {"seconds": 1}, [1]):
        answer = httpx.post(f"{sim.base_url}/_simulator/clock", json=bad)
        assert answer.status_code == 400, bad
    assert httpx.delete(f"{sim.base_url}/_simulator/clock").status_code == 405
    assert sim.clock.now() - start < timedelta(days=3, minutes=1)  # bad requests moved nothing


def test_messages_follow_the_clock(make_simulator):
    sim = make_simulator(throttling=False, days=1, messages_per_day=6)
    acc = sim.account
    mailboxes = [e.id for e in acc.extension_objects if e.message_types]
    both = ("Alive", "Deleted")

    def day_messages(day: datetime) -> list[dict]:
        return [m for ext in mailboxes for m in acc.messages(ext, day, day + timedelta(days=1), both)]

    first, tomorrow = (
        midnight(sim.clock.now()) - timedelta(days=1),
        midnight(sim.clock.now()) + timedelta(days=1),
    )
    assert day_messages(tomorrow) == []
    first_day = day_messages(first)
    sim.advance(days=2)
    assert len(day_messages(tomorrow)) > len(mailboxes)  # about 6 per mailbox on the new day
    assert day_messages(first) == first_day

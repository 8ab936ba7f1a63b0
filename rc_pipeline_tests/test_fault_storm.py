"""Fault storm: a backfill through hundreds of injected faults of every kind ends with the same typed
tables and files as a calm one (the full 30-day version is benchmark scenario 9), and the fault kinds
the storm needs behave as RingCentral does."""

from __future__ import annotations

import httpx
import pytest

from bench.fault_storm import QUICK, StormSizes, storm
from rc_pipeline.ringcentral import RingCentralError
from rc_pipeline.ringcentral.auth import MAX_RENEWALS
from rc_pipeline.simulator import FaultConfig
from rc_pipeline.simulator.faults import EXPORT_FAULT_KINDS, FAULT_KINDS
from rc_pipeline_tests.clienthelpers import client_for
from rc_pipeline_tests.test_simulator_gateway import ACC, bearer, token

# 3 days, every request kind injected at least 40 times, both export kinds 20 times (about 1,500 faults).
SHORT = QUICK


def test_backfill_through_a_fault_storm_equals_a_calm_one(tmp_path):
    outcome = storm(tmp_path, SHORT, log=lambda _: None)
    assert outcome.failures() == []
    assert outcome.calm.reruns == []
    assert outcome.differences == []
    assert outcome.rows["calls"] > 0 and outcome.rows["messages"] > 0 and outcome.files > 0
    assert set(outcome.injected) == set(FAULT_KINDS) | set(EXPORT_FAULT_KINDS)
    assert outcome.short_kinds(SHORT) == {}
    stats, calm = outcome.storm.stats, outcome.calm.stats
    assert calm.server_errors == calm.connection_errors == calm.throttled_429 == 0
    # The client saw them and retried: 5xx and maintenance pages, 429s, lost connections, dead tokens.
    # `revoke` (1): the token's revocation at close is one request after the client's statistics were
    # read, never retried, and can carry one fault the simulator counted.
    revoke = 1
    assert (
        stats.server_errors >= sum(outcome.injected[k] for k in ("500", "502", "503", "504", "html")) - revoke
    )
    assert stats.non_json_answers >= outcome.injected["html"] - revoke
    assert stats.throttled_429 >= outcome.injected["429"] + outcome.injected["429_limited"] - revoke
    assert stats.connection_errors >= outcome.injected["drop"] - revoke
    assert stats.refreshes >= outcome.injected["expired"]


def test_sizes_ask_every_kind():
    assert isinstance(SHORT, StormSizes) and SHORT.minimum >= 40 and SHORT.export_minimum >= 20
    assert set(SHORT.rates) == {"5xx", "429", "429_limited", "truncate", "drop", "slow", "html", "expired"}
    assert SHORT.export_failed_rate > 0 and SHORT.export_attempt_failed_rate > 0


def test_limited_429_carries_the_group_headers_and_is_counted(make_simulator):
    sim = make_simulator()
    access = token(sim).json()["access_token"]
    sim.config.faults.schedule("429_limited", retry_after=3)
    first = httpx.get(f"{sim.base_url}{ACC}/extension", headers=bearer(access))
    assert first.status_code == 429 and first.json()["errorCode"] == "CMN-301"
    assert first.headers["Retry-After"] == "3"
    assert first.headers["X-Rate-Limit-Group"] == "Medium" and first.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(first.headers["X-Rate-Limit-Limit"]) > 0 and int(first.headers["X-Rate-Limit-Window"]) > 0
    sim.config.faults.schedule("429")
    other = httpx.get(f"{sim.base_url}{ACC}/extension", headers=bearer(access))
    assert other.status_code == 429 and "X-Rate-Limit-Group" not in other.headers
    counts = sim.config.faults.injected()
    assert counts["429_limited"] == 1 and counts["429"] == 1 and counts["500"] == 0


def test_expired_fault_kills_the_token_until_refreshed(make_simulator):
    sim = make_simulator()
    grant = token(sim).json()
    sim.config.faults.schedule("expired")
    url = f"{sim.base_url}{ACC}/extension"
    for _ in range(2):  # the token stays expired: a retry with it is refused the same way
        dead = httpx.get(url, headers=bearer(grant["access_token"]))
        assert dead.status_code == 401 and dead.json()["errorCode"] == "TokenInvalid"
        assert dead.json()["errors"][0]["errorCode"] == "OAU-128"
    fresh = token(sim, grant_type="refresh_token", refresh_token=grant["refresh_token"])
    assert fresh.status_code == 200
    assert httpx.get(url, headers=bearer(fresh.json()["access_token"])).status_code == 200
    assert sim.config.faults.injected()["expired"] == 1


def test_random_expiry_spares_a_token_just_issued():
    faults = FaultConfig(expired_rate=1.0, expired_min_age=0.5)
    assert faults.pick("/restapi/v1.0/account/~/extension", "platform", False, token_age=0.1) is None
    hit = faults.pick("/restapi/v1.0/account/~/extension", "platform", False, token_age=0.6)
    assert hit is not None and hit.kind == "expired"
    assert faults.pick("/restapi/oauth/token", "platform", False, token_age=None) is None


@pytest.mark.parametrize(("failed", "attempts"), [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_export_fault_rates_are_drawn_and_counted(failed, attempts):
    faults = FaultConfig(
        export_failed_rate=failed, export_attempt_failed_rate=attempts, export_failed_attempts=3
    )
    outcomes = [faults.take_export_failure() for _ in range(4)]
    assert all(o is not None for o in outcomes)
    assert {o.final for o in outcomes} == {"Failed" if failed else "Completed"}
    assert {o.failed_attempts for o in outcomes} == {3 if attempts else 0}
    counts = faults.injected()
    assert counts["export_failed"] == (4 if failed else 0)
    assert counts["export_attempt_failed"] == (12 if attempts else 0)


def test_a_token_that_dies_again_after_its_renewal_is_renewed_again(make_simulator):
    # Under the storm a download's retry carried a token renewed a moment before and already expired
    # by then (another thread's request saw it die): one renewal per request failed the day.
    sim = make_simulator()
    sim.faults.schedule("expired", count=2, path_contains="/service-info")
    with client_for(sim) as client:
        client.login()
        assert client.service_info()
        assert client.stats().refreshes == 2
    sim.faults.schedule("expired", count=MAX_RENEWALS + 1, path_contains="/service-info")
    with client_for(sim) as client, pytest.raises(RingCentralError) as refused:
        client.service_info()
    assert refused.value.status == 401

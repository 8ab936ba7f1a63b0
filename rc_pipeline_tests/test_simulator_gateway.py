"""Auth, permissions, rate limits and injected faults of the simulator, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from rc_pipeline.simulator import SimulatorConfig

ACC = "/restapi/v1.0/account/~"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_MARGIN = 0.1  # seconds a well-behaved client adds to the announced window


def token(sim, **form) -> httpx.Response:
    data = form or {"grant_type": JWT_GRANT, "assertion": sim.jwt}
    return httpx.post(
        f"{sim.base_url}/restapi/oauth/token", data=data, auth=(sim.client_id, sim.client_secret)
    )


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_token_endpoint_requires_client_auth_and_valid_grant(simulator):
    no_client = httpx.post(
        f"{simulator.base_url}/restapi/oauth/token",
        data={"grant_type": JWT_GRANT, "assertion": simulator.jwt},
    )
    assert no_client.status_code == 400
    assert (
        no_client.json()["error"] == "invalid_client"
        and no_client.json()["errors"][0]["errorCode"] == "OAU-123"
    )
    bad = token(simulator, grant_type=JWT_GRANT, assertion="nope")
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    assert bad.json()["errors"][0]["errorCode"] == "OAU-140"
    good = token(simulator).json()
    assert good["token_type"] == "bearer" and good["expires_in"] == 3600
    assert good["owner_id"] == str(simulator.account.owner.id)
    cfg = simulator.config
    legacy = token(
        simulator,
        grant_type="password",
        username=cfg.username,
        password=cfg.password,
        extension=cfg.extension,
    )
    assert legacy.status_code == 200


def test_env_credentials_replace_the_demo_ones():
    env = {"RC_CLIENT_ID": "id", "RC_CLIENT_SECRET": "secret", "RC_JWT": "jwt"}
    assert SimulatorConfig.from_env(env).client_id == "id"
    partial = SimulatorConfig.from_env({"RC_CLIENT_ID": "id"})
    assert partial.client_id == SimulatorConfig().client_id, "half-set credentials are ignored"


def test_missing_or_bad_bearer_is_agw_402_with_www_authenticate(simulator):
    for headers in ({}, {"Authorization": "Token abc"}):
        response = httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=headers)
        assert response.status_code == 401
        assert response.json()["errorCode"] == "AGW-402"
        assert response.headers["www-authenticate"] == 'Bearer realm="RingCentral REST API"'
        assert response.headers["x-rate-limit-group"] == "Light"
    corrupted = httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=bearer("garbage"))
    assert corrupted.status_code == 401
    assert token_error(corrupted) == ("TokenInvalid", "OAU-129")


def token_error(response: httpx.Response) -> tuple[str, str]:
    """(top-level errorCode, errors[0].errorCode) of an error answer."""
    body = response.json()
    return body["errorCode"], body["errors"][0]["errorCode"]


def test_access_token_in_query_only_on_media_host(simulator):
    access = token(simulator).json()["access_token"]
    platform = httpx.get(f"{simulator.base_url}{ACC}/service-info", params={"access_token": access})
    assert platform.status_code == 401
    record = next(r for r in simulator.account.call_records(*day()) if "recording" in r)
    media = httpx.get(record["recording"]["contentUri"], params={"access_token": access})
    assert media.status_code == 200


def day():
    from datetime import UTC, datetime, timedelta

    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=1), end


def test_expired_token_is_oau_128(make_simulator):
    sim = make_simulator(token_ttl=0.5)
    access = token(sim).json()["access_token"]
    assert httpx.get(f"{sim.base_url}{ACC}/service-info", headers=bearer(access)).status_code == 200
    time.sleep(0.7)
    expired = httpx.get(f"{sim.base_url}{ACC}/service-info", headers=bearer(access))
    assert expired.status_code == 401
    assert token_error(expired) == ("TokenInvalid", "OAU-128")
    assert expired.json()["errors"][0]["message"] == "Access token expired"


def test_refresh_token_is_single_use_and_kills_the_old_access_token(simulator):
    first = token(simulator).json()
    refreshed = token(simulator, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200
    replaced = httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=bearer(first["access_token"]))
    assert replaced.status_code == 401
    assert token_error(replaced) == ("TokenInvalid", "OAU-213")
    again = token(simulator, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    new_access = refreshed.json()["access_token"]
    assert httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=bearer(new_access)).status_code == 200


def test_revoked_token_is_rejected(simulator):
    access = token(simulator).json()["access_token"]
    revoke = httpx.post(
        f"{simulator.base_url}/restapi/oauth/revoke",
        data={"token": access},
        auth=(simulator.client_id, simulator.client_secret),
    )
    assert revoke.status_code == 200
    after = httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=bearer(access))
    assert after.status_code == 401
    assert token_error(after) == ("TokenInvalid", "OAU-213")
    assert after.json()["errors"][0]["message"] == "Token not found"


def test_missing_app_permission_is_403_with_permission_name(make_simulator):
    sim = make_simulator(app_permissions=frozenset({"ReadAccounts", "ReadCallLog"}))
    access = token(sim).json()["access_token"]
    response = httpx.get(f"{sim.base_url}{ACC}/recording/123", headers=bearer(access))
    assert response.status_code == 403
    body = response.json()
    assert body["errorCode"] == "InsufficientPermissions"
    assert body["errors"][0] == {
        "errorCode": "CMN-401",
        "message": "In order to call this API endpoint, application needs to have [ReadCallRecording] permission",
        "permissionName": "ReadCallRecording",
    }


def test_rate_limit_headers_announce_scaled_windows_rounded_up(simulator):
    # 60 s * 0.02 = 1.2 s: announced, and enforced, as 2 s.
    access = token(simulator).json()["access_token"]
    response = httpx.get(f"{simulator.base_url}{ACC}/call-log", headers=bearer(access))
    assert response.headers["x-rate-limit-group"] == "Heavy"
    assert response.headers["x-rate-limit-limit"] == "10"
    assert response.headers["x-rate-limit-window"] == "2"
    assert response.headers["x-rate-limit-remaining"] == "9"
    record = next(r for r in simulator.account.call_records(*day()) if "recording" in r)
    media = httpx.get(record["recording"]["contentUri"], headers=bearer(access))
    assert media.headers["x-rate-limit-group"] == "Heavy"
    assert media.headers["x-rate-limit-remaining"] == "8", "media host shares the Heavy budget"


def test_429_and_any_request_during_the_penalty_restarts_it(make_simulator):
    sim = make_simulator(rate_limits={"Heavy": (3, 1.0)}, penalty_seconds=1.0)
    access = token(sim).json()["access_token"]
    url = f"{sim.base_url}{ACC}/call-log"
    statuses = [httpx.get(url, headers=bearer(access)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = httpx.get(url, headers=bearer(access))
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["errorCode"] == "CMN-301"
    # Poking every 0.6 s keeps the 1 s penalty alive forever.
    for _ in range(3):
        time.sleep(0.6)
        assert httpx.get(url, headers=bearer(access)).status_code == 429
    # Other groups are not affected.
    assert httpx.get(f"{sim.base_url}{ACC}/service-info", headers=bearer(access)).status_code == 200
    time.sleep(1.1)
    assert httpx.get(url, headers=bearer(access)).status_code == 200
    heavy = [e for e in sim.request_log if e.group == "Heavy"]
    assert [e.status for e in heavy][-1] == 200 and all(e.authorization for e in heavy)


def test_client_obeying_headers_is_never_penalised(make_simulator):
    sim = make_simulator(rate_limits={"Heavy": (2, 1.0)})
    access = token(sim).json()["access_token"]
    url = f"{sim.base_url}{ACC}/call-log"
    sent: list[float] = []
    for _ in range(6):
        if len(sent) >= 2:
            # A client can only time its sends, RingCentral stamps arrivals: the margin covers latency.
            wait = sent[-2] + 1.0 + CLIENT_MARGIN - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        sent.append(time.monotonic())
        response = httpx.get(url, headers=bearer(access))
        assert response.status_code == 200
        assert response.headers["x-rate-limit-window"] == "1"


def test_throttling_can_be_switched_off(make_simulator):
    sim = make_simulator(throttling=False)
    access = token(sim).json()["access_token"]
    statuses = {
        httpx.get(f"{sim.base_url}{ACC}/call-log", headers=bearer(access)).status_code for _ in range(15)
    }
    assert statuses == {200}


def test_scheduled_server_errors_and_bursts(simulator):
    access = token(simulator).json()["access_token"]
    url = f"{simulator.base_url}{ACC}/extension"
    simulator.faults.schedule("503", count=2, retry_after=1, path_contains="/extension")
    simulator.faults.schedule("500", count=1, path_contains="/extension")
    first = httpx.get(url, headers=bearer(access))
    assert first.status_code == 503 and first.headers["retry-after"] == "1"
    assert "x-rate-limit-group" in first.headers
    assert httpx.get(url, headers=bearer(access)).status_code == 503
    assert httpx.get(url, headers=bearer(access)).status_code == 500
    assert httpx.get(url, headers=bearer(access)).status_code == 200
    simulator.faults.schedule("429", count=1)
    burst = httpx.get(url, headers=bearer(access))
    assert burst.status_code == 429 and "x-rate-limit-group" not in burst.headers
    assert simulator.faults.pending() == 0


def test_truncation_really_delivers_fewer_bytes_than_promised(simulator):
    access = token(simulator).json()["access_token"]
    record = next(r for r in simulator.account.call_records(*day()) if "recording" in r)
    truth, _ = simulator.account.recording_content(record["recording"]["id"])
    simulator.faults.schedule("truncate", count=1, path_contains="/content")
    got = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("GET", record["recording"]["contentUri"], headers=bearer(access)) as response:
            assert int(response.headers["content-length"]) == len(truth)
            for chunk in response.iter_raw():
                got += chunk
    assert 0 < len(got) < len(truth)
    assert bytes(got) == truth[: len(got)]
    again = httpx.get(record["recording"]["contentUri"], headers=bearer(access))
    assert again.content == truth
    entry = next(e for e in simulator.request_log if e.fault == "truncate")
    assert entry.host == "media"


def test_dropped_connection_gets_no_answer(simulator):
    access = token(simulator).json()["access_token"]
    simulator.faults.schedule("drop", count=1, path_contains="/service-info")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=bearer(access))
    assert httpx.get(f"{simulator.base_url}{ACC}/service-info", headers=bearer(access)).status_code == 200
    assert any(e.status == 0 and e.fault == "drop" for e in simulator.request_log)


def test_random_faults_are_deterministic_from_their_seed(make_simulator):
    outcomes = []
    for _ in range(2):
        sim = make_simulator(throttling=False)
        sim.faults.seed = 7
        sim.faults.error_5xx_rate = 0.3
        access = token(sim).json()["access_token"]
        outcomes.append(
            [
                httpx.get(f"{sim.base_url}{ACC}/service-info", headers=bearer(access)).status_code
                for _ in range(20)
            ]
        )
    assert outcomes[0] == outcomes[1]
    assert any(s >= 500 for s in outcomes[0]) and 200 in outcomes[0]


def test_unknown_path_is_404_json(simulator):
    access = token(simulator).json()["access_token"]
    response = httpx.get(f"{simulator.base_url}/restapi/v1.0/nothing-here", headers=bearer(access))
    assert response.status_code == 404
    assert response.json()["errorCode"] == "CMN-102" and response.json()["errors"]
    assert "x-rate-limit-group" in response.headers

"""The simulator is no kinder than RingCentral: token errors, late recordings, leg recordings,
optional paging totals, exact rate-limit windows and the CLI not echoing secrets."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rc_pipeline.simulator import DEMO_CLIENT_SECRET, DEMO_JWT, SimulatorConfig
from rc_pipeline.simulator.__main__ import FROM_ENVIRONMENT, env_lines
from rc_pipeline.simulator.throttle import RateLimiter

ACC = "/restapi/v1.0/account/~"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def midnight(days_ago: int = 0) -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def login(sim) -> dict:
    response = httpx.post(
        f"{sim.base_url}/restapi/oauth/token",
        data={"grant_type": JWT_GRANT, "assertion": sim.jwt},
        auth=(sim.client_id, sim.client_secret),
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- 1. 401 bodies --------------------------------------------------------------------------------


def test_token_errors_are_token_invalid_with_the_reason_inside_and_match_the_spec(
    make_simulator, openapi_validate
):
    sim = make_simulator(token_ttl=0.5, throttling=False)
    url = f"{sim.base_url}{ACC}/service-info"
    answers: dict[str, httpx.Response] = {}
    answers["corrupted"] = httpx.get(url, headers=bearer("not-a-token"))
    expiring = login(sim)
    replaced = login(sim)
    refreshed = httpx.post(
        f"{sim.base_url}/restapi/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": replaced["refresh_token"]},
        auth=(sim.client_id, sim.client_secret),
    )
    assert refreshed.status_code == 200
    answers["replaced"] = httpx.get(url, headers=bearer(replaced["access_token"]))
    revoked = login(sim)
    httpx.post(
        f"{sim.base_url}/restapi/oauth/revoke",
        data={"token": revoked["access_token"]},
        auth=(sim.client_id, sim.client_secret),
    ).raise_for_status()
    answers["revoked"] = httpx.get(url, headers=bearer(revoked["access_token"]))
    time.sleep(0.7)
    answers["expired"] = httpx.get(url, headers=bearer(expiring["access_token"]))
    expected = {
        "corrupted": "OAU-129",
        "replaced": "OAU-213",
        "revoked": "OAU-213",
        "expired": "OAU-128",
    }
    for case, code in expected.items():
        response = answers[case]
        body = response.json()
        assert response.status_code == 401, case
        assert body["errorCode"] == "TokenInvalid", case
        assert body["message"], case
        assert [e["errorCode"] for e in body["errors"]] == [code], case
        openapi_validate(response, component="Unauthorized")
    assert answers["expired"].json()["errors"][0]["message"] == "Access token expired"
    assert answers["revoked"].json()["errors"][0]["message"] == "Token not found"


def test_missing_header_stays_agw_402_not_token_invalid(simulator):
    response = httpx.get(f"{simulator.base_url}{ACC}/service-info")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "AGW-402"
    assert response.json()["errors"][0]["errorCode"] == "AGW-402"
    assert "www-authenticate" in response.headers


# ---- 2. recordings attach after the call is first listed ------------------------------------------


def newest_recorded_call(probe) -> dict:
    """The newest call whose call-level recording is attached when recordings attach at once."""
    records = probe.account.call_records(midnight(2), datetime.now(UTC), view="Detailed")
    return next(r for r in records if "recording" in r)


def visible_at(record: dict, config: SimulatorConfig) -> datetime:
    return parse(record["startTime"]) + timedelta(seconds=record["duration"] + config.call_visibility_delay)


def listed(client: httpx.Client, record: dict, **params: str) -> dict | None:
    """The record as the call log lists it right now (None when it is not listed)."""
    start = parse(record["startTime"])
    body = client.get(
        f"{ACC}/call-log",
        params={
            "view": "Detailed",
            "dateFrom": start.isoformat(),
            "dateTo": (start + timedelta(milliseconds=1)).isoformat(),
            **params,
        },
    ).json()
    return next((r for r in body["records"] if r["id"] == record["id"]), None)


def test_recording_attaches_minutes_later_and_bumps_last_modified_time(make_simulator, api_client):
    shape = dict(throttling=False, extensions=8, days=2, calls_per_day=300, seed=11)
    probe = make_simulator(recording_attach_delay=0.0, **shape)
    target = newest_recorded_call(probe)
    # Time the real simulator so that this call is visible now but its recording attaches in ~3 s.
    attach_at = datetime.now(UTC) + timedelta(seconds=3)
    delay = (attach_at - visible_at(target, probe.config)).total_seconds()
    sim = make_simulator(recording_attach_delay=delay, **shape)
    client = api_client(sim)
    media = httpx.Client(headers=client.headers, timeout=30)
    rid = target["recording"]["id"]
    content_uri = target["recording"]["contentUri"].replace(probe.media_url, sim.media_url)
    sync_path = f"{ACC}/call-log-sync"
    fsync = client.get(sync_path, params={"syncType": "FSync", "recordCount": 250, "view": "Detailed"})
    assert fsync.status_code == 200

    early = listed(client, target)
    truth_early = next(
        r for r in sim.account.call_records(midnight(2), datetime.now(UTC)) if r["id"] == target["id"]
    )
    assert datetime.now(UTC) < attach_at, "test setup was too slow to see the call before its recording"
    assert early is not None, "the call is listed before its recording attaches"
    for record in (early, truth_early):
        assert "recording" not in record and "shortRecording" not in record
        assert all("recording" not in leg for leg in record["legs"])
    assert listed(client, target, recordingType="All") is None, "no recording yet, so no match"
    assert media.get(content_uri).status_code == 404
    assert client.get(f"{ACC}/recording/{rid}").status_code == 404

    time.sleep(max(0.0, (attach_at - datetime.now(UTC)).total_seconds()) + 0.5)
    late = listed(client, target)
    truth_late = next(
        r for r in sim.account.call_records(midnight(2), datetime.now(UTC)) if r["id"] == target["id"]
    )
    for record in (late, truth_late):
        assert record is not None and record["recording"]["id"] == rid
        master = next(leg for leg in record["legs"] if leg["master"])
        assert master["recording"]["id"] == rid
        assert parse(record["lastModifiedTime"]) > parse(early["lastModifiedTime"])
        assert parse(record["lastModifiedTime"]) >= visible_at(target, sim.config)
    assert late == truth_late
    assert early["lastModifiedTime"] == truth_early["lastModifiedTime"]
    assert listed(client, target, recordingType="All") is not None
    assert media.get(content_uri).status_code == 200
    assert client.get(f"{ACC}/recording/{rid}").json()["id"] == rid
    # An incremental sync reports the attachment as a change, so sync consumers also see it.
    isync = client.get(
        sync_path, params={"syncType": "ISync", "syncToken": fsync.json()["syncInfo"]["syncToken"]}
    )
    assert isync.status_code == 200, isync.text
    changed = {r["id"]: r for r in isync.json()["records"]}
    assert changed[target["id"]]["recording"]["id"] == rid
    media.close()


def test_default_attach_delay_leaves_yesterday_complete(make_simulator):
    # Tests archive yesterday: with the default delay of minutes every recording there is attached.
    # 600 calls: leg-only recordings are a few percent of calls, and at 120 a day some dates drew none.
    sim = make_simulator(throttling=False, calls_per_day=600)
    eager = make_simulator(throttling=False, calls_per_day=600, recording_attach_delay=0.0)
    assert sim.config.recording_attach_delay == 120.0

    def comparable(run) -> list[dict]:
        text = json.dumps(run.account.call_records(midnight(1), midnight(0), view="Detailed"))
        records = json.loads(text.replace(run.base_url, "X").replace(run.media_url, "M"))
        for record in records:
            record.pop("lastModifiedTime")  # attaching later is a later modification
        return records

    records = comparable(sim)
    assert records == comparable(eager)
    assert any("recording" in r for r in records) and any(leg_recordings(r) for r in records)


# ---- 3. recordings on transfer / forwarding legs --------------------------------------------------


@pytest.fixture
def leg_sim(make_simulator):
    return make_simulator(throttling=False, extensions=8, days=3, calls_per_day=400, seed=7)


def leg_recordings(record: dict) -> list[dict]:
    return [leg["recording"] for leg in record["legs"] if not leg["master"] and "recording" in leg]


def test_some_legs_carry_their_own_recording(leg_sim, api_client, openapi_validate):
    records = leg_sim.account.call_records(midnight(2), midnight(0), view="Detailed")
    with_leg = [r for r in records if leg_recordings(r)]
    leg_only = [r for r in with_leg if "recording" not in r]
    both = [r for r in with_leg if "recording" in r]
    assert leg_only, "a transferred call recorded on the second leg only"
    assert both, "a call with a call-level and a distinct leg recording"
    assert any(r["legs"][1]["legType"] == "TransferCall" for r in leg_only)
    call_ids = {r["recording"]["id"] for r in records if "recording" in r}
    for record in with_leg:
        (rec,) = leg_recordings(record)
        assert rec["id"] not in call_ids
        assert rec["type"] in ("Automatic", "OnDemand")
        assert rec["contentUri"].startswith(leg_sim.media_url)
        master = next(leg for leg in record["legs"] if leg["master"])
        assert master.get("recording") == record.get("recording")
    # Such a page still matches the spec's CallLogRecord / leg schema.
    client = api_client(leg_sim)
    target = leg_only[0]
    page = client.get(
        f"{ACC}/call-log",
        params={
            "view": "Detailed",
            "dateFrom": target["startTime"],
            "dateTo": (parse(target["startTime"]) + timedelta(minutes=30)).isoformat(),
        },
    )
    assert any(leg_recordings(r) for r in page.json()["records"])
    openapi_validate(page)


def test_leg_recording_content_metadata_and_delete(leg_sim, api_client):
    client = api_client(leg_sim)
    records = leg_sim.account.call_records(midnight(2), midnight(0), view="Detailed")
    record = next(r for r in records if leg_recordings(r) and "recording" not in r)
    leg = next(leg for leg in record["legs"] if "recording" in leg)
    rec = leg["recording"]
    meta = client.get(f"{ACC}/recording/{rec['id']}")
    assert meta.status_code == 200
    assert meta.json()["duration"] == leg["duration"] != record["duration"]
    content = httpx.get(rec["contentUri"], headers=client.headers, timeout=30)
    assert content.status_code == 200
    assert content.headers["content-type"] == meta.json()["contentType"]
    if content.headers["content-type"] == "audio/wav":
        assert content.content[:4] == b"RIFF"
        assert len(content.content) == 44 + leg["duration"] * 16_000
    else:
        assert content.content[:2] == b"\xff\xfb"
        assert len(content.content) == math.ceil(leg["duration"] * 1000 / 24) * 96
    deleted = client.request("DELETE", f"{ACC}/call-recordings", json={"records": [rec["id"]]})
    assert deleted.status_code == 204, deleted.text
    assert httpx.get(rec["contentUri"], headers=client.headers).status_code == 404


# ---- 4. optional paging totals ---------------------------------------------------------------------


@pytest.mark.parametrize("totals", [False, True])
def test_call_log_paging_totals_only_when_configured(make_simulator, api_client, openapi_validate, totals):
    sim = make_simulator(throttling=False, calls_per_day=120, call_log_paging_totals=totals)
    client = api_client(sim)
    params = {"dateFrom": midnight(2).isoformat(), "dateTo": midnight(0).isoformat(), "perPage": 7}
    truth = sim.account.call_records(midnight(2), midnight(0), view="Simple")
    response = client.get(f"{ACC}/call-log", params=params)
    openapi_validate(response)
    body = response.json()
    if not totals:
        assert "totalElements" not in body["paging"] and "totalPages" not in body["paging"]
        assert "lastPage" not in body["navigation"]
        return
    pages = math.ceil(len(truth) / 7)
    assert body["paging"]["totalElements"] == len(truth) == 240
    assert body["paging"]["totalPages"] == pages
    last = client.get(body["navigation"]["lastPage"]["uri"])
    openapi_validate(last)
    assert last.json()["paging"]["page"] == pages
    assert "nextPage" not in last.json()["navigation"]
    assert [r["id"] for r in last.json()["records"]] == [r["id"] for r in truth[(pages - 1) * 7 :]]
    assert last.json()["paging"]["totalElements"] == len(truth)


# ---- 5. rate-limit windows are exact ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hit_leaves_the_window_exactly_when_the_window_ends():
    clock = FakeClock()
    limiter = RateLimiter(SimulatorConfig(rate_limits={"Heavy": (2, 1.0)}, penalty_seconds=5.0), clock=clock)
    assert limiter.check("u", "app", "Heavy").allowed
    assert limiter.check("u", "app", "Heavy").allowed
    clock.now += 0.99  # 10 ms before the first hit leaves the window: still full, as at RingCentral
    early = limiter.check("u", "app", "Heavy")
    assert not early.allowed and early.retry_after == 5

    fresh = RateLimiter(SimulatorConfig(rate_limits={"Heavy": (2, 1.0)}), clock=clock)
    start = clock.now
    assert fresh.check("u", "app", "Heavy").allowed
    assert fresh.check("u", "app", "Heavy").allowed
    clock.now = start + 1.0
    assert fresh.check("u", "app", "Heavy").allowed, "at the window's end the oldest hit is gone"


# ---- 6. the CLI does not echo secrets from the environment ---------------------------------------


def read_env_block(proc: subprocess.Popen) -> list[str]:
    lines = []
    while True:
        line = proc.stdout.readline()
        assert line, "simulator exited early"
        if line.startswith("Press Ctrl-C"):
            return lines
        lines.append(line.rstrip("\n"))


def test_cli_does_not_print_secrets_taken_from_the_environment():
    secrets = {
        "RC_CLIENT_ID": "env-client-id",
        "RC_CLIENT_SECRET": "env-client-secret-3f9a",
        "RC_JWT": "env.jwt.credential-77c1",
        "RC_PASSWORD": "env-password-0b2e",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("RC_")} | secrets
    proc = subprocess.Popen(
        [sys.executable, "-m", "rc_pipeline.simulator", "--port", "0", "--calls-per-day", "5"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = read_env_block(proc)
        output = "\n".join(lines)
        for name in ("RC_CLIENT_SECRET", "RC_JWT", "RC_PASSWORD"):
            assert secrets[name] not in output, f"{name} was echoed"
        values = dict(line.partition("=")[::2] for line in lines if line.startswith("RC_"))
        assert values["RC_CLIENT_SECRET"] == FROM_ENVIRONMENT
        assert values["RC_JWT"] == FROM_ENVIRONMENT
        assert values["RC_CLIENT_ID"] == secrets["RC_CLIENT_ID"]
        assert f"password={FROM_ENVIRONMENT}" in output
        # The simulator really runs with the environment's credentials.
        token = httpx.post(
            f"{values['RC_SERVER_URL']}/restapi/oauth/token",
            data={"grant_type": JWT_GRANT, "assertion": secrets["RC_JWT"]},
            auth=(secrets["RC_CLIENT_ID"], secrets["RC_CLIENT_SECRET"]),
        )
        assert token.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0


def test_demo_credentials_are_printed_in_full(simulator):
    lines = env_lines(simulator, {})
    assert f"RC_CLIENT_SECRET={DEMO_CLIENT_SECRET}" in lines
    assert f"RC_JWT={DEMO_JWT}" in lines
    assert FROM_ENVIRONMENT not in "\n".join(lines)
    # Half-set app credentials are ignored by from_env, so the demo ones in use are printed.
    assert f"RC_JWT={DEMO_JWT}" in env_lines(simulator, {"RC_CLIENT_SECRET": "x"})

"""Every JSON answer of the simulator validates against the official RingCentral OpenAPI spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

ACC = "/restapi/v1.0/account/~"
EXT = ACC + "/extension/~"


def yesterday() -> tuple[str, str]:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (end - timedelta(days=1)).isoformat(), end.isoformat()


@pytest.fixture
def sim(make_simulator):
    # Throttling off: this file checks shapes, not budgets.
    return make_simulator(throttling=False, calls_per_day=60, messages_per_day=6)


@pytest.fixture
def client(sim, api_client):
    return api_client(sim)


def test_validator_rejects_a_wrong_shape(sim, client, openapi_validate):
    # Guards the guard: a record without its required `sessionId` must fail validation.
    date_from, date_to = yesterday()
    good = client.get(f"{ACC}/call-log", params={"dateFrom": date_from, "dateTo": date_to})
    body = good.json()
    del body["records"][0]["sessionId"]
    bad = httpx.Response(200, json=body, request=good.request)
    with pytest.raises(Exception, match="sessionId"):
        openapi_validate(bad)


def test_token_response_matches_token_info(sim, openapi_validate):
    response = httpx.post(
        f"{sim.base_url}/restapi/oauth/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": sim.jwt},
        auth=(sim.client_id, sim.client_secret),
    )
    assert response.status_code == 200
    openapi_validate(response)


def test_token_error_matches_oauth_invalid_request(sim, openapi_validate):
    response = httpx.post(
        f"{sim.base_url}/restapi/oauth/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "wrong"},
        auth=(sim.client_id, sim.client_secret),
    )
    assert response.status_code == 400
    openapi_validate(response)


def test_extension_list_and_service_info(client, openapi_validate):
    for params in ({}, {"perPage": 3, "page": 2}, {"status": "Enabled", "type": "User"}):
        response = client.get(f"{ACC}/extension", params=params)
        assert response.status_code == 200
        openapi_validate(response)
    response = client.get(f"{ACC}/service-info")
    openapi_validate(response)
    features = {f["featureName"]: f["enabled"] for f in response.json()["serviceFeatures"]}
    assert features["HipaaCompliance"] is False


@pytest.mark.parametrize("view", ["Simple", "Detailed"])
def test_call_log_pages_both_levels(client, openapi_validate, view):
    date_from, date_to = yesterday()
    for path in (f"{ACC}/call-log", f"{EXT}/call-log"):
        for page in (1, 2, 50):
            params = {"view": view, "dateFrom": date_from, "dateTo": date_to, "perPage": 7, "page": page}
            response = client.get(path, params=params)
            assert response.status_code == 200, response.text
            openapi_validate(response)
    records = client.get(
        f"{ACC}/call-log", params={"view": view, "dateFrom": date_from, "dateTo": date_to}
    ).json()
    assert records["records"]
    for record in records["records"]:
        assert ("legs" in record) == (view == "Detailed")
        assert ("billing" in record) == (view == "Detailed")


def test_call_record_recording_and_sync(client, openapi_validate):
    date_from, date_to = yesterday()
    listed = client.get(
        f"{ACC}/call-log",
        params={"view": "Detailed", "dateFrom": date_from, "dateTo": date_to, "recordingType": "All"},
    ).json()["records"]
    record = listed[0]
    single = client.get(f"{ACC}/call-log/{record['id']}", params={"view": "Detailed"})
    assert single.status_code == 200
    openapi_validate(single)
    meta = client.get(f"{ACC}/recording/{record['recording']['id']}")
    assert meta.status_code == 200
    openapi_validate(meta)
    for path in (f"{ACC}/call-log-sync", f"{EXT}/call-log-sync"):
        fsync = client.get(path, params={"syncType": "FSync", "recordCount": 20, "view": "Detailed"})
        assert fsync.status_code == 200, fsync.text
        openapi_validate(fsync)
        isync = client.get(
            path, params={"syncType": "ISync", "syncToken": fsync.json()["syncInfo"]["syncToken"]}
        )
        assert isync.status_code == 200, isync.text
        openapi_validate(isync)
    for path in (f"{ACC}/active-calls", f"{EXT}/active-calls"):
        active = client.get(path)
        assert active.status_code == 200
        openapi_validate(active)


def test_message_store_list_and_single(client, openapi_validate, sim):
    date_from = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    owner_id = sim.account.owner.id
    listed = client.get(f"{EXT}/message-store", params={"dateFrom": date_from, "perPage": 5})
    assert listed.status_code == 200
    openapi_validate(listed)
    everything = client.get(
        f"{ACC}/extension/{owner_id}/message-store",
        params={"dateFrom": date_from, "availability": ["Alive", "Deleted"], "perPage": 1000},
    )
    openapi_validate(everything)
    kinds = {m["type"] for m in everything.json()["records"]}
    assert {"SMS", "VoiceMail", "Fax", "Pager"} <= kinds
    first = everything.json()["records"][0]
    single = client.get(f"{EXT}/message-store/{first['id']}")
    assert single.status_code == 200
    openapi_validate(single)
    updated = client.put(f"{EXT}/message-store/{first['id']}", json={"readStatus": "Read"})
    assert updated.status_code == 200
    openapi_validate(updated)
    patched = client.patch(f"{EXT}/message-store/{first['id']}", json={"readStatus": "Unread"})
    openapi_validate(patched)


def test_export_task_and_archive_list(client, openapi_validate, sim):
    date_from, date_to = yesterday()
    created = client.post(f"{ACC}/message-store-report", json={"dateFrom": date_from, "dateTo": date_to})
    assert created.status_code == 202
    openapi_validate(created)
    task_id = created.json()["id"]
    status = client.get(f"{ACC}/message-store-report/{task_id}")
    openapi_validate(status)
    task = sim.exports.get(task_id)
    task.created_monotonic -= sim.config.export_task_seconds  # finish it without waiting
    archives = client.get(f"{ACC}/message-store-report/{task_id}/archive")
    assert archives.status_code == 200
    openapi_validate(archives)


def test_message_store_configuration(client, openapi_validate):
    response = client.get(f"{ACC}/message-store-configuration")
    openapi_validate(response)
    updated = client.put(f"{ACC}/message-store-configuration", json={"retentionPeriod": 30})
    assert updated.json() == {"retentionPeriod": 30}
    openapi_validate(updated)
    bad = client.put(f"{ACC}/message-store-configuration", json={"retentionPeriod": 6})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["parameterName"] == "retentionPeriod"


def test_error_bodies(sim, client, openapi_validate, make_simulator, api_client):
    bad_param = client.get(f"{ACC}/call-log", params={"page": 0})
    assert bad_param.status_code == 400
    openapi_validate(bad_param)
    missing = client.get(f"{ACC}/call-log/doesnotexist")
    assert missing.status_code == 404
    openapi_validate(missing)
    unauthorized = httpx.get(f"{sim.base_url}{ACC}/call-log")
    assert unauthorized.status_code == 401
    openapi_validate(unauthorized, component="Unauthorized")
    limited_sim = make_simulator(app_permissions=frozenset({"ReadAccounts"}), throttling=False)
    forbidden = api_client(limited_sim).get(f"{ACC}/call-log")
    assert forbidden.status_code == 403
    openapi_validate(forbidden)
    tight = make_simulator(rate_limits={"Light": (1, 5.0)})
    tight_client = api_client(tight)
    tight_client.get(f"{ACC}/service-info")
    throttled = tight_client.get(f"{ACC}/service-info")
    assert throttled.status_code == 429
    openapi_validate(throttled, component="TooManyRequests")

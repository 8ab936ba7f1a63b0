"""call-log-extract-sync and message-sync: change feeds over simulated time, checked against the spec."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

ACC = "/restapi/v1.0/account/~"
EXTRACT = ACC + "/call-log-extract-sync"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def sim(make_simulator):
    return make_simulator(throttling=False, days=2, calls_per_day=60, messages_per_day=6)


@pytest.fixture
def client(sim, api_client):
    return api_client(sim)


def drain(client, first: dict) -> tuple[list[dict], dict]:
    """Every record from a first extract-sync answer on, following ISync while newerRecordsExist."""
    body, records = first, list(first["records"])
    while body["syncInfo"]["newerRecordsExist"]:
        token = body["syncInfo"]["syncToken"]
        answer = client.get(EXTRACT, params={"syncType": "ISync", "syncToken": token, "view": "Detailed"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        records += body["records"]
    return records, body


def test_extract_sync_pages_by_modification_time_then_follows_changes(sim, client, openapi_validate):
    default = client.get(EXTRACT)
    assert default.status_code == 200, default.text
    openapi_validate(default)
    hour_ago = sim.clock.now() - timedelta(hours=1)
    assert all("lastModifiedTime" not in r for r in default.json()["records"])  # Simple view by default
    since = sim.clock.now() - timedelta(days=3)
    first = client.get(EXTRACT, params={"dateFrom": since.isoformat(), "recordCount": 25, "view": "Detailed"})
    openapi_validate(first)
    body = first.json()
    assert body["syncInfo"]["syncType"] == "FSync" and body["syncInfo"]["newerRecordsExist"]
    assert len(body["records"]) == 25
    records, last = drain(client, body)
    modified = [parse(r["lastModifiedTime"]) for r in records]
    assert modified == sorted(modified)
    assert len({r["id"] for r in records}) == len(records)
    truth = sim.account.call_records(since - timedelta(days=1), sim.clock.now(), view="Detailed")
    assert {r["id"] for r in records} == {r["id"] for r in truth if parse(r["lastModifiedTime"]) >= since}
    default_ids = {r["id"] for r in default.json()["records"]}
    assert default_ids == {r["id"] for r in records if parse(r["lastModifiedTime"]) >= hour_ago}

    # An hour later: the new calls, and the calls whose recording attached since, modified again.
    before = {r["id"]: r for r in records}
    sim.advance(hours=1)
    token = last["syncInfo"]["syncToken"]
    later = client.get(EXTRACT, params={"syncType": "ISync", "syncToken": token, "view": "Detailed"})
    openapi_validate(later)
    changes, _ = drain(client, later.json())
    now = sim.clock.now()
    truth = sim.account.call_records(now - timedelta(hours=5), now, view="Simple")
    assert changes and {c["id"] for c in changes} <= {r["id"] for r in truth} | set(before)
    new_ids = {c["id"] for c in changes} - set(before)
    expected_new = {r["id"] for r in truth} - set(before)
    assert new_ids == expected_new
    assert all("recording" in c for c in changes if c["id"] in before)  # re-sent because it attached
    groups = {e.group for e in sim.request_log if e.operation == "extractSyncAccountCallLog"}
    assert groups == {"Heavy"}


def test_extract_sync_refuses_bad_counts_and_tokens(sim, client, openapi_validate):
    too_many = client.get(EXTRACT, params={"recordCount": 1001})
    assert too_many.status_code == 400 and too_many.json()["errorCode"] == "CMN-101"
    openapi_validate(too_many)
    token = client.get(EXTRACT).json()["syncInfo"]["syncToken"]
    isync_count = client.get(EXTRACT, params={"syncType": "ISync", "syncToken": token, "recordCount": 5})
    assert isync_count.status_code == 400
    forged = client.get(EXTRACT, params={"syncType": "ISync", "syncToken": token[:-2] + "xx"})
    assert forged.status_code == 400 and forged.json()["errorCode"] == "CLG-101"
    openapi_validate(forged)
    call_log_sync_token = client.get(ACC + "/call-log-sync", params={"recordCount": 5}).json()["syncInfo"]
    other = client.get(EXTRACT, params={"syncType": "ISync", "syncToken": call_log_sync_token["syncToken"]})
    assert other.json()["errorCode"] == "CLG-101"
    sim.advance(days=31)
    expired = client.get(EXTRACT, params={"syncType": "ISync", "syncToken": token})
    assert expired.status_code == 400 and expired.json()["errorCode"] == "CLG-104"


def message_sync_path(ext_id: int | str) -> str:
    return f"{ACC}/extension/{ext_id}/message-sync"


def busiest_mailbox(sim) -> int:
    now = sim.clock.now()

    def count(ext) -> int:
        return len(sim.account.messages(ext.id, now - timedelta(hours=24), now))

    return max(sim.account.extension_objects, key=count).id


def test_message_sync_full_then_incremental_changes(sim, client, openapi_validate):
    ext = busiest_mailbox(sim)
    path = message_sync_path(ext)
    now = sim.clock.now()
    truth = sim.account.messages(ext, now - timedelta(hours=24), now + timedelta(seconds=1))
    full = client.get(path)
    assert full.status_code == 200, full.text
    openapi_validate(full)
    body = full.json()
    assert [m["id"] for m in body["records"]] == [m["id"] for m in truth]  # Alive, last 24 h, newest first
    assert body["syncInfo"]["syncType"] == "FSync" and body["syncInfo"]["olderRecordsExist"] is False
    capped = client.get(path, params={"recordCount": 2}).json()
    assert [m["id"] for m in capped["records"]] == [m["id"] for m in truth[:2]]
    assert capped["syncInfo"]["olderRecordsExist"] is True

    token = body["syncInfo"]["syncToken"]
    quiet = client.get(path, params={"syncType": "ISync", "syncToken": token})
    openapi_validate(quiet)
    assert quiet.json()["records"] == [] or all(
        parse(m["lastModifiedTime"]) > parse(body["syncInfo"]["syncTime"]) for m in quiet.json()["records"]
    )
    read_target, delete_target = truth[0]["id"], truth[1]["id"]
    store = f"{ACC}/extension/{ext}/message-store"
    assert client.put(f"{store}/{read_target}", json={"readStatus": "Unread"}).status_code == 200
    assert client.delete(f"{store}/{delete_target}", params={"purge": "true"}).status_code == 204
    sim.advance(hours=6)
    changes = client.get(path, params={"syncType": "ISync", "syncToken": token})
    openapi_validate(changes)
    by_id = {m["id"]: m for m in changes.json()["records"]}
    assert by_id[read_target]["readStatus"] == "Unread"
    assert by_id[delete_target]["availability"] == "Purged"
    now = sim.clock.now()
    created_since = sim.account.messages(ext, now - timedelta(hours=6), now, ("Alive", "Deleted", "Purged"))
    settled = [m for m in created_since if parse(m["lastModifiedTime"]) <= now]
    assert {m["id"] for m in settled} <= set(by_id)
    modified = [parse(m["lastModifiedTime"]) for m in changes.json()["records"]]
    assert modified == sorted(modified, reverse=True)
    groups = {e.group for e in sim.request_log if e.operation == "syncMessages"}
    assert groups == {"Light"}


def test_message_sync_reports_user_purges_and_refuses_stale_tokens(
    make_simulator, api_client, openapi_validate
):
    sim = make_simulator(
        throttling=False, days=1, messages_per_day=8, user_purge_share=0.5, user_purge_within_hours=2
    )
    client = api_client(sim)
    ext = busiest_mailbox(sim)
    path = message_sync_path(ext)
    token = client.get(path).json()["syncInfo"]["syncToken"]
    sim.advance(hours=12)
    changes = client.get(path, params={"syncType": "ISync", "syncToken": token}).json()["records"]
    purged = [m for m in changes if m["availability"] == "Purged"]
    assert purged
    for m in purged:
        assert sim.account.message_deletion(m["id"]).rule == "user_purge"
    other = message_sync_path(next(e.id for e in sim.account.extension_objects if e.id != ext))
    wrong_box = client.get(other, params={"syncType": "ISync", "syncToken": token})
    assert wrong_box.status_code == 400 and wrong_box.json()["errorCode"] == "MSG-333"
    openapi_validate(wrong_box, "InvalidRequest")
    garbage = client.get(path, params={"syncType": "ISync", "syncToken": "garbage"})
    assert garbage.json()["errorCode"] == "MSG-333"
    assert client.get(path, params={"syncType": "ISync"}).status_code == 400
    sim.advance(days=8)
    stale = client.get(path, params={"syncType": "ISync", "syncToken": token})
    assert stale.status_code == 400 and stale.json()["errorCode"] == "MSG-333"

"""The official RingCentral Python SDK (`ringcentral` on PyPI, 0.9.x) drives the simulator as a third-party
client would: if the SDK cannot talk to the simulator, the simulator is not RingCentral enough.

The SDK is given http://127.0.0.1:<port> as its server: it prefixes relative paths with it (and with
/restapi/v1.0 unless the path already starts with /restapi), posts the token grants form-encoded with
HTTP Basic client auth to <server>/restapi/oauth/token, and follows absolute URIs (the media host's
contentUri, archive uris) as given, with its bearer header. It does not URL-encode query values, so
dates are written with a Z (a "+00:00" would arrive as a space, at RingCentral too).
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

ringcentral = pytest.importorskip(
    "ringcentral", reason="the official RingCentral SDK is not installed (pip install -e '.[dev]')"
)
from ringcentral.http.api_exception import ApiException  # noqa: E402

from rc_pipeline.simulator.config import ALL_APP_PERMISSIONS  # noqa: E402

ACC = "/restapi/v1.0/account/~"


def z(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def midnight(days_ago: int = 0) -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # The SDK uses requests, which honours *_PROXY variables: keep loopback direct.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def logged_in(sim):
    sdk = ringcentral.SDK(sim.client_id, sim.client_secret, sim.base_url)
    platform = sdk.platform()
    token = platform.login(jwt=sim.jwt).json_dict()
    assert token["token_type"] == "bearer" and token["access_token"]
    assert platform.logged_in()
    return platform


def status_of(exc: ApiException) -> int:
    return exc.api_response().response().status_code


def error_of(exc: ApiException) -> dict:
    return exc.api_response().response().json()


def test_the_official_sdk_archives_and_controls_the_simulated_account(make_simulator):
    sim = make_simulator(
        throttling=False, extensions=6, calls_per_day=40, messages_per_day=6, export_task_seconds=0.3
    )
    platform = logged_in(sim)
    assert ringcentral.__name__ == "ringcentral"

    # Extensions.
    extensions = platform.get(f"{ACC}/extension", {"perPage": 1000}).json_dict()["records"]
    assert [e["id"] for e in extensions] == [e.id for e in sim.account.extension_objects]

    # A call-log page: Detailed, explicit window, perPage 1000.
    start, end = midnight(1), midnight(0)
    page = platform.get(
        f"{ACC}/call-log", {"view": "Detailed", "dateFrom": z(start), "dateTo": z(end), "perPage": 1000}
    ).json_dict()
    assert [r["id"] for r in page["records"]] == [r["id"] for r in sim.account.call_records(start, end)]
    assert page["paging"]["perPage"] == 1000 and "nextPage" not in page["navigation"]
    assert all("legs" in r for r in page["records"])

    # A recording's content, from the media host (the SDK follows the absolute contentUri).
    recording = next(r["recording"] for r in page["records"] if r.get("recording"))
    assert recording["contentUri"].startswith(sim.media_url)
    audio = platform.get(recording["contentUri"])
    assert audio.response().headers["content-type"].startswith("audio/")
    assert audio.body() == sim.account.recording_content(recording["id"])[0]

    # A mailbox's messages.
    window = {"dateFrom": z(midnight(3)), "dateTo": z(datetime.now(UTC)), "perPage": 1000}
    boxes = {}
    for ext in extensions:
        path = f"{ACC}/extension/{ext['id']}/message-store"
        boxes[ext["id"]] = platform.get(path, window).json_dict()["records"]
    mailbox, other = [ext_id for ext_id, records in boxes.items() if len(records) >= 3][:2]
    messages = boxes[mailbox]
    truth = sim.account.messages(mailbox, midnight(3), datetime.now(UTC))
    assert [m["id"] for m in messages] == [m["id"] for m in truth]

    # A bulk read: 207 multipart/mixed, which the SDK splits into one response per id.
    ids = [str(m["id"]) for m in messages[:2]]
    bulk = platform.get(f"{ACC}/extension/{mailbox}/message-store/{','.join(ids)},1").multipart()
    assert [p.response().status_code for p in bulk] == [200, 200, 404]
    assert [str(p.json_dict()["id"]) for p in bulk[:2]] == ids

    # A message-store export: start, poll until Completed, list the archives, read the first.
    task = platform.post(
        f"{ACC}/message-store-report", {"dateFrom": z(midnight(2)), "dateTo": z(midnight(0))}
    )
    assert task.response().status_code == 202
    task_id = task.json_dict()["id"]
    deadline = time.monotonic() + 30
    while (
        status := platform.get(f"{ACC}/message-store-report/{task_id}").json_dict()["status"]
    ) != "Completed":
        assert status in ("Accepted", "Pending", "InProgress") and time.monotonic() < deadline, status
        time.sleep(0.2)
    archives = platform.get(f"{ACC}/message-store-report/{task_id}/archive").json_dict()["records"]
    assert archives and all(a["size"] > 0 for a in archives)
    first = platform.get(archives[0]["uri"]).body()
    assert len(first) == archives[0]["size"]
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert any(n.endswith("/message-store.json") for n in names)

    # The refresh grant (the SDK renews this way when the access token nears expiry).
    platform.refresh()
    assert platform.get(f"{ACC}/service-info").json_dict()["serviceFeatures"]

    # ---- control ----
    config = f"{ACC}/message-store-configuration"
    assert platform.get(config).json_dict() == {"retentionPeriod": 90}
    assert platform.put(config, {"retentionPeriod": 30}).json_dict() == {"retentionPeriod": 30}
    assert platform.get(config).json_dict() == {"retentionPeriod": 30}
    with pytest.raises(ApiException) as refused:
        platform.put(config, {"retentionPeriod": 120})
    assert status_of(refused.value) == 400
    assert error_of(refused.value)["errors"][0]["parameterName"] == "retentionPeriod"

    store = f"{ACC}/extension/{mailbox}/message-store"
    mid = str(messages[0]["id"])
    assert platform.put(f"{store}/{mid}", {"readStatus": "Read"}).json_dict()["readStatus"] == "Read"
    unread = platform.put(f"{store}/{mid}", {"readStatus": "Unread"}).json_dict()
    assert unread["readStatus"] == "Unread" and unread["lastModifiedTime"] > messages[0]["lastModifiedTime"]

    assert platform.delete(f"{store}/{mid}").response().status_code == 204
    assert platform.get(f"{store}/{mid}").json_dict()["availability"] == "Deleted"
    assert platform.patch(f"{store}/{mid}", {"availability": "Alive"}).json_dict()["availability"] == "Alive"
    assert platform.delete(f"{store}/{mid}", query_params={"purge": "true"}).response().status_code == 204
    assert platform.get(f"{store}/{mid}").json_dict()["availability"] == "Purged"

    # A bulk delete with an unknown id: 207, the known ones deleted all the same.
    partial = platform.delete(f"{store}/{messages[1]['id']},1,{messages[2]['id']}")
    assert [p.response().status_code for p in partial.multipart()] == [204, 404, 204]
    assert platform.get(f"{store}/{messages[2]['id']}").json_dict()["availability"] == "Deleted"

    deleted = platform.delete(f"{ACC}/call-recordings", {"records": [recording["id"]]})
    assert deleted.response().status_code == 204
    with pytest.raises(ApiException) as gone:
        platform.get(recording["contentUri"])
    assert status_of(gone.value) == 404 and error_of(gone.value)["errorCode"] == "CMN-102"

    # Delete by filter on one mailbox: everything of that mailbox up to now; the others untouched.
    kept = platform.get(f"{ACC}/extension/{mailbox}/message-store", window).json_dict()["records"]
    filtered = platform.delete(
        f"{ACC}/extension/{other}/message-store", query_params={"dateTo": z(datetime.now(UTC))}
    )
    assert filtered.response().status_code == 204
    assert platform.get(f"{ACC}/extension/{other}/message-store", window).json_dict()["records"] == []
    assert platform.get(f"{ACC}/extension/{mailbox}/message-store", window).json_dict()["records"] == kept
    assert len(sim.request_log.filter_deletes()) == 1 and sim.request_log.empty_id_deletes() == []

    platform.logout()
    assert not platform.auth().access_token()


def test_an_app_without_edit_messages_gets_403_naming_it(make_simulator):
    sim = make_simulator(throttling=False, app_permissions=ALL_APP_PERMISSIONS - {"EditMessages"})
    platform = logged_in(sim)
    mid = sim.account.messages(sim.account.owner.id, midnight(3), datetime.now(UTC))[0]["id"]
    store = f"{ACC}/extension/~/message-store"
    for call in (
        lambda: platform.put(f"{store}/{mid}", {"readStatus": "Read"}),
        lambda: platform.delete(f"{store}/{mid}"),
        lambda: platform.patch(f"{store}/{mid}", {"availability": "Alive"}),
    ):
        with pytest.raises(ApiException) as denied:
            call()
        assert status_of(denied.value) == 403
        body = error_of(denied.value)
        assert body["errorCode"] == "InsufficientPermissions"
        assert body["errors"][0]["permissionName"] == "EditMessages"
        assert "[EditMessages]" in str(denied.value), "the SDK's message carries RingCentral's answer"
    assert platform.get(f"{store}/{mid}").json_dict()["availability"] == "Alive"


def test_the_official_sdk_follows_changes_and_active_calls(make_simulator):
    sim = make_simulator(throttling=False, extensions=6, days=1, calls_per_day=3000, messages_per_day=6)
    platform = logged_in(sim)
    extract = f"{ACC}/call-log-extract-sync"

    # Extract-sync: FSync over the last two hours by modification time, then ISync while newer exist.
    since = sim.clock.now() - timedelta(hours=2)
    body = platform.get(extract, {"dateFrom": z(since), "recordCount": 50, "view": "Detailed"}).json_dict()
    assert len(body["records"]) >= 50 and body["syncInfo"]["newerRecordsExist"] is True
    records = list(body["records"])
    while body["syncInfo"]["newerRecordsExist"]:
        token = body["syncInfo"]["syncToken"]
        body = platform.get(
            extract, {"syncType": "ISync", "syncToken": token, "view": "Detailed"}
        ).json_dict()
        records += body["records"]
    modified = [r["lastModifiedTime"] for r in records]
    assert modified == sorted(modified) and len({r["id"] for r in records}) == len(records)
    sim.advance(minutes=30)
    token = body["syncInfo"]["syncToken"]
    changes = platform.get(extract, {"syncType": "ISync", "syncToken": token, "view": "Detailed"}).json_dict()
    assert changes["records"] and min(r["lastModifiedTime"] for r in changes["records"]) > modified[-1]
    with pytest.raises(ApiException) as refused:
        platform.get(extract, {"syncType": "ISync", "syncToken": "forged"})
    assert status_of(refused.value) == 400 and error_of(refused.value)["errorCode"] == "CLG-101"

    # Message-sync: FSync of a mailbox, a read-status change, then ISync reports it.
    owner = sim.account.owner.id
    sync = f"{ACC}/extension/{owner}/message-sync"
    full = platform.get(sync, {"dateFrom": z(sim.clock.now() - timedelta(days=1))}).json_dict()
    assert full["syncInfo"]["syncType"] == "FSync" and full["records"]
    target = full["records"][0]
    flipped = "Unread" if target["readStatus"] == "Read" else "Read"
    platform.put(f"{ACC}/extension/{owner}/message-store/{target['id']}", {"readStatus": flipped})
    token = full["syncInfo"]["syncToken"]
    incremental = platform.get(sync, {"syncType": "ISync", "syncToken": token}).json_dict()
    assert {m["id"]: m["readStatus"] for m in incremental["records"]}[target["id"]] == flipped
    with pytest.raises(ApiException) as stale:
        platform.get(sync, {"syncType": "ISync", "syncToken": "stale"})
    assert status_of(stale.value) == 400 and error_of(stale.value)["errorCode"] == "MSG-333"

    # Active calls: the calls in progress right now (compared with the truth before and after).
    calls = sim.account.calls

    def in_progress() -> set[str]:
        return {calls.call_id(sk.day, i) for sk, i in calls.iter_active(sim.clock.now_ms())}

    before = in_progress()
    active = platform.get(f"{ACC}/active-calls", {"perPage": 1000}).json_dict()
    after = in_progress()
    got = {r["id"] for r in active["records"]}
    assert before & after <= got <= before | after
    assert got and all(r["result"] == "In Progress" for r in active["records"])

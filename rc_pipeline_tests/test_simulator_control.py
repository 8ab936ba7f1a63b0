"""The simulator's control endpoints behave like RingCentral: message delete/purge/restore/read status,
delete by filter, recording deletion, retention settings, HIPAA flag, permissions, and the test helpers
(Account.reset_changes, RequestLog queries). Spec: ../shared/ringcentral/rc-public-openapi.yml; API-NOTES
§6, §8, §11.
"""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rc_pipeline.simulator.requestlog import CALL_RECORDINGS, MESSAGE_STORE, MESSAGES_BY_ID

ACC = "/restapi/v1.0/account/~"
EXT = ACC + "/extension/~"
VND = "application/vnd.ringcentral.multipart+json"
UNKNOWN = "1"  # decodes to a day long before the account's history: no such message


def midnight(days_ago: int = 0) -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


@pytest.fixture
def sim(make_simulator):
    return make_simulator(throttling=False, messages_per_day=8, calls_per_day=60)


@pytest.fixture
def client(sim, api_client):
    return api_client(sim)


@pytest.fixture(scope="module")
def schema_validate(openapi_spec):
    """schema_validate(instance, "SchemaName"): check a value against components/schemas/SchemaName."""
    from openapi_schema_validator import OAS30Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resource("urn:rc-spec", Resource.from_contents(openapi_spec, DRAFT4))

    def validate(instance: object, schema: str) -> None:
        OAS30Validator({"$ref": f"urn:rc-spec#/components/schemas/{schema}"}, registry=registry).validate(
            instance
        )

    return validate


@pytest.fixture(scope="module")
def request_validate(openapi_spec):
    """request_validate(httpx.Request): the request is valid for its operation per the spec."""
    from jsonschema_path import SchemaPath
    from openapi_core import Config, OpenAPI
    from openapi_core.testing import MockRequest

    api = OpenAPI(SchemaPath.from_dict(openapi_spec), config=Config(spec_validator_cls=None))
    platform = next(s["url"] for s in openapi_spec["servers"] if "media" not in s["url"])

    def validate(request: httpx.Request) -> None:
        mock = MockRequest(
            platform,
            request.method.lower(),
            request.url.path,
            args=list(request.url.params.multi_items()),
            headers=dict(request.headers),
            data=request.content or None,
            content_type=request.headers.get("content-type", "").split(";")[0] or None,
        )
        api.validate_request(mock)

    return validate


def alive_ids(client: httpx.Client, count: int, message_type: str | None = None) -> list[str]:
    params = {"dateFrom": midnight(3).isoformat(), "perPage": 1000}
    if message_type:
        params["messageType"] = message_type
    records = client.get(f"{EXT}/message-store", params=params).json()["records"]
    assert len(records) >= count, "the owner's mailbox is too small for this test"
    return [str(m["id"]) for m in records[:count]]


def message(client: httpx.Client, mid: str) -> dict:
    response = client.get(f"{EXT}/message-store/{mid}")
    assert response.status_code == 200, response.text
    return response.json()


def modified(msg: dict) -> datetime:
    return datetime.fromisoformat(msg["lastModifiedTime"].replace("Z", "+00:00"))


def parts(response: httpx.Response) -> list[tuple[int, dict | None]]:
    """(status, body) per id of a 207 multipart/mixed answer (the first part lists the statuses)."""
    assert response.status_code == 207, response.text
    assert response.headers["content-type"].startswith("multipart/mixed")
    raw = b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content
    head, *bodies = [p.get_payload(decode=True) for p in email.message_from_bytes(raw).get_payload()]
    statuses = [s["status"] for s in json.loads(head)["response"]]
    assert len(statuses) == len(bodies)
    return [(s, json.loads(b) if b.strip() else None) for s, b in zip(statuses, bodies, strict=True)]


def delete(client: httpx.Client, path: str, body: object = None, **params: str) -> httpx.Response:
    content = None if body is None else json.dumps(body)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return client.request("DELETE", path, params=params, content=content, headers=headers)


# ---- DELETE .../message-store/{ids} -----------------------------------------------------------


def test_delete_moves_alive_to_deleted_to_purged_then_404(client, openapi_validate):
    first, second = alive_ids(client, 2)
    before = message(client, first)
    response = delete(client, f"{EXT}/message-store/{first}")
    assert response.status_code == 204 and response.content == b""
    openapi_validate(response)
    deleted = client.get(f"{EXT}/message-store/{first}")
    openapi_validate(deleted)
    assert deleted.json()["availability"] == "Deleted"
    assert modified(deleted.json()) > modified(before)
    assert delete(client, f"{EXT}/message-store/{first}").status_code == 204
    purged = message(client, first)
    assert purged["availability"] == "Purged" and modified(purged) > modified(deleted.json())
    assert client.get(purged["attachments"][0]["uri"]).status_code == 404, "purged: attachments are gone"
    again = delete(client, f"{EXT}/message-store/{first}")
    assert again.status_code == 404 and again.json()["errors"][0]["parameterName"] == "messageId"
    openapi_validate(again, component="NotFound")
    # purge=true skips the trash.
    assert delete(client, f"{EXT}/message-store/{second}", purge="true").status_code == 204
    assert message(client, second)["availability"] == "Purged"
    unknown = delete(client, f"{EXT}/message-store/{UNKNOWN}")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "CMN-102"
    bad = delete(client, f"{EXT}/message-store/{second}", purge="yes")
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameterName"] == "purge"


def test_bulk_delete_is_204_when_every_id_was_deleted(client):
    ids = alive_ids(client, 3)
    response = delete(client, f"{EXT}/message-store/{','.join(ids)}")
    assert response.status_code == 204
    assert {message(client, i)["availability"] for i in ids} == {"Deleted"}


def test_bulk_delete_with_a_failure_is_207_per_id_and_the_others_are_deleted(client, schema_validate):
    a, b, purged, c, d = alive_ids(client, 5)
    delete(client, f"{EXT}/message-store/{purged}", purge="true")
    response = delete(client, f"{EXT}/message-store/{a},{purged},{UNKNOWN},{b}")
    got = parts(response)
    assert [s for s, _ in got] == [204, 404, 404, 204]
    assert got[0][1] is None and got[1][1]["errors"][0]["parameterValue"] == purged
    assert got[2][1]["errorCode"] == "CMN-102"
    assert message(client, a)["availability"] == message(client, b)["availability"] == "Deleted"
    # RingCentral's JSON multipart, when asked for.
    vnd = client.request(
        "DELETE", f"{EXT}/message-store/{c},{UNKNOWN},{d}", headers={"Accept": VND}, params={"purge": "true"}
    )
    assert vnd.status_code == 207 and vnd.headers["content-type"].startswith(VND)
    entries = vnd.json()
    for entry in entries:
        schema_validate(entry, "MultipartResponseEntryBase")
    assert [(e["resourceId"], e["status"]) for e in entries] == [(c, 204), (UNKNOWN, 404), (d, 204)]
    assert message(client, c)["availability"] == message(client, d)["availability"] == "Purged"


def test_more_than_50_ids_is_cmn_106_and_deletes_nothing(client):
    ids = alive_ids(client, 1) * 51
    response = delete(client, f"{EXT}/message-store/{','.join(ids)}")
    assert response.status_code == 400 and response.json()["errorCode"] == "CMN-106"
    assert response.json()["errors"][0]["parameterName"] == "messageId"
    star = delete(client, f"{EXT}/message-store/*", [str(n) for n in range(101)])
    assert star.status_code == 400 and star.json()["errorCode"] == "CMN-106"
    assert message(client, ids[0])["availability"] == "Alive"


def test_star_syntax_takes_the_ids_from_the_body(sim, client, request_validate):
    a, b, c = alive_ids(client, 3)
    response = delete(client, f"{EXT}/message-store/*", [a, b])
    request_validate(response.request)
    assert response.status_code == 204
    assert message(client, a)["availability"] == message(client, b)["availability"] == "Deleted"
    partial = delete(client, f"{EXT}/message-store/*", [c, UNKNOWN], purge="true")
    assert [s for s, _ in parts(partial)] == [204, 404]
    assert message(client, c)["availability"] == "Purged"
    logged = [e for e in sim.request_log.entries("DELETE", MESSAGES_BY_ID) if e.status in (204, 207)]
    assert [e.ids for e in logged] == [(a, b), (c, UNKNOWN)]


def test_a_delete_without_ids_deletes_the_whole_mailbox_and_is_logged(sim, client):
    assert sim.request_log.empty_id_deletes() == []
    alive = alive_ids(client, 3)
    refused = delete(client, f"{EXT}/message-store/,")
    assert refused.status_code == 400
    assert message(client, alive[0])["availability"] == "Alive"
    # RingCentral: "If you call this method without specifying any message IDs in the request,
    # all your messages will be deleted/purged entirely."
    assert delete(client, f"{EXT}/message-store/*").status_code == 204
    left = client.get(f"{EXT}/message-store", params={"dateFrom": midnight(3).isoformat()}).json()["records"]
    assert left == [] and message(client, alive[0])["availability"] == "Deleted"
    assert delete(client, f"{EXT}/message-store/*", []).status_code == 204
    assert message(client, alive[0])["availability"] == "Purged", "the second id-less delete purges"
    # A trailing slash is an empty id segment: the delete-by-filter operation, everything up to now.
    assert delete(client, f"{EXT}/message-store/").status_code == 204
    empty = sim.request_log.empty_id_deletes()
    assert [e.path.rsplit("/", 1)[-1] for e in empty] == [",", "*", "*", ""]
    assert len(sim.request_log.filter_deletes()) == 1


# ---- DELETE .../message-store (by filter) ------------------------------------------------------


def test_delete_by_filter_works_as_ringcentral_and_is_counted(sim, client):
    sms = client.get(
        f"{EXT}/message-store", params={"dateFrom": midnight(3).isoformat(), "messageType": "SMS"}
    ).json()["records"]
    conv = sms[0]["conversation"]["id"]
    in_conv = [str(m["id"]) for m in sms if m["conversation"]["id"] == conv]
    others = [str(m["id"]) for m in sms if m["conversation"]["id"] != conv]
    assert sim.request_log.count("DELETE", MESSAGE_STORE) == 0
    assert delete(client, f"{EXT}/message-store", conversationId=conv).status_code == 204
    assert {message(client, i)["availability"] for i in in_conv} == {"Deleted"}
    assert all(message(client, i)["availability"] == "Alive" for i in others)
    # By type and date: only older messages of that type; purge goes straight to Purged.
    cutoff = midnight(1)
    assert (
        delete(
            client, f"{EXT}/message-store", type="SMS", dateTo=cutoff.isoformat(), purge="true"
        ).status_code
        == 204
    )
    for m in sms:
        now = message(client, str(m["id"]))
        created = datetime.fromisoformat(m["creationTime"].replace("Z", "+00:00"))
        if created < cutoff:
            assert now["availability"] == "Purged"
        elif str(m["id"]) not in in_conv:
            assert now["availability"] == "Alive"
    too_many = client.request(
        "DELETE", f"{EXT}/message-store", params=[("conversationId", str(n)) for n in range(51)]
    )
    assert too_many.status_code == 400 and too_many.json()["errorCode"] == "CMN-106"
    bad = delete(client, f"{EXT}/message-store", type="Email")
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameterName"] == "type"
    assert sim.request_log.count("DELETE", MESSAGE_STORE) == 4
    assert len(sim.request_log.filter_deletes()) == 4
    assert sim.request_log.empty_id_deletes() == [], "a filter delete is not an id delete"


# ---- PATCH / PUT .../message-store/{ids} -------------------------------------------------------


def test_patch_alive_restores_deleted_but_not_purged(client, openapi_validate, request_validate):
    a, b = alive_ids(client, 2)
    delete(client, f"{EXT}/message-store/{a}")
    deleted = message(client, a)
    restored = client.patch(f"{EXT}/message-store/{a}", json={"availability": "Alive"})
    request_validate(restored.request)
    assert restored.status_code == 200, restored.text
    openapi_validate(restored)
    assert restored.json()["availability"] == "Alive" and modified(restored.json()) > modified(deleted)
    assert message(client, a)["availability"] == "Alive"
    delete(client, f"{EXT}/message-store/{b}", purge="true")
    refused = client.patch(f"{EXT}/message-store/{b}", json={"availability": "Alive"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["parameterName"] == "availability"
    assert message(client, b)["availability"] == "Purged"
    wrong = client.patch(f"{EXT}/message-store/{a}", json={"availability": "Deleted"})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["parameterName"] == "availability"
    empty = client.patch(f"{EXT}/message-store/{a}", json={})
    assert empty.status_code == 400
    missing = client.patch(f"{EXT}/message-store/{UNKNOWN}", json={"availability": "Alive"})
    assert missing.status_code == 404


def test_bulk_patch_is_207_with_a_status_per_id(client, schema_validate):
    deleted, purged, alive = alive_ids(client, 3)
    delete(client, f"{EXT}/message-store/{deleted}")
    delete(client, f"{EXT}/message-store/{purged}", purge="true")
    ids = [deleted, purged, UNKNOWN, alive]
    body = [{"body": {"availability": "Alive"}} for _ in ids]
    schema_validate(body, "PatchMessageBulkRequest")  # openapi-core cannot parse this media type
    response = client.patch(
        f"{EXT}/message-store/{','.join(ids)}", content=json.dumps(body), headers={"Content-Type": VND}
    )
    assert response.status_code == 207 and response.headers["content-type"].startswith(VND)
    schema_validate(response.json(), "GetMessageMultiResponse")  # the spec's 207 for patchMessage
    assert [(e["resourceId"], e["status"]) for e in response.json()] == [
        (deleted, 200),
        (purged, 400),
        (UNKNOWN, 404),
        (alive, 200),
    ]
    assert message(client, deleted)["availability"] == "Alive"
    assert message(client, purged)["availability"] == "Purged"


def test_put_read_status_single_and_every_bulk_syntax(
    client, openapi_validate, request_validate, schema_validate
):
    a, b, c = alive_ids(client, 3)
    before = message(client, a)
    single = client.put(f"{EXT}/message-store/{a}", json={"readStatus": "Unread"})
    request_validate(single.request)
    assert single.status_code == 200
    openapi_validate(single)
    assert single.json()["readStatus"] == "Unread" and modified(single.json()) > modified(before)
    again = client.put(f"{EXT}/message-store/{a}", json={"readStatus": "Read"})
    assert again.json()["readStatus"] == "Read" and modified(again.json()) > modified(single.json())
    # Traditional bulk syntax, JSON multipart: one {body} per id in the path.
    body = [{"body": {"readStatus": "Unread"}}, {"resourceId": b, "body": {"readStatus": "Unread"}}]
    schema_validate(body, "UpdateMessageBulkRequest")
    vnd = client.put(f"{EXT}/message-store/{a},{b}", content=json.dumps(body), headers={"Content-Type": VND})
    schema_validate(vnd.json(), "GetMessageMultiResponse")
    assert [(e["resourceId"], e["status"], e["body"]["readStatus"]) for e in vnd.json()] == [
        (a, 200, "Unread"),
        (b, 200, "Unread"),
    ]
    # Traditional bulk syntax, multipart/mixed: one JSON part per id; the answer is multipart/mixed.
    boundary = "Boundary_rcsim_test"
    raw = "".join(
        f'--{boundary}\r\nContent-Type: application/json\r\n\r\n{{"readStatus": "Read"}}\r\n'
        for _ in range(3)
    )
    mixed = client.put(
        f"{EXT}/message-store/{a},{UNKNOWN},{c}",
        content=(raw + f"--{boundary}--\r\n").encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )
    got = parts(mixed)
    assert [s for s, _ in got] == [200, 404, 200] and got[0][1]["readStatus"] == "Read"
    # Alternative bulk syntax: "*" and a resourceId per entry.
    star_body = [{"resourceId": i, "body": {"readStatus": "Unread"}} for i in (b, c)]
    schema_validate(star_body, "UpdateMessageBulkRequest")
    star = client.put(f"{EXT}/message-store/*", content=json.dumps(star_body), headers={"Content-Type": VND})
    assert [(e["resourceId"], e["status"]) for e in star.json()] == [(b, 200), (c, 200)]
    assert message(client, c)["readStatus"] == "Unread"


def test_put_refuses_what_ringcentral_refuses(client):
    a, b = alive_ids(client, 2)
    before = message(client, a)
    invalid = client.put(f"{EXT}/message-store/{a}", json={"readStatus": "Seen"})
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["parameterName"] == "readStatus"
    no_read = client.put(f"{EXT}/message-store/{a}", json={"availability": "Alive"})
    assert no_read.status_code == 400 and no_read.json()["errors"][0]["parameterName"] == "readStatus"
    # Several ids need a bulk body: neither one JSON object nor a JSON array under application/json.
    one_object = client.put(f"{EXT}/message-store/{a},{b}", json={"readStatus": "Read"})
    assert one_object.status_code == 400 and one_object.json()["errors"][0]["parameterName"] == "body"
    array = client.put(
        f"{EXT}/message-store/{a},{b}",
        json=[{"resourceId": i, "body": {"readStatus": "Read"}} for i in (a, b)],
    )
    assert array.status_code == 400
    count = client.put(
        f"{EXT}/message-store/{a},{b}",
        content=json.dumps([{"body": {"readStatus": "Read"}}]),
        headers={"Content-Type": VND},
    )
    assert count.status_code == 400
    star_without_ids = client.put(
        f"{EXT}/message-store/*",
        content=json.dumps([{"body": {"readStatus": "Read"}}]),
        headers={"Content-Type": VND},
    )
    assert star_without_ids.status_code == 400
    assert star_without_ids.json()["errors"][0]["parameterName"] == "resourceId"
    assert message(client, a) == before, "a refused request changes nothing"
    many = client.put(
        f"{EXT}/message-store/{','.join([a] * 51)}",
        content=json.dumps([{"body": {"readStatus": "Read"}}] * 51),
        headers={"Content-Type": VND},
    )
    assert many.status_code == 400 and many.json()["errorCode"] == "CMN-106"


# ---- DELETE /call-recordings ------------------------------------------------------------------


def recordings(sim, count: int) -> list[dict]:
    """Call records (yesterday) that carry a recording, one per recording."""
    records = [r for r in sim.account.call_records(midnight(1), midnight(0)) if r.get("recording")]
    assert len(records) >= count
    return records[:count]


def test_recording_delete_removes_the_audio_and_keeps_the_call_record(sim, client, request_validate):
    call, other = recordings(sim, 2)
    rid = call["recording"]["id"]
    assert client.get(call["recording"]["contentUri"]).status_code == 200
    response = client.request("DELETE", f"{ACC}/call-recordings", json={"records": [rid]})
    request_validate(response.request)
    assert response.status_code == 204
    content = client.get(call["recording"]["contentUri"])
    assert content.status_code == 404 and content.json()["errorCode"] == "CMN-102"
    assert client.get(f"{ACC}/recording/{rid}").status_code == 404
    # The call-log record stays, with its recording reference.
    kept = client.get(f"{ACC}/call-log/{call['id']}", params={"view": "Detailed"})
    assert kept.status_code == 200 and kept.json()["recording"]["id"] == rid
    listed = client.get(
        f"{ACC}/call-log",
        params={"dateFrom": midnight(1).isoformat(), "dateTo": midnight(0).isoformat(), "perPage": 1000},
    ).json()["records"]
    assert next(r for r in listed if r["id"] == call["id"])["recording"]["id"] == rid
    # Unknown (or already deleted) ids: all-or-nothing 404 naming them; the known one stays.
    mixed = client.request(
        "DELETE", f"{ACC}/call-recordings", json={"records": [other["recording"]["id"], rid, "777"]}
    )
    assert mixed.status_code == 404
    assert mixed.json()["errors"][0]["parameterValue"] == f"{rid},777"
    assert client.get(other["recording"]["contentUri"]).status_code == 200
    assert [e.ids for e in sim.request_log.entries("DELETE", CALL_RECORDINGS)] == [
        (rid,),
        (other["recording"]["id"], rid, "777"),
    ]


def test_recording_delete_takes_1_to_100_ids(sim, client):
    for body in ({"records": []}, {"records": [str(n) for n in range(101)]}, {"records": [5]}, {}, []):
        response = client.request("DELETE", f"{ACC}/call-recordings", json=body)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["parameterName"] == "records"
    assert [e.ids for e in sim.request_log.empty_id_deletes()] == [()], "only the [] body carried no ids"


# ---- retention, HIPAA --------------------------------------------------------------------------


def test_retention_period_is_7_to_90_days(sim, client, openapi_validate, request_validate):
    current = client.get(f"{ACC}/message-store-configuration")
    openapi_validate(current)
    assert current.json() == {"retentionPeriod": sim.config.retention_period}
    for days in (7, 90, 30):
        response = client.put(f"{ACC}/message-store-configuration", json={"retentionPeriod": days})
        request_validate(response.request)
        openapi_validate(response)
        assert response.json() == {"retentionPeriod": days}
    for bad in (
        {"retentionPeriod": 6},
        {"retentionPeriod": 91},
        {"retentionPeriod": "30"},
        {"retentionPeriod": True},
        {},
    ):
        response = client.put(f"{ACC}/message-store-configuration", json=bad)
        assert response.status_code == 400, bad
        openapi_validate(response, component="InvalidRequest")
        assert response.json()["errors"][0]["parameterName"] == "retentionPeriod"
    assert client.get(f"{ACC}/message-store-configuration").json() == {"retentionPeriod": 30}


@pytest.mark.parametrize("hipaa", [False, True])
def test_service_info_exposes_hipaa(make_simulator, api_client, openapi_validate, hipaa):
    sim = make_simulator(hipaa=hipaa)
    response = api_client(sim).get(f"{ACC}/service-info")
    openapi_validate(response)
    features = [f for f in response.json()["serviceFeatures"] if f["featureName"] == "HipaaCompliance"]
    assert features == [{"featureName": "HipaaCompliance", "enabled": hipaa}]


# ---- permissions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missing", "requests"),
    [
        (
            "EditMessages",
            [
                ("DELETE", "{EXT}/message-store/{mid}", None),
                ("DELETE", "{EXT}/message-store", None),
                ("PUT", "{EXT}/message-store/{mid}", {"readStatus": "Unread"}),
                ("PATCH", "{EXT}/message-store/{mid}", {"availability": "Alive"}),
            ],
        ),
        ("EditCallLog", [("DELETE", "{ACC}/call-recordings", {"records": ["{rid}"]})]),
        (
            "EditAccounts",
            [
                ("GET", "{ACC}/message-store-configuration", None),
                ("PUT", "{ACC}/message-store-configuration", {"retentionPeriod": 30}),
            ],
        ),
    ],
)
def test_an_app_without_the_permission_gets_403_naming_it(
    make_simulator, api_client, openapi_validate, missing, requests
):
    from rc_pipeline.simulator.config import ALL_APP_PERMISSIONS

    sim = make_simulator(throttling=False, app_permissions=ALL_APP_PERMISSIONS - {missing})
    client = api_client(sim)
    mid = alive_ids(client, 1)[0]
    rid = recordings(sim, 1)[0]["recording"]["id"]
    for method, template, body in requests:
        path = template.format(EXT=EXT, ACC=ACC, mid=mid)
        payload = json.loads(json.dumps(body).replace("{rid}", rid)) if body is not None else None
        response = client.request(method, path, json=payload)
        assert response.status_code == 403, (method, path, response.text)
        openapi_validate(response, component="Forbidden")
        error = response.json()
        assert error["errorCode"] == "InsufficientPermissions"
        assert error["errors"][0]["errorCode"] == "CMN-401"
        assert error["errors"][0]["permissionName"] == missing
        assert f"[{missing}]" in error["message"]
    # Nothing changed.
    assert message(client, mid)["availability"] == "Alive"
    assert client.get(recordings(sim, 1)[0]["recording"]["contentUri"]).status_code == 200
    assert sim.account.retention_period == sim.config.retention_period


# ---- test helpers -----------------------------------------------------------------------------


def test_reset_changes_forgets_every_api_change(sim, client):
    params = {"dateFrom": midnight(3).isoformat(), "availability": ["Alive", "Deleted", "Purged"]}
    pristine = client.get(f"{EXT}/message-store", params=params).json()["records"]
    a, b, c = alive_ids(client, 3)
    delete(client, f"{EXT}/message-store/{a}")
    delete(client, f"{EXT}/message-store/{b}", purge="true")
    client.put(
        f"{EXT}/message-store/{c}",
        json={"readStatus": "Unread" if message(client, c)["readStatus"] == "Read" else "Read"},
    )
    call = recordings(sim, 1)[0]
    client.request("DELETE", f"{ACC}/call-recordings", json={"records": [call["recording"]["id"]]})
    client.put(f"{ACC}/message-store-configuration", json={"retentionPeriod": 14})
    assert client.get(f"{EXT}/message-store", params=params).json()["records"] != pristine

    sim.account.reset_changes()
    assert client.get(f"{EXT}/message-store", params=params).json()["records"] == pristine
    assert client.get(call["recording"]["contentUri"]).status_code == 200
    assert client.get(f"{ACC}/message-store-configuration").json() == {"retentionPeriod": 90}
    # The same simulator runs a second sequence exactly like the first.
    assert delete(client, f"{EXT}/message-store/{b}").status_code == 204
    assert message(client, b)["availability"] == "Deleted"


def test_request_log_names_operations_routes_and_ids(make_simulator, api_client):
    sim = make_simulator(throttling=False, app_permissions=frozenset({"ReadMessages", "ReadAccounts"}))
    client = api_client(sim)
    a, b = alive_ids(client, 2)
    client.request("DELETE", f"{EXT}/message-store/{a},{b}")  # 403: no EditMessages
    client.request("DELETE", f"{EXT}/message-store", params={"dateTo": midnight(0).isoformat()})  # 403 too
    log = sim.request_log
    refused = log.entries("DELETE", MESSAGES_BY_ID)
    assert [(e.status, e.operation, e.ids) for e in refused] == [(403, "deleteMessage", (a, b))]
    assert log.count("DELETE", MESSAGE_STORE) == 1 and log.filter_deletes()[0].status == 403
    assert log.count("GET", MESSAGE_STORE) == 1 and log.count(operation="listMessages") == 1
    assert log.entries("GET", MESSAGE_STORE)[0].ids is None
    assert log.empty_id_deletes() == []

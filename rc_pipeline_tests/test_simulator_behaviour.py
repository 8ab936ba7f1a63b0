"""The simulator behaves like RingCentral: defaults, paging, bulk reads, media, message store, exports."""

from __future__ import annotations

import email
import hashlib
import io
import json
import time
import wave
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rc_pipeline.simulator import SimulatorConfig, start_simulator

ACC = "/restapi/v1.0/account/~"
EXT = ACC + "/extension/~"


def midnight(days_ago: int = 0) -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


@pytest.fixture
def sim(make_simulator):
    return make_simulator(throttling=False, calls_per_day=120, messages_per_day=6)


@pytest.fixture
def client(sim, api_client):
    return api_client(sim)


def follow_pages(client: httpx.Client, path: str, params: dict) -> tuple[list[dict], int]:
    """All records by following navigation.nextPage; also returns the number of pages read."""
    response = client.get(path, params=params)
    records, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        records += body["records"]
        pages += 1
        next_page = body["navigation"].get("nextPage")
        if next_page is None:
            return records, pages
        assert next_page["uri"].startswith(client.base_url.__str__().rstrip("/"))
        response = client.get(next_page["uri"])


def test_date_from_defaults_to_24_hours_before_date_to(sim, client):
    date_to = midnight(1) + timedelta(hours=13)
    records, _ = follow_pages(client, f"{ACC}/call-log", {"dateTo": date_to.isoformat(), "perPage": 1000})
    truth = sim.account.call_records(date_to - timedelta(hours=24), date_to, view="Simple")
    assert [r["id"] for r in records] == [r["id"] for r in truth]
    assert all(
        date_to - timedelta(hours=24) <= datetime.fromisoformat(r["startTime"]) < date_to for r in records
    )


def test_paging_loses_and_duplicates_nothing(sim, client):
    date_from, date_to = midnight(2), midnight(0)
    records, pages = follow_pages(
        client,
        f"{ACC}/call-log",
        {"dateFrom": date_from.isoformat(), "dateTo": date_to.isoformat(), "perPage": 25},
    )
    truth = sim.account.call_records(date_from, date_to, view="Simple")
    assert pages == len(truth) // 25 + 1
    assert [r["id"] for r in records] == [r["id"] for r in truth]
    assert len({r["id"] for r in records}) == len(records) == 240
    starts = [r["startTime"] for r in records]
    assert starts == sorted(starts, reverse=True)
    past_end = client.get(
        f"{ACC}/call-log",
        params={"dateFrom": date_from.isoformat(), "dateTo": date_to.isoformat(), "page": 99},
    ).json()
    assert past_end["records"] == [] and "nextPage" not in past_end["navigation"]


def test_per_page_is_clamped_to_1000_and_bad_values_name_the_parameter(client):
    body = client.get(f"{ACC}/call-log", params={"perPage": 5000}).json()
    assert body["paging"]["perPage"] == 1000
    assert client.get(f"{ACC}/call-log", params={"perPage": "max"}).json()["paging"]["perPage"] == 1000
    for params, name in (
        ({"page": 0}, "page"),
        ({"view": "Full"}, "view"),
        ({"dateFrom": "yesterday"}, "dateFrom"),
    ):
        response = client.get(f"{ACC}/call-log", params=params)
        assert response.status_code == 400
        assert response.json()["errorCode"] == "CMN-101"
        assert response.json()["errors"][0]["parameterName"] == name


def test_calls_appear_only_after_they_finished_plus_a_delay(sim):
    now = datetime.now(UTC)
    for record in sim.account.call_records(now - timedelta(hours=6), now):
        end = datetime.fromisoformat(record["startTime"]) + timedelta(seconds=record["duration"])
        assert end <= now - timedelta(seconds=sim.config.call_visibility_delay)


def test_detailed_records_carry_legs_and_recordings_point_to_media_host(sim):
    records = sim.account.call_records(midnight(3), midnight(0), view="Detailed")
    assert {r["type"] for r in records} == {"Voice", "Fax"}
    assert {r["direction"] for r in records} == {"Inbound", "Outbound"}
    assert {"Missed", "Voicemail", "Accepted"} <= {r["result"] for r in records}
    assert any(len(r["legs"]) > 1 for r in records), "transfers/forwarding produce extra legs"
    for r in records:
        assert sum(1 for leg in r["legs"] if leg["master"]) == 1
        if "recording" in r:
            assert r["duration"] >= 30
            assert r["recording"]["contentUri"].startswith(sim.media_url)
    assert {r["recording"]["type"] for r in records if "recording" in r} == {"Automatic", "OnDemand"}


def test_extension_level_call_log_only_has_that_extensions_calls(sim, client):
    owner = sim.account.owner
    body = client.get(f"{EXT}/call-log", params={"dateFrom": midnight(3).isoformat(), "perPage": 1000}).json()
    assert body["records"]
    assert all(r["extension"]["id"] == owner.id for r in body["records"])
    assert all(f"/extension/{owner.id}/call-log/" in r["uri"] for r in body["records"])
    assert "~" not in body["uri"]


def parse_multipart(response: httpx.Response) -> list[dict]:
    message = email.message_from_bytes(
        b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content
    )
    return [json.loads(part.get_payload()) for part in message.get_payload()]


def test_bulk_call_record_read_is_207_multipart(sim, client):
    ids = [r["id"] for r in sim.account.call_records(midnight(1), midnight(0))][:3]
    response = client.get(f"{ACC}/call-log/{','.join([*ids, 'nope'])}")
    assert response.status_code == 207
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    status, *bodies = parse_multipart(response)
    assert [s["status"] for s in status["response"]] == [200, 200, 200, 404]
    assert [b["id"] for b in bodies[:3]] == ids
    assert bodies[3]["errorCode"] == "CMN-102"
    too_many = client.get(f"{ACC}/call-log/{','.join(['x'] * 51)}")
    assert too_many.status_code == 400 and too_many.json()["errorCode"] == "CMN-106"


def recorded(sim, content_type: str | None = None) -> dict:
    for record in sim.account.call_records(midnight(3), midnight(0)):
        if "recording" in record:
            _, ctype = sim.account.recording_content(record["recording"]["id"])
            if content_type in (None, ctype):
                return record["recording"]
    raise AssertionError("no recording of that type")


def test_recording_content_is_real_audio_with_range_support(sim, client):
    wav = recorded(sim, "audio/wav")
    full = client.get(wav["contentUri"])
    assert full.status_code == 200 and full.headers["content-type"] == "audio/wav"
    assert full.headers["accept-ranges"] == "bytes"
    assert int(full.headers["content-length"]) == len(full.content)
    with wave.open(io.BytesIO(full.content)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() >= 30 * 8000
    part = client.get(wav["contentUri"], headers={"Range": "bytes=1000-"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-{len(full.content) - 1}/{len(full.content)}"
    assert part.content == full.content[1000:]
    mp3 = client.get(recorded(sim, "audio/mpeg")["contentUri"])
    assert mp3.headers["content-type"] == "audio/mpeg"
    assert mp3.content[:2] == b"\xff\xfb" and mp3.content[96:98] == b"\xff\xfb"  # MPEG-1 Layer III frames
    meta = client.get(f"{ACC}/recording/{wav['id']}").json()
    assert meta["contentUri"] == wav["contentUri"] and meta["duration"] >= 30


def test_media_is_served_only_by_the_media_host(sim, client):
    rec = recorded(sim)
    on_platform = client.get(rec["contentUri"].replace(sim.media_url, sim.base_url))
    assert on_platform.status_code == 404
    on_media_api = client.get(f"{sim.media_url}{ACC}/call-log")
    assert on_media_api.status_code == 404


def test_deleted_recording_content_is_gone(sim, client):
    rec = recorded(sim)
    assert (
        client.request("DELETE", f"{ACC}/call-recordings", json={"records": [rec["id"]]}).status_code == 204
    )
    gone = client.get(rec["contentUri"])
    assert gone.status_code == 404 and gone.json()["errorCode"] == "CMN-102"


def test_large_recording_streams_without_building_it(make_simulator, api_client):
    size = 48 * 1024 * 1024 + 17
    sim = make_simulator(throttling=False, large_recording_bytes=size)
    rid = sim.account.large_recording_id()
    client = api_client(sim)
    uri = f"{sim.media_url}/restapi/v1.0/account/{sim.account_id}/recording/{rid}/content"
    with client.stream("GET", uri) as response:
        assert int(response.headers["content-length"]) == size
        total = sum(len(chunk) for chunk in response.iter_bytes())
    assert total == size
    tail = client.get(uri, headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and len(tail.content) == 10


def test_message_attachments_are_real_files(sim, client):
    owner = sim.account.owner.id
    messages = sim.account.messages(owner, midnight(3), datetime.now(UTC), availability=("Alive", "Deleted"))
    seen = set()
    for msg in messages:
        for att in msg["attachments"]:
            if att["type"] in seen:
                continue
            seen.add(att["type"])
            assert att["uri"].startswith(sim.media_url)
            body = client.get(att["uri"])
            assert body.status_code == 200 and len(body.content) == att["size"]
            assert body.headers["content-type"].startswith(att["contentType"])
            if att["contentType"] == "application/pdf":
                assert body.content.startswith(b"%PDF-") and body.content.rstrip().endswith(b"%%EOF")
            if att["contentType"] == "image/png":
                assert body.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert {"Text", "AudioRecording", "RenderedDocument", "MmsAttachment"} <= seen


def test_message_delete_twice_purges_and_restore(sim, client):
    date_from = midnight(3).isoformat()
    alive = client.get(f"{EXT}/message-store", params={"dateFrom": date_from}).json()["records"]
    msg_id = alive[0]["id"]
    assert client.delete(f"{EXT}/message-store/{msg_id}").status_code == 204
    assert client.get(f"{EXT}/message-store/{msg_id}").json()["availability"] == "Deleted"
    listed = client.get(f"{EXT}/message-store", params={"dateFrom": date_from}).json()["records"]
    assert msg_id not in {m["id"] for m in listed}, "default listing shows Alive only"
    restored = client.patch(f"{EXT}/message-store/{msg_id}", json={"availability": "Alive"})
    assert restored.json()["availability"] == "Alive"
    client.delete(f"{EXT}/message-store/{msg_id}")
    assert client.delete(f"{EXT}/message-store/{msg_id}").status_code == 204
    purged = client.get(f"{EXT}/message-store/{msg_id}").json()
    assert purged["availability"] == "Purged"
    attachment = purged["attachments"][0]["uri"]
    assert client.get(attachment).status_code == 404
    assert client.delete(f"{EXT}/message-store/{msg_id}").status_code == 404
    other = alive[1]["id"]
    assert client.delete(f"{EXT}/message-store/{other}", params={"purge": "true"}).status_code == 204
    assert client.get(f"{EXT}/message-store/{other}").json()["availability"] == "Purged"


def test_message_bulk_read_and_filters(sim, client):
    date_from = midnight(3).isoformat()
    records = client.get(f"{EXT}/message-store", params={"dateFrom": date_from, "messageType": "SMS"}).json()
    assert records["records"] and {m["type"] for m in records["records"]} == {"SMS"}
    ids = [str(m["id"]) for m in records["records"][:2]]
    bulk = client.get(f"{EXT}/message-store/{','.join(ids)}")
    assert bulk.status_code == 207
    status, *bodies = parse_multipart(bulk)
    assert [str(b["id"]) for b in bodies] == ids
    vnd = client.get(
        f"{EXT}/message-store/{','.join(ids)}",
        headers={"Accept": "application/vnd.ringcentral.multipart+json"},
    )
    assert [e["resourceId"] for e in vnd.json()] == ids
    conv = records["records"][0]["conversation"]["id"]
    same = client.get(f"{EXT}/message-store", params={"dateFrom": date_from, "conversationId": conv}).json()
    assert {m["conversation"]["id"] for m in same["records"]} == {conv}
    bad = client.get(f"{EXT}/message-store", params={"messageType": "Email"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameterName"] == "messageType"


def test_delete_by_filter_deletes_the_conversation(sim, client):
    date_from = midnight(3).isoformat()
    sms = client.get(f"{EXT}/message-store", params={"dateFrom": date_from, "messageType": "SMS"}).json()[
        "records"
    ]
    conv = sms[0]["conversation"]["id"]
    response = client.delete(f"{EXT}/message-store", params={"conversationId": conv})
    assert response.status_code == 204
    left = client.get(f"{EXT}/message-store", params={"dateFrom": date_from, "conversationId": conv}).json()
    assert left["records"] == []


def test_call_log_sync_rules(sim, client):
    missing = client.get(f"{ACC}/call-log-sync", params={"syncType": "FSync"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["parameterName"] == "recordCount"
    capped = client.get(f"{ACC}/call-log-sync", params={"syncType": "FSync", "recordCount": 1000}).json()
    assert len(capped["records"]) == 250
    too_old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    old = client.get(
        f"{ACC}/call-log-sync", params={"syncType": "FSync", "recordCount": 5, "dateFrom": too_old}
    )
    assert old.status_code == 400
    bad = client.get(f"{ACC}/call-log-sync", params={"syncType": "ISync", "syncToken": "garbage"})
    assert bad.status_code == 400 and bad.json()["errorCode"].startswith("CLG-")
    token = capped["syncInfo"]["syncToken"]
    again = client.get(f"{ACC}/call-log-sync", params={"syncType": "ISync", "syncToken": token}).json()
    assert again["syncInfo"]["syncType"] == "ISync"
    assert len(again["records"]) <= 1  # only calls that became visible in the last moment


def test_export_lifecycle_limit_failure_and_archives(make_simulator, api_client):
    sim = make_simulator(
        throttling=False, export_task_seconds=0.6, messages_per_day=8, export_archive_max_bytes=60_000
    )
    client = api_client(sim)
    body = {"dateFrom": midnight(3).isoformat(), "dateTo": midnight(0).isoformat()}
    first = client.post(f"{ACC}/message-store-report", json=body).json()
    assert first["status"] == "Accepted"
    client.post(f"{ACC}/message-store-report", json={**body, "messageTypes": ["Fax"]})
    third = client.post(f"{ACC}/message-store-report", json=body)
    assert third.status_code == 400 and third.json()["errorCode"] == "MSR-101"
    assert "at most 2" in third.json()["message"].lower()
    early = client.get(f"{ACC}/message-store-report/{first['id']}/archive")
    assert early.status_code == 400
    seen = set()
    deadline = time.monotonic() + 5
    while (status := client.get(f"{ACC}/message-store-report/{first['id']}").json()["status"]) != "Completed":
        seen.add(status)
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "InProgress" in seen
    archives = client.get(f"{ACC}/message-store-report/{first['id']}/archive").json()["records"]
    assert len(archives) >= 3, "attachments split by export_archive_max_bytes"
    zips = []
    for info in archives:
        assert info["uri"].startswith(sim.media_url)
        data = client.get(info["uri"])
        assert data.headers["content-type"] == "application/zip" and len(data.content) == info["size"]
        zips.append(zipfile.ZipFile(io.BytesIO(data.content)))
    json_names = zips[0].namelist()
    assert all(
        n.startswith(f"account/{sim.account_id}/extension/") and n.endswith("/message-store.json")
        for n in json_names
    )
    exported = {m["id"] for n in json_names for m in json.loads(zips[0].read(n))["records"]}
    truth = set()
    for ext in sim.account.extension_objects:
        if ext.message_types:
            # The export covers the trash too (see simulator/exports.py); purged messages are gone.
            truth |= {
                m["id"]
                for m in sim.account.messages(
                    ext.id, midnight(3), midnight(0), availability=("Alive", "Deleted")
                )
            }
    assert exported == truth
    content_entries = [n for z in zips[1:] for n in z.namelist()]
    assert all("/message-store/content/" in n for n in content_entries)
    sizes = [sum(i.file_size for i in z.infolist()) for z in zips[1:]]
    assert all(s <= 60_000 or len(z.infolist()) == 1 for s, z in zip(sizes, zips[1:], strict=True))
    # Injected failure: the next task ends Failed.
    time.sleep(0.7)
    sim.faults.fail_next_exports(1, "Failed")
    failing = client.post(f"{ACC}/message-store-report", json=body).json()
    time.sleep(0.7)
    final = client.get(f"{ACC}/message-store-report/{failing['id']}").json()
    assert final["status"] == "Failed" and "finishTime" in final


def test_same_seed_same_data_other_seed_other_data(sim):
    config = SimulatorConfig(
        seed=sim.config.seed, extensions=8, days=3, calls_per_day=120, messages_per_day=6
    )
    with start_simulator(config) as twin, start_simulator(SimulatorConfig(seed=99, extensions=8)) as other:
        window = (midnight(2), midnight(0))

        def strip(records: list[dict]) -> list[dict]:
            # URIs carry each server's own port; everything else must match.
            text = json.dumps(records).replace(sim.base_url, "X").replace(sim.media_url, "M")
            return json.loads(text.replace(twin.base_url, "X").replace(twin.media_url, "M"))

        assert strip(sim.account.call_records(*window)) == strip(twin.account.call_records(*window))
        assert strip(sim.account.extensions()) == strip(twin.account.extensions())
        owner = sim.account.owner.id
        assert strip(sim.account.messages(owner, *window)) == strip(twin.account.messages(owner, *window))
        rec = recorded(sim)
        digest = hashlib.sha256(sim.account.recording_content(rec["id"])[0]).hexdigest()
        assert digest == hashlib.sha256(twin.account.recording_content(rec["id"])[0]).hexdigest()
        assert other.account_id != sim.account_id
        assert [r["id"] for r in other.account.call_records(*window)] != [
            r["id"] for r in sim.account.call_records(*window)
        ]


def test_cli_prints_env_lines_and_serves(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("RC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rc_pipeline.simulator", "--port", "0", "--seed", "5", "--calls-per-day", "5"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = {}
        while len(lines) < 5:
            line = proc.stdout.readline()
            assert line, "simulator exited early"
            if line.startswith("RC_"):
                key, _, value = line.strip().partition("=")
                lines[key] = value
        token = httpx.post(
            f"{lines['RC_SERVER_URL']}/restapi/oauth/token",
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": lines["RC_JWT"]},
            auth=(lines["RC_CLIENT_ID"], lines["RC_CLIENT_SECRET"]),
        )
        assert token.status_code == 200
        assert lines["RC_MEDIA_URL"] != lines["RC_SERVER_URL"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0

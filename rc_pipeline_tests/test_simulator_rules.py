"""RingCentral's own deletions in the simulator, over simulated time (API-NOTES §9)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from rc_pipeline.simulator import SimulatorConfig
from rc_pipeline.simulator.account import Account
from rc_pipeline.simulator.clock import SimClock
from rc_pipeline.simulator.rules import RuleDeletion

ACC = "/restapi/v1.0/account/~"
EXT = ACC + "/extension/~"
EVERY = ("Alive", "Deleted", "Purged")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def recordings(sim, detailed: list[dict]) -> list[tuple[str, str, datetime]]:
    """(recording id, type, call start) of every recording listed, call-level and leg-level."""
    found = []
    for record in detailed:
        for holder in [record, *record.get("legs", [])]:
            if "recording" in holder:
                rec = holder["recording"]
                found.append((rec["id"], rec["type"], parse(record["startTime"])))
    return list({r[0]: r for r in found}.values())


def all_calls(sim) -> list[dict]:
    now = sim.clock.now()
    return sim.account.call_records(now - timedelta(days=400), now + timedelta(seconds=1), view="Detailed")


def status(client: httpx.Client, sim, rid: str) -> tuple[int, int]:
    """(metadata status, content status) of a recording."""
    meta = client.get(f"{ACC}/recording/{rid}")
    content = client.get(f"{sim.media_url}/restapi/v1.0/account/{sim.account_id}/recording/{rid}/content")
    if meta.status_code == 404:
        assert meta.json()["errorCode"] == "CMN-102"
    return meta.status_code, content.status_code


def test_automatic_recordings_expire_after_90_days_and_the_call_stays(make_simulator, api_client):
    sim = make_simulator(throttling=False, days=2, calls_per_day=30)
    client = api_client(sim)
    listed = recordings(sim, all_calls(sim))
    automatic = min((r for r in listed if r[1] == "Automatic"), key=lambda r: r[2])
    on_demand = next(r for r in listed if r[1] == "OnDemand")
    expiry = sim.account.recording_expiry(automatic[0])
    assert expiry == automatic[2] + timedelta(days=90)
    assert sim.account.recording_deletion(automatic[0]).rule == "recording_retention"
    assert sim.account.recording_expiry(on_demand[0]) is None  # on-demand: kept until deleted
    assert status(client, sim, automatic[0]) == (200, 200)

    sim.advance(seconds=(expiry - sim.clock.now()).total_seconds() - 60)
    assert status(client, sim, automatic[0]) == (200, 200)
    assert not sim.account.deleted_by_rules("recording", automatic[0])
    sim.advance(minutes=2)
    assert status(client, sim, automatic[0]) == (404, 404)
    assert sim.account.deleted_by_rules("recording", automatic[0])
    assert status(client, sim, on_demand[0])[0] == 200
    # The call record is still listed, still naming the recording.
    still = [r for r in recordings(sim, all_calls(sim)) if r[0] == automatic[0]]
    assert still == [automatic]


def test_hipaa_accounts_keep_recordings_30_days(make_simulator, api_client):
    sim = make_simulator(throttling=False, days=2, calls_per_day=30, messages_per_day=8, hipaa=True)
    client = api_client(sim)
    automatic = min((r for r in recordings(sim, all_calls(sim)) if r[1] == "Automatic"), key=lambda r: r[2])
    assert sim.account.recording_expiry(automatic[0]) == automatic[2] + timedelta(days=30)
    received = min(faxes(sim, "Inbound"), key=lambda m: m["creationTime"])
    deletion = sim.account.message_deletion(received["id"])
    assert deletion.rule == "hipaa_received_fax"
    assert deletion.at == parse(received["creationTime"]) + timedelta(days=30)
    sim.advance(days=31)
    assert status(client, sim, automatic[0]) == (404, 404)
    assert sim.account.store.get(received["id"], sim.clock.now_ms())["availability"] == "Purged"


def test_account_limit_drops_the_oldest_recordings(make_simulator, api_client):
    sim = make_simulator(throttling=False, days=2, calls_per_day=60, recordings_account_limit=5)
    client = api_client(sim)
    automatic = sorted(
        (r for r in recordings(sim, all_calls(sim)) if r[1] == "Automatic"), key=lambda r: (r[2], r[0])
    )
    assert len(automatic) > 8
    dropped = [r for r in automatic if sim.account.deleted_by_rules("recording", r[0])]
    kept = [r for r in automatic if not sim.account.deleted_by_rules("recording", r[0])]
    # The oldest go first: every dropped recording is older than every kept one. At most 5 are kept
    # of those listed: a call in progress, whose recording is not listed yet, already counts (stricter).
    assert automatic == dropped + kept and len(kept) <= 5 and len(dropped) >= len(automatic) - 5
    assert sim.account.recording_deletion(dropped[0][0]).rule == "recording_account_limit"
    assert status(client, sim, dropped[0][0]) == (404, 404)
    assert status(client, sim, dropped[-1][0]) == (404, 404)
    if kept:
        assert status(client, sim, kept[0][0]) == (200, 200)


def voicemails(sim, ext_id: int) -> list[dict]:
    now = sim.clock.now()
    msgs = sim.account.messages(ext_id, now - timedelta(days=100), now + timedelta(seconds=1), EVERY)
    return sorted((m for m in msgs if m["type"] == "VoiceMail"), key=lambda m: (m["creationTime"], m["id"]))


def test_voicemail_beyond_the_box_limit_disappears_oldest_first(make_simulator, api_client):
    assert SimulatorConfig().voicemail_box_limit == 200
    sim = make_simulator(throttling=False, days=3, messages_per_day=12, voicemail_box_limit=4)
    client = api_client(sim)
    owner = max((e.id for e in sim.account.extension_objects), key=lambda e: len(voicemails(sim, e)))
    box = voicemails(sim, owner)
    assert len(box) > 6
    assert [m["availability"] for m in box[:-4]] == ["Purged"] * (len(box) - 4)
    assert "Purged" not in {m["availability"] for m in box[-4:]}
    assert sim.account.message_deletion(box[0]["id"]).rule == "voicemail_box_limit"
    alive = client.get(
        f"{ACC}/extension/{owner}/message-store", params={"dateFrom": box[0]["creationTime"], "perPage": 1000}
    )
    assert alive.status_code == 200, alive.text
    alive_ids = {m["id"] for m in alive.json()["records"]}
    assert not alive_ids & {m["id"] for m in box[:-4]}
    attachment = box[0]["attachments"][0]["uri"]
    assert client.get(attachment).status_code == 404
    assert client.get(box[-1]["attachments"][0]["uri"]).status_code == 200

    # Default limit: a box far below 200 keeps every voicemail.
    roomy = make_simulator(throttling=False, days=3, messages_per_day=12)
    assert roomy.config.voicemail_box_limit == 200
    assert "Purged" not in {m["availability"] for m in voicemails(roomy, owner)}


def faxes(sim, direction: str) -> list[dict]:
    now, acc = sim.clock.now(), sim.account
    found = []
    for ext in acc.extension_objects:
        if "Fax" in ext.message_types:
            found += acc.messages(ext.id, now - timedelta(days=400), now + timedelta(seconds=1), EVERY)
    return [m for m in found if m["type"] == "Fax" and m["direction"] == direction]


def test_sent_faxes_expire_after_30_days(make_simulator, api_client):
    sim = make_simulator(throttling=False, days=3, messages_per_day=8)
    client = api_client(sim)
    sent = min(faxes(sim, "Outbound"), key=lambda m: m["creationTime"])
    assert sent["availability"] != "Purged"
    deletion = sim.account.message_deletion(sent["id"])
    assert deletion == RuleDeletion(
        int((parse(sent["creationTime"]) + timedelta(days=30)).timestamp() * 1000), "sent_fax_days"
    )
    sim.advance(seconds=(deletion.at - sim.clock.now()).total_seconds() + 1)
    after = sim.account.store.get(sent["id"], sim.clock.now_ms())
    assert after["availability"] == "Purged"
    assert parse(after["lastModifiedTime"]) == deletion.at
    assert client.get(sent["attachments"][0]["uri"]).status_code == 404
    received = [
        m for m in faxes(sim, "Inbound") if parse(m["creationTime"]) <= deletion.at - timedelta(days=30)
    ]
    assert received and all(m["availability"] != "Purged" for m in received)  # only sent faxes expire


def test_a_shorter_retention_period_deletes_older_fax_and_voicemail(make_simulator, api_client):
    sim = make_simulator(throttling=False, days=3, messages_per_day=8)
    client = api_client(sim)
    sim.advance(days=6)
    cutoff = sim.clock.now() - timedelta(days=7)
    owner = sim.account.owner.id

    def old(kind: str) -> list[dict]:
        now = sim.clock.now()
        msgs = sim.account.messages(owner, now - timedelta(days=30), cutoff, EVERY)
        return [m for m in msgs if m["type"] == kind and m["direction"] == "Inbound"]

    assert old("VoiceMail") and old("SMS")
    assert all(m["availability"] != "Purged" for m in old("VoiceMail") + old("Fax"))
    put = client.put(f"{ACC}/message-store-configuration", json={"retentionPeriod": 7})
    assert put.status_code == 200
    assert {m["availability"] for m in old("VoiceMail") + old("Fax")} == {"Purged"}
    assert all(m["availability"] != "Purged" for m in old("SMS"))  # SMS has no time limit
    assert sim.account.message_deletion(old("VoiceMail")[0]["id"]).rule == "message_retention"
    # A longer period later brings nothing back.
    client.put(f"{ACC}/message-store-configuration", json={"retentionPeriod": 90})
    assert {m["availability"] for m in old("VoiceMail")} == {"Purged"}


def test_users_purge_a_share_of_messages_within_hours(make_simulator, api_client):
    sim = make_simulator(
        throttling=False, days=2, messages_per_day=10, user_purge_share=0.5, user_purge_within_hours=3
    )
    client = api_client(sim)
    owner = sim.account.owner.id
    now = sim.clock.now()
    every = sim.account.messages(owner, now - timedelta(days=3), now + timedelta(seconds=1), EVERY)
    older = [m for m in every if parse(m["creationTime"]) < now - timedelta(hours=3)]
    purged = [m for m in older if m["availability"] == "Purged"]
    assert 0.25 < len(purged) / len(older) < 0.75
    for m in purged:
        deletion = sim.account.message_deletion(m["id"])
        assert deletion.rule == "user_purge"
        assert timedelta(0) < deletion.at - parse(m["creationTime"]) <= timedelta(hours=3)
    alive = client.get(
        f"{EXT}/message-store", params={"dateFrom": (now - timedelta(days=3)).isoformat(), "perPage": 1000}
    ).json()["records"]
    assert not {m["id"] for m in alive} & {m["id"] for m in purged}
    listed_purged = client.get(
        f"{EXT}/message-store",
        params={"dateFrom": (now - timedelta(days=3)).isoformat(), "perPage": 1000, "availability": "Purged"},
    ).json()["records"]
    assert {m["id"] for m in purged} <= {m["id"] for m in listed_purged}
    assert client.get(purged[0]["attachments"][0]["uri"]).status_code == 404

    # A recent message due to be purged later is alive until then.
    pending = [
        m
        for m in every
        if (d := sim.account.message_deletion(m["id"])) is not None and d.rule == "user_purge" and d.at > now
    ]
    if pending:
        assert all(m["availability"] != "Purged" for m in pending)
        sim.advance(hours=3, minutes=1)
        assert {sim.account.store.get(m["id"], sim.clock.now_ms())["availability"] for m in pending} == {
            "Purged"
        }


def test_call_log_retention_removes_old_calls():
    clock = SimClock()
    acc = Account(
        SimulatorConfig(days=3, calls_per_day=20, call_log_retention_days=2), "http://p", "http://m", clock
    )
    now = clock.now()
    listed = acc.call_records(now - timedelta(days=5), now)
    assert listed and min(parse(r["startTime"]) for r in listed) >= now - timedelta(days=2)


def test_same_seed_same_deletions():
    config = SimulatorConfig(
        days=3,
        calls_per_day=40,
        messages_per_day=8,
        recordings_account_limit=7,
        voicemail_box_limit=3,
        user_purge_share=0.3,
    )

    def answers() -> tuple:
        acc = Account(config, "http://p", "http://m", SimClock(timedelta(days=1)))
        now = acc.clock.now()
        calls = acc.call_records(now - timedelta(days=5), now, view="Detailed")
        rec_ids = sorted({r["recording"]["id"] for r in calls if "recording" in r})
        msgs = acc.messages(acc.owner.id, now - timedelta(days=5), now, EVERY)
        return (
            [(r, acc.recording_deletion(r)) for r in rec_ids],
            [(m["id"], m["availability"], acc.message_deletion(m["id"])) for m in msgs],
        )

    first = answers()
    assert first == answers()
    assert any(d is not None and d.rule == "recording_account_limit" for _, d in first[0])
    assert any(d is not None and d.rule == "user_purge" for _, _, d in first[1])

"""Typed endpoints, one refresh under concurrency, and the client's requests checked against the spec."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from rc_pipeline.ringcentral import InvalidRequest, NotFound
from rc_pipeline_tests.clienthelpers import RecordingTransport, client_for


def last_day() -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=1), end


def test_one_refresh_when_many_threads_find_the_token_expired(make_simulator):
    sim = make_simulator(token_ttl=2.0)
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        client.login()
        time.sleep(2.1)
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                barrier.wait()
                client.service_info()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = client.stats()
    assert not errors
    token_calls = [u for _, m, u, _, _ in transport.sent if u.endswith("/oauth/token")]
    assert len(token_calls) == 2, "one login, then exactly one refresh for six threads"
    assert stats.refreshes == 1


def test_call_log_sync_full_then_incremental(make_simulator):
    sim = make_simulator(calls_per_day=30, days=3)
    with client_for(sim) as client:
        full = client.call_log_sync("FSync", record_count=20, date_from=datetime.now(UTC) - timedelta(days=2))
        assert full["syncInfo"]["syncType"] == "FSync"
        assert 0 < len(full["records"]) <= 20
        incremental = client.call_log_sync("ISync", sync_token=full["syncInfo"]["syncToken"])
        assert incremental["syncInfo"]["syncType"] == "ISync"
        with pytest.raises(InvalidRequest) as info:
            client.call_log_sync("ISync", sync_token="not-a-token")
        assert info.value.error_code.startswith("CLG-")
        with pytest.raises(ValueError):
            client.call_log_sync("ISync")


def test_active_calls_service_info_and_retention_settings(simulator):
    with client_for(simulator) as client:
        assert isinstance(list(client.iter_active_calls()), list)
        info = client.service_info()
        assert "serviceFeatures" in info
        assert (
            client.get_message_store_configuration()["retentionPeriod"] == simulator.config.retention_period
        )
        assert client.set_message_store_configuration(30)["retentionPeriod"] == 30
        assert client.get_message_store_configuration()["retentionPeriod"] == 30
        with pytest.raises(ValueError, match="7..90"):
            client.set_message_store_configuration(120)


def messages_of_some_extension(sim, client):
    start, end = last_day()
    for ext in sim.account.extensions():
        got = list(client.iter_messages(ext["id"], start, end))
        if len(got) >= 2:
            return ext["id"], got
    raise AssertionError("no extension had two messages yesterday")


def test_read_status_update_and_delete_by_filter(make_simulator):
    sim = make_simulator(messages_per_day=6, extensions=6)
    with client_for(sim) as client:
        ext, messages = messages_of_some_extension(sim, client)
        target = messages[0]["id"]
        client.update_read_status(ext, [target], "Unread")
        assert client.get_message(ext, target)["readStatus"] == "Unread"
        client.update_read_status(ext, [target], "Read")
        assert client.get_message(ext, target)["readStatus"] == "Read"
        start, end = last_day()
        client.delete_messages_by_filter(ext, date_to=end, purge=True)
        assert list(client.iter_messages(ext, start, end)) == []


def test_recording_delete_removes_the_content(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=40)
    start, end = last_day()
    rec = next(r["recording"] for r in sim.account.call_records(start, end) if r.get("recording"))
    with client_for(sim) as client:
        assert client.get_recording(str(rec["id"]))["id"] == str(rec["id"])
        client.delete_recordings([str(rec["id"])])
        with pytest.raises(NotFound):
            client.download_recording(rec, tmp_path / "gone.bin")
        with pytest.raises(ValueError):
            client.delete_recordings([])
    assert not (tmp_path / "gone.bin").exists()


@pytest.fixture(scope="session")
def spec_api(openapi_spec):
    from jsonschema_path import SchemaPath
    from openapi_core import Config, OpenAPI

    return OpenAPI(SchemaPath.from_dict(openapi_spec), config=Config(spec_validator_cls=None))


def test_client_requests_validate_against_the_spec(make_simulator, spec_api, openapi_spec, tmp_path):
    """Every request the client sends for the archive's operations is valid per the official spec."""
    from openapi_core.testing import MockRequest

    sim = make_simulator(calls_per_day=30, messages_per_day=4, extensions=5, export_task_seconds=0.2)
    transport = RecordingTransport()
    start, end = last_day()
    with client_for(sim, transport=transport) as client:
        list(client.iter_extensions())
        records = list(client.iter_call_log(start, end, view="Detailed"))
        client.get_call_records([records[0]["id"]])
        client.call_log_sync("FSync", record_count=10)
        list(client.iter_active_calls())
        rec = next(r["recording"] for r in records if r.get("recording"))
        client.get_recording(str(rec["id"]))
        client.download_recording(rec, tmp_path / "r.bin")
        ext, messages = messages_of_some_extension(sim, client)
        client.get_message(ext, messages[0]["id"])
        client.update_read_status(ext, [messages[0]["id"]], "Read")
        task = client.create_message_store_report(start, end)
        client.get_message_store_report(task["id"])
        client.get_message_store_configuration()
        client.set_message_store_configuration(60)
        client.service_info()
    servers = [s["url"] for s in openapi_spec["servers"]]
    platform = next(s for s in servers if "media" not in s)
    media = next(s for s in servers if "media" in s)
    checked = 0
    for request in transport.requests:
        if request.url.path.startswith("/restapi/oauth/"):
            continue  # form-encoded OAuth bodies: covered by the token tests
        host = media if "/content" in request.url.path else platform
        body = request.content or None
        mock = MockRequest(
            host,
            request.method.lower(),
            request.url.path,
            args=list(request.url.params.multi_items()),
            headers=dict(request.headers),
            data=body,
            content_type=request.headers.get("content-type", "application/json").split(";")[0],
        )
        spec_api.validate_request(mock)
        checked += 1
    assert checked >= 14


def test_token_invalid_shape_with_code_inside_errors_renews(make_simulator):
    """RingCentral wraps OAU-128/OAU-213 in a top-level TokenInvalid; the client must still renew."""
    import httpx

    from rc_pipeline.ringcentral.auth import RENEWABLE_401, error_codes

    wrapped = httpx.Response(
        401,
        json={
            "errorCode": "TokenInvalid",
            "errors": [{"errorCode": "OAU-213", "message": "Token not found"}],
        },
    )
    assert RENEWABLE_401 & error_codes(wrapped)
    sim = make_simulator()
    with client_for(sim) as client:
        client.login()
        stale = client.session.tokens._token.access_token
        # Revoke behind the client's back: the next call meets a 401 for a token the client still trusts.
        httpx.post(
            f"{sim.base_url}/restapi/oauth/revoke",
            data={"token": stale},
            auth=(sim.client_id, sim.client_secret),
        )
        assert client.service_info()
        assert client.session.tokens._token.access_token != stale


def test_headerless_429_pauses_every_group(simulator):
    simulator.faults.schedule("429", count=1, path_contains="/service-info", retry_after=1.0)
    with client_for(simulator) as client:
        client.login()
        started = time.monotonic()
        assert client.service_info()
        throttler = client.session.throttler
        assert all(throttler.group(g).stats.throttled_429 == 1 for g in ("Light", "Medium", "Heavy"))
        list(client.iter_extensions())  # Medium: must also have waited out the account-wide penalty
        assert time.monotonic() - started >= 1.0


def test_two_processes_cannot_write_one_download(make_simulator, tmp_path):
    from rc_pipeline.ringcentral import DownloadError
    from rc_pipeline.ringcentral.download import _exclusive_lock

    sim = make_simulator(calls_per_day=40)
    start, end = last_day()
    rec = next(r["recording"] for r in sim.account.call_records(start, end) if r.get("recording"))
    dest = tmp_path / "r.bin"
    held = _exclusive_lock(dest)
    try:
        with client_for(sim) as client, pytest.raises(DownloadError, match="another process"):
            client.download_recording(rec, dest)
    finally:
        held.close()
    with client_for(sim) as client:
        client.download_recording(rec, dest)
    assert dest.exists() and not list(tmp_path.glob(".*.lock"))


def test_separate_clients_of_one_user_and_app_share_one_budget(make_simulator, tmp_path):
    """Two runs (own clients, own throttles) stay inside the one budget RingCentral gives them together."""
    from rc_pipeline.ringcentral import Throttler
    from rc_pipeline.ringcentral.shared_budget import budget_key

    limit, window = 4, 1.0
    sim = make_simulator(rate_limits={"Heavy": (limit, window)}, penalty_seconds=1.0, calls_per_day=10)
    key = budget_key(sim.base_url, sim.client_id, "test-user")
    start, end = last_day()
    errors: list[BaseException] = []
    stats = []

    def run() -> None:
        throttler = Throttler(shared_dir=tmp_path, shared_key=key)
        try:
            with client_for(sim, throttler=throttler) as client:
                for _ in range(6):
                    list(client.iter_call_log_pages(start, end))
                stats.append(client.stats())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(s.throttled_429 for s in stats) == 0
    heavy = sorted(e.monotonic for e in sim.request_log if e.group == "Heavy")
    assert len(heavy) == 12
    for i in range(len(heavy) - limit):
        assert heavy[i + limit] - heavy[i] >= window, "the two runs together overran the window"


def validate_requests(spec_api, openapi_spec, requests: list) -> int:
    """Check recorded httpx requests against the spec; returns how many were checked."""
    from openapi_core.testing import MockRequest

    platform = next(s["url"] for s in openapi_spec["servers"] if "media" not in s["url"])
    checked = 0
    for request in requests:
        if request.url.path.startswith("/restapi/oauth/"):
            continue
        mock = MockRequest(
            platform, request.method.lower(), request.url.path, args=list(request.url.params.multi_items())
        )
        spec_api.validate_request(mock)
        checked += 1
    return checked


def test_extract_sync_and_call_log_changes(make_simulator, spec_api, openapi_spec):
    from rc_pipeline.ringcentral import SyncRequired

    sim = make_simulator(calls_per_day=60, days=2)
    transport = RecordingTransport()
    since = sim.clock.now() - timedelta(days=3)
    with client_for(sim, transport=transport) as client:
        first = client.extract_sync_call_log(date_from=since, record_count=20)
        assert len(first["records"]) == 20 and first["syncInfo"]["newerRecordsExist"]
        assert "lastModifiedTime" in first["records"][0]  # Detailed by default
        pages = list(client.iter_call_log_changes(date_from=since))
        assert not pages[-1]["syncInfo"]["newerRecordsExist"]
        seen = [r["id"] for p in pages for r in p["records"]]
        truth = sim.account.call_records(since, sim.clock.now())
        assert sorted(seen) == sorted(r["id"] for r in truth)
        sim.advance(hours=2)
        token = pages[-1]["syncInfo"]["syncToken"]
        changed = [r for p in client.iter_call_log_changes(sync_token=token) for r in p["records"]]
        assert changed and not {r["id"] for r in changed} - {
            r["id"] for r in sim.account.call_records(since, sim.clock.now())
        }
        with pytest.raises(SyncRequired) as info:
            client.extract_sync_call_log("ISync", sync_token="not-a-token")
        assert info.value.error_code == "CLG-101" and isinstance(info.value, InvalidRequest)
        with pytest.raises(ValueError):
            client.extract_sync_call_log(record_count=1001)
        with pytest.raises(ValueError):
            client.extract_sync_call_log("ISync")
        sim.advance(days=31)
        with pytest.raises(SyncRequired) as expired:
            list(client.iter_call_log_changes(sync_token=token))
        assert expired.value.error_code == "CLG-104"
    assert validate_requests(spec_api, openapi_spec, transport.requests) >= 5


def test_message_sync_full_incremental_and_full_sync_required(make_simulator, spec_api, openapi_spec):
    from rc_pipeline.ringcentral import SyncRequired

    sim = make_simulator(messages_per_day=8, extensions=6, days=2)
    transport = RecordingTransport()
    ext = sim.account.owner.id
    with client_for(sim, transport=transport) as client:
        full = client.message_sync(ext, date_from=sim.clock.now() - timedelta(days=2), record_count=3)
        assert len(full["records"]) <= 3 and full["syncInfo"]["syncType"] == "FSync"
        target = full["records"][0]["id"]
        client.delete_messages(ext, [target])
        incremental = client.message_sync(ext, "ISync", sync_token=full["syncInfo"]["syncToken"])
        assert {m["id"]: m["availability"] for m in incremental["records"]}[target] == "Deleted"
        with pytest.raises(SyncRequired) as info:
            client.message_sync(ext, "ISync", sync_token="stale")
        assert info.value.error_code == "MSG-333"
        with pytest.raises(ValueError):
            client.message_sync(ext, "ISync", sync_token="x", record_count=5)
    assert validate_requests(spec_api, openapi_spec, transport.requests) >= 4

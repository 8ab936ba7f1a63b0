"""The client against the simulator over real loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rc_pipeline.ringcentral import (
    AuthError,
    DownloadError,
    ForeignHostError,
    InvalidRequest,
    PermissionDenied,
    RingCentralClient,
    Throttler,
)
from rc_pipeline.ringcentral.download import part_path
from rc_pipeline_tests.clienthelpers import FAST_RETRY, RecordingTransport, client_for, settings_for

HEAVY = "Heavy"


def day_window(days_ago: int = 1) -> tuple[datetime, datetime]:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago - 1)
    return end - timedelta(days=1), end


def test_jwt_login_lists_every_extension(simulator):
    with client_for(simulator) as client:
        client.login()
        got = {e["id"] for e in client.iter_extensions()}
        stats = client.stats()
    assert got == {e["id"] for e in simulator.account.extensions()}
    assert stats.logins == 1
    assert stats.requests["Auth"] == 1


def test_password_grant_logs_in(simulator):
    settings = settings_for(
        simulator,
        jwt=None,
        username=simulator.config.username,
        password=simulator.config.password,
        extension=simulator.config.extension,
    )
    with RingCentralClient(settings, retry=FAST_RETRY) as client:
        assert client.service_info()


def test_wrong_jwt_is_an_auth_error_with_ringcentral_code(simulator):
    with RingCentralClient(settings_for(simulator, jwt="not-the-jwt"), retry=FAST_RETRY) as client:
        with pytest.raises(AuthError) as info:
            client.login()
    assert info.value.status == 400
    assert info.value.error_code == "OAU-140"


def test_paging_three_days_loses_and_duplicates_nothing(make_simulator):
    sim = make_simulator(calls_per_day=260, days=4)
    start, end = day_window(1)
    start -= timedelta(days=2)
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        pages = list(client.iter_call_log_pages(start, end, view="Detailed", perPage=100))
    ids = [r["id"] for p in pages for r in p.records]
    truth = [r["id"] for r in sim.account.call_records(start, end, view="Detailed")]
    assert len(pages) >= 8
    assert len(ids) == len(set(ids)), "a record was listed twice"
    assert sorted(ids) == sorted(truth)
    first = httpx.URL(next(url for _, m, url, _, _ in transport.sent if "/call-log" in url))
    # The window is always explicit: RingCentral would otherwise default dateFrom to 24 h before dateTo.
    assert first.params["dateFrom"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert first.params["dateTo"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))
    assert first.params["view"] == "Detailed"
    # Raw bytes are kept exactly as received.
    assert json.loads(pages[0].raw) == pages[0].body


def test_per_page_defaults_to_the_maximum(make_simulator):
    sim = make_simulator(calls_per_day=30)
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        list(client.iter_call_log_pages(*day_window(1)))
    urls = [httpx.URL(u) for _, _, u, _, _ in transport.sent if "/call-log" in u]
    assert urls[0].params["perPage"] == "1000"


def test_access_token_expiring_mid_run_is_refreshed(make_simulator):
    sim = make_simulator(token_ttl=2.0, calls_per_day=20)
    with client_for(sim) as client:
        first = list(client.iter_extensions())
        time.sleep(2.2)
        second = list(client.iter_extensions())
        stats = client.stats()
    assert first == second
    assert stats.refreshes >= 1
    assert stats.logins == 1


def test_401_expired_triggers_one_renewal_and_one_retry(make_simulator):
    sim = make_simulator(token_ttl=1.0)
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        client.login()
        # Our clock says the token is fresh, the server says expired (clock skew, suspended laptop).
        client.session.tokens._token.expires_at = time.monotonic() + 3600
        time.sleep(1.2)
        info = client.service_info()
    assert info
    statuses = [(url.rsplit("/", 1)[-1], status) for _, _, url, _, status in transport.sent]
    assert ("service-info", 401) in statuses
    assert statuses[-2:] == [("token", 200), ("service-info", 200)] or statuses[-3:-1] == [
        ("token", 200),
        ("service-info", 200),
    ]


def test_rejected_refresh_token_falls_back_to_jwt_login(make_simulator):
    sim = make_simulator(token_ttl=1.0)
    with client_for(sim) as client:
        client.login()
        client.session.tokens._token.refresh_token = "stale-refresh-token"
        time.sleep(1.1)
        assert client.service_info()
        assert client.stats().logins == 2


def test_close_revokes_the_token(simulator):
    client = client_for(simulator)
    client.login()
    token = client.session.tokens._token.access_token
    client.close()
    r = httpx.get(
        f"{simulator.base_url}/restapi/v1.0/account/~/service-info",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 401


def test_tokens_never_reach_logs_reprs_or_urls(make_simulator, caplog):
    sim = make_simulator(token_ttl=1.0, calls_per_day=40)
    transport = RecordingTransport()
    caplog.set_level(logging.DEBUG)
    with client_for(sim, transport=transport) as client:
        list(client.iter_call_log(*day_window(1)))
        time.sleep(1.1)
        list(client.iter_extensions())
        token = client.session.tokens._token.access_token
        texts = [repr(client), repr(client.session), repr(client.session.tokens), repr(client.settings)]
        with pytest.raises(PermissionDenied) as info:
            sim.config.app_permissions = sim.config.app_permissions - {"ReadCallRecording"}
            client.get_recording("1")
        texts.append(str(info.value))
    secrets = [token, sim.jwt, sim.client_secret]
    for text in [caplog.text, *texts, *(url for _, _, url, _, _ in transport.sent)]:
        for secret in secrets:
            assert secret not in text


def test_permission_error_names_the_missing_permission(make_simulator):
    sim = make_simulator(app_permissions=frozenset({"ReadAccounts", "ReadCallLog"}))
    with client_for(sim) as client:
        with pytest.raises(PermissionDenied) as info:
            client.get_recording("12345")
    assert info.value.status == 403
    assert info.value.permission_name == "ReadCallRecording"
    assert "ReadCallRecording" in str(info.value)


def test_429_penalty_is_waited_out_with_no_request_in_the_group(make_simulator):
    # Heavy: 4 requests per 2 s window, 2 s penalty. A second consumer with the same user and app spends
    # the budget behind the client's back, so the client's next request meets a 429.
    sim = make_simulator(rate_limits={"Heavy": (4, 2.0)}, penalty_seconds=2.0, calls_per_day=5)
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        start, end = day_window(1)
        list(client.iter_call_log(start, end))
        token = client.session.tokens.access_token()
        for _ in range(4):
            httpx.get(
                f"{sim.base_url}/restapi/v1.0/account/~/call-log",
                params={"dateFrom": start.isoformat(), "dateTo": end.isoformat()},
                headers={"Authorization": f"Bearer {token}"},
            )
        records = list(client.iter_call_log(start, end))
        stats = client.stats()
    assert len(records) == len(sim.account.call_records(start, end))
    assert stats.throttled_429 >= 1
    heavy = [(t, status) for t, _, url, _, status in transport.sent if "/call-log" in url]
    first_429 = next(i for i, (_, s) in enumerate(heavy) if s == 429)
    t429 = heavy[first_429][0]
    after = heavy[first_429 + 1][0]
    assert after - t429 >= 2.0, "a Heavy request was sent during the penalty"
    assert heavy[-1][1] == 200


def test_client_stays_inside_announced_limits_without_429(make_simulator):
    sim = make_simulator(rate_limits={"Heavy": (5, 1.0)}, calls_per_day=40)
    start, end = day_window(1)
    with client_for(sim) as client:
        for _ in range(12):
            list(client.iter_call_log_pages(start, end))
        stats = client.stats()
    assert stats.throttled_429 == 0
    assert stats.requests[HEAVY] == 12
    assert stats.throttle_wait_seconds > 0


def test_threads_sharing_one_client_stay_inside_one_group_limit(make_simulator):
    limit, window = 5, 1.0
    sim = make_simulator(rate_limits={"Heavy": (limit, window)}, calls_per_day=20)
    transport = RecordingTransport()
    start, end = day_window(1)
    errors: list[BaseException] = []
    with client_for(
        sim, transport=transport, throttler=Throttler(limits={"Heavy": (limit, window)})
    ) as client:
        client.login()

        def work() -> None:
            try:
                for _ in range(4):
                    list(client.iter_call_log_pages(start, end))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    heavy = sorted(t for t, _, url, _, _ in transport.sent if "/call-log" in url)
    statuses = [s for _, _, url, _, s in transport.sent if "/call-log" in url]
    assert len(heavy) == 16 and 429 not in statuses
    for i in range(len(heavy) - limit):
        assert heavy[i + limit] - heavy[i] >= window, "more than `limit` Heavy requests inside one window"


def test_server_errors_are_retried(simulator):
    simulator.faults.schedule("500", count=2, path_contains="/extension")
    simulator.faults.schedule("503", count=1, path_contains="/extension", retry_after=0.2)
    with client_for(simulator) as client:
        got = list(client.iter_extensions())
        stats = client.stats()
    assert len(got) == len(simulator.account.extensions())
    assert stats.server_errors == 3


def test_dropped_connection_is_retried(simulator):
    simulator.faults.schedule("drop", count=1, path_contains="/service-info")
    with client_for(simulator) as client:
        assert client.service_info()
        assert client.stats().connection_errors == 1


def test_4xx_raises_at_once_with_parameter_name(simulator):
    transport = RecordingTransport()
    with client_for(simulator, transport=transport) as client:
        with pytest.raises(InvalidRequest) as info:
            list(client.iter_call_log_pages(*day_window(1), page=0))
    assert info.value.status == 400
    assert info.value.parameter_name == "page"
    assert sum(1 for _, _, url, _, _ in transport.sent if "/call-log" in url) == 1, (
        "a 400 must not be retried"
    )


def recorded_call(sim):
    start, end = day_window(1)
    for record in sim.account.call_records(start, end, view="Detailed"):
        if record.get("recording"):
            return record["recording"]
    raise AssertionError("the simulated day has no recording")


def test_recording_download_streams_and_verifies(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=60)
    rec = recorded_call(sim)
    truth, content_type = sim.account.recording_content(str(rec["id"]))
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        result = client.download_recording(rec, tmp_path / "r.bin")
    assert result.size == len(truth)
    assert result.sha256 == hashlib.sha256(truth).hexdigest()
    assert (tmp_path / "r.bin").read_bytes() == truth
    assert result.content_type == content_type
    media_requests = [u for _, _, u, _, _ in transport.sent if u.startswith(sim.media_url)]
    assert media_requests, "recording content must come from the media host"


def test_truncated_download_is_detected_and_resumed_with_range(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=60)
    rec = recorded_call(sim)
    truth, _ = sim.account.recording_content(str(rec["id"]))
    sim.faults.schedule("truncate", count=1, path_contains="/content")
    transport = RecordingTransport()
    with client_for(sim, transport=transport) as client:
        result = client.download_recording(rec, tmp_path / "r.bin")
    assert result.resumes == 1
    assert (tmp_path / "r.bin").read_bytes() == truth
    ranges = [h.get("range") for _, _, u, h, _ in transport.sent if "/content" in u]
    assert ranges[0] is None and ranges[1].startswith("bytes=")
    assert not part_path(tmp_path / "r.bin").exists()


def test_interrupted_download_leaves_nothing_at_final_path_and_next_run_completes(make_simulator, tmp_path):
    sim = make_simulator(calls_per_day=60)
    rec = recorded_call(sim)
    truth, _ = sim.account.recording_content(str(rec["id"]))
    dest = tmp_path / "r.bin"
    sim.faults.schedule("truncate", count=2, path_contains="/content")
    with client_for(sim) as client:
        with pytest.raises(DownloadError):
            client.download_recording(rec, dest, max_resumes=1)
        assert not dest.exists()
        assert part_path(dest).exists()
        result = client.download_recording(rec, dest)
    assert dest.read_bytes() == truth
    assert result.sha256 == hashlib.sha256(truth).hexdigest()


class ForeignNextPage(httpx.BaseTransport):
    """Rewrites the first page's nextPage to another host, and records every host contacted."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport(retries=0)
        self.hosts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        response = self.inner.handle_request(request)
        if "/call-log" not in request.url.path:
            return response
        response.read()
        body = json.loads(response.content)
        body.setdefault("navigation", {})["nextPage"] = {
            "uri": "https://evil.example.com/restapi/v1.0/account/1/call-log?page=2"
        }
        return httpx.Response(
            200, headers={"Content-Type": "application/json"}, content=json.dumps(body).encode()
        )


def test_foreign_next_page_is_refused_and_token_not_sent(simulator):
    transport = ForeignNextPage()
    with client_for(simulator, transport=transport) as client:
        with pytest.raises(ForeignHostError) as info:
            list(client.iter_call_log_pages(*day_window(1)))
    assert "evil.example.com" in str(info.value)
    assert "evil.example.com" not in transport.hosts


def test_foreign_content_uri_is_refused(simulator, tmp_path):
    with client_for(simulator) as client:
        with pytest.raises(ForeignHostError):
            client.download_recording(
                {"id": "1", "contentUri": "https://evil.example.com/rec/1/content"}, tmp_path / "x"
            )
    assert not (tmp_path / "x").exists()


def test_bulk_read_parses_207_multipart(make_simulator):
    sim = make_simulator(calls_per_day=30)
    start, end = day_window(1)
    ids = [r["id"] for r in sim.account.call_records(start, end)][:3]
    with client_for(sim) as client:
        items = client.get_call_records([*ids, "doesnotexist"])
        single = client.get_call_records(ids[:1])
    assert [i.body["id"] for i in items[:3]] == ids
    assert [i.ok for i in items] == [True, True, True, False]
    assert single[0].body["id"] == ids[0]


def test_export_task_lifecycle_limit_and_failure(make_simulator, tmp_path):
    sim = make_simulator(export_task_seconds=0.5, messages_per_day=3)
    start, end = day_window(1)
    with client_for(sim) as client:
        first = client.create_message_store_report(start, end)
        second = client.create_message_store_report(start - timedelta(days=1), start)
        with pytest.raises(InvalidRequest) as info:
            client.create_message_store_report(start - timedelta(days=2), start - timedelta(days=1))
        assert "2" in str(info.value)
        seen = set()
        deadline = time.monotonic() + 10
        status = first["status"]
        while status != "Completed" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = client.get_message_store_report(first["id"])["status"]
            seen.add(status)
        assert status == "Completed"
        archives = client.list_message_store_report_archives(first["id"])
        result = client.download_message_store_archive(archives[0], tmp_path / "a0.zip")
        with zipfile.ZipFile(result.path) as zf:
            names = zf.namelist()
        assert any(n.endswith("message-store.json") for n in names)
        # Wait for the second task too, then a failing task ends Failed.
        while client.get_message_store_report(second["id"])["status"] != "Completed":
            time.sleep(0.2)
        sim.faults.fail_next_exports(1, "Failed")
        failing = client.create_message_store_report(start - timedelta(days=3), start - timedelta(days=2))
        deadline = time.monotonic() + 10
        while (
            client.get_message_store_report(failing["id"])["status"] not in ("Failed",)
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        assert client.get_message_store_report(failing["id"])["status"] == "Failed"


def test_messages_listing_attachments_and_deletion(make_simulator, tmp_path):
    sim = make_simulator(messages_per_day=6, extensions=6)
    start, end = day_window(1)
    with client_for(sim) as client:
        for ext in sim.account.extensions():
            truth = sim.account.messages(ext["id"], start, end)
            if not truth:
                continue
            got = list(client.iter_messages(ext["id"], start, end))
            assert {m["id"] for m in got} == {
                m["id"] for m in truth if m.get("availability", "Alive") == "Alive"
            }
            with_att = next((m for m in got if m.get("attachments")), None)
            if with_att is None:
                continue
            att = with_att["attachments"][0]
            result = client.download_attachment(att, tmp_path / "att")
            body, _ = sim.account.attachment_content(with_att["id"], att["id"])
            assert result.sha256 == hashlib.sha256(body).hexdigest()
            target = got[0]["id"]
            client.delete_messages(ext["id"], [target])
            assert client.get_message(ext["id"], target)["availability"] == "Deleted"
            client.delete_messages(ext["id"], [target])
            assert client.get_message(ext["id"], target)["availability"] == "Purged"
            with pytest.raises(ValueError):
                client.delete_messages(ext["id"], [])
            return
    raise AssertionError("no extension had a message with an attachment")

"""Failures name their cause: a non-JSON answer is retried then reported in full, and a failed day's
summary shows the exception our code raised (not Dagster's wrapper), whole (a hostile zip with a long entry
path: test_messages_zip_attacks.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from rc_pipeline.backfill import _summarise, format_summary
from rc_pipeline.ringcentral import session as session_module
from rc_pipeline.ringcentral.errors import ServerError
from rc_pipeline.ringcentral.session import BODY_EXCERPT_CHARS, describe_body
from rc_pipeline_tests.clienthelpers import FAST_RETRY, client_for
from rc_pipeline_tests.pipelinehelpers import (
    archive_day,
    message_settings,
    pipeline_for,
    yesterday,
)

CALL_LOG = "/restapi/v1.0/account/~/call-log"


def yesterday_window() -> tuple[datetime, datetime]:
    start = datetime.combine(yesterday(), time(), UTC)
    return start, start + timedelta(days=1)


def html_faults(sim) -> list:
    return [e for e in sim.request_log.snapshot() if e.fault == "html"]


def test_a_maintenance_page_is_retried_like_a_server_error_then_succeeds(simulator):
    simulator.faults.schedule("html", count=2, path_contains="/call-log")
    with client_for(simulator) as client:
        pages = list(client.iter_call_log_pages(*yesterday_window()))
        stats = client.stats()
    assert pages and all(isinstance(p.body, dict) for p in pages)
    assert stats.non_json_answers == 2 and stats.server_errors == 2
    assert stats.retry_sleep_seconds > 0, "a non-JSON answer must back off before the retry"
    faulted = html_faults(simulator)
    assert len(faulted) == 2 and all(e.status == 200 and "/call-log" in e.path for e in faulted)
    assert simulator.faults.pending() == 0


def test_a_persisting_maintenance_page_fails_naming_endpoint_status_type_and_first_bytes(simulator):
    simulator.faults.schedule("html", count=100, path_contains="/call-log")
    with client_for(simulator) as client:
        with pytest.raises(ServerError) as caught:
            list(client.iter_call_log_pages(*yesterday_window()))
        token = client.session.tokens.access_token()
    text = str(caught.value)
    assert text.startswith(f"GET {CALL_LOG} HTTP 200: ")
    assert "text/html" in text and "<!DOCTYPE html>" in text and "Scheduled maintenance" in text
    assert f"through {FAST_RETRY.max_attempts} attempts" in text
    assert len(html_faults(simulator)) == FAST_RETRY.max_attempts, "bounded: no retry past the policy"
    # The path only: no query, no token, no header.
    assert token not in text and "Bearer" not in text and "Authorization" not in text and "?" not in text
    assert caught.value.status == 200


def test_a_long_non_json_body_is_quoted_bounded(simulator, monkeypatch):
    page = "<html>" + "x" * 5000 + "</html>"
    monkeypatch.setattr("rc_pipeline.simulator.gateway.MAINTENANCE_PAGE", page)
    simulator.faults.schedule("html", count=100, path_contains="/service-info")
    with client_for(simulator) as client, pytest.raises(ServerError) as caught:
        client.service_info()
    text = str(caught.value)
    assert "'<html>" + "x" * (BODY_EXCERPT_CHARS - 6) + "'" in text and "x" * BODY_EXCERPT_CHARS not in text
    assert f"{len(page)} bytes in all" in text


def test_credentials_a_proxy_echoes_in_its_page_are_masked():
    page = b"<pre>GET /restapi/v1.0/account/~/call-log?access_token=tok.en-1\nAuthorization: Bearer eyJ.abc-def_ghi=</pre>"
    text = describe_body(httpx.Response(200, headers={"Content-Type": "text/html"}, content=page))
    assert "tok.en-1" not in text and "eyJ.abc-def_ghi" not in text
    assert (
        "access_token=[redacted]" in text and "Bearer [redacted]" in text and text.startswith("text/html; ")
    )


def test_token_answers_forms_and_bare_jwts_in_a_page_are_masked():
    page = (
        b'{"access_token":"AT-1", "refresh_token" : "RT-2"} token=TK-3&client_secret=CS-4 '
        b"assertion eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    )
    text = describe_body(httpx.Response(502, headers={"Content-Type": "text/plain"}, content=page))
    for secret in ("AT-1", "RT-2", "TK-3", "CS-4", "eyJhbGciOiJSUzI1NiJ9", "c2lnbmF0dXJl"):
        assert secret not in text, secret
    assert '"access_token": "[redacted]"' in text and "[redacted JWT]" in text


def test_an_html_fault_waits_for_a_json_request(make_simulator, tmp_path):
    """Strict: a maintenance page only replaces a JSON answer, never a binary download."""
    sim = make_simulator(calls_per_day=60)
    records = sim.account.call_records(*yesterday_window(), view="Detailed")
    recording = next(r["recording"] for r in records if r.get("recording"))
    with client_for(sim) as client:
        client.login()
        sim.faults.schedule("html", count=1)
        client.download_recording(recording, tmp_path / "r.bin")
        assert sim.faults.pending() == 1 and not html_faults(sim), "the download must pass untouched"
        client.service_info()
    assert sim.faults.pending() == 0 and len(html_faults(sim)) == 1


def test_the_summary_of_a_failed_day_names_the_root_cause(make_simulator, tmp_path, monkeypatch):
    """The case users met: call_log_raw answered by a maintenance page through every retry."""
    monkeypatch.setattr(session_module, "RetryPolicy", lambda: FAST_RETRY)
    sim = make_simulator(calls_per_day=5, extensions=3, days=2, rate_limit_scale=0.02)
    sim.faults.schedule("html", count=1000, path_contains="/call-log")
    defs = pipeline_for(sim, str(tmp_path), messages=message_settings(source="listing"))
    day = yesterday()
    result = archive_day(defs, day, raise_on_error=False)
    # The failure Dagster records (what its UI shows first) is what RingCentral answered.
    (failure,) = result.get_step_failure_events()
    top = failure.event_specific_data.error
    assert top.cls_name == "Failure" and f"ServerError: GET {CALL_LOG} HTTP 200" in top.message, top.message
    assert failure.event_specific_data.user_failure_data.metadata["request"].value == f"GET {CALL_LOG}"
    summary = _summarise(day.isoformat(), result)
    table = format_summary([summary])
    assert "DagsterExecutionStepExecutionError" not in table and "Error occurred while executing" not in table
    (reason,) = [f for f in summary.failures if f.startswith("call_log_raw: ")]
    assert reason.startswith(f"call_log_raw: ServerError: GET {CALL_LOG}")
    assert "HTTP 200" in reason and "text/html" in reason and "Scheduled maintenance" in reason
    assert reason in table

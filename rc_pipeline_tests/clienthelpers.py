"""Shared helpers for tests that drive the client against a running simulator."""

from __future__ import annotations

from typing import Any

from rc_pipeline.ringcentral import RetryPolicy, RingCentralClient, RingCentralSettings

# Retries in tests back off in tens of milliseconds: the rules are the same, the clock is shorter.
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.05, max_delay=0.2, default_503_delay=0.1)


def settings_for(sim: Any, **overrides: Any) -> RingCentralSettings:
    values = dict(
        server_url=sim.base_url,
        media_url=sim.media_url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        jwt=sim.jwt,
    )
    values.update(overrides)
    return RingCentralSettings(**values)


def client_for(sim: Any, **kwargs: Any) -> RingCentralClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return RingCentralClient(settings_for(sim), **kwargs)


class RecordingTransport:
    """Wraps the real transport and records every request that actually went on the wire."""

    def __init__(self, inner: Any = None) -> None:
        import httpx

        self.inner = inner or httpx.HTTPTransport(retries=0)
        self.sent: list[tuple[float, str, str, dict[str, str], int]] = []
        self.requests: list[Any] = []

    def handle_request(self, request: Any) -> Any:
        import time

        sent_at = time.monotonic()
        response = self.inner.handle_request(request)
        self.requests.append(request)
        self.sent.append(
            (sent_at, request.method, str(request.url), dict(request.headers), response.status_code)
        )
        return response

    def close(self) -> None:
        self.inner.close()


def point_env_at_simulator(monkeypatch: Any, sim: Any, **extra: str) -> None:
    """Set the RC_* connection variables to a running simulator (plus ``extra``, e.g. RC_TIMEZONE), and
    clear the legacy password-grant and lookback ones, as a user's .env pointing at it would."""
    for key, value in {
        "RC_SERVER_URL": sim.base_url,
        "RC_MEDIA_URL": sim.media_url,
        "RC_CLIENT_ID": sim.client_id,
        "RC_CLIENT_SECRET": sim.client_secret,
        "RC_JWT": sim.jwt,
        **extra,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("RC_USERNAME", "RC_PASSWORD", "RC_EXTENSION", "RC_LOOKBACK_DAYS"):
        monkeypatch.delenv(key, raising=False)

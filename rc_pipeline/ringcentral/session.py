"""One authenticated, throttled, retrying connection to a RingCentral account.

Retry rules (RingCentral's own guidance): 429 waits out the group's penalty (the transport already
paused the group) and retries; 503 honours Retry-After; other 5xx and connection failures back off
exponentially with jitter; any other 4xx is the caller's mistake and raises at once. A success whose
body is not JSON (a proxy's `200 text/html` maintenance page) is a server failing too: it backs off
and retries like a 5xx, and when it persists the error names the endpoint, status, content type and
the first characters of the body. Every retry is bounded.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import logging
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .auth import BearerAuth, TokenManager, origin
from .errors import ForeignHostError, RateLimited, ServerError, TransportError, error_from_body
from .settings import RingCentralSettings
from .shared_budget import DEFAULT_STATE_DIR, budget_key
from .throttle import GroupStats, Throttler, retry_after_seconds
from .transport import ThrottledTransport

log = logging.getLogger("rc_pipeline.ringcentral")

USER_AGENT = "rc-pipeline/0.1 (+https://github.com/rc-pipeline)"
# How much of an unexpected body an error message quotes: enough to recognise a maintenance page or a
# proxy's error, bounded so a large page cannot flood a log line.
BODY_EXCERPT_CHARS = 200


def is_json_answer(response: httpx.Response) -> bool:
    """Whether a (read) answer to a JSON request holds JSON: an empty body (204, a revocation) has
    nothing to parse; a multi-id read answers multipart/mixed, whose parts are JSON."""
    if not response.content:
        return True
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not media_type:
        try:
            jsonlib.loads(response.content)
        except ValueError:
            return False
        return True
    return (
        media_type == "application/json"
        or media_type.endswith("+json")
        or media_type.startswith("multipart/")
    )


# Credentials a debugging proxy may echo back in its page (the request's headers, URL or form, or a
# token answer): `Bearer x`/`Basic x`, `name=x`, `"name": "x"`, and anything shaped like a JWT.
_SECRET_NAMES = r"access_token|refresh_token|assertion|password|client_secret|token|code"
_CREDENTIALS = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"
    rf"|\b({_SECRET_NAMES})=[^&\s\"'<]+"
    rf"|\"({_SECRET_NAMES})\"\s*:\s*\"[^\"]*\""
    r"|\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
)


def _redact(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)} [redacted]"
    if match.group(2):
        return f"{match.group(2)}=[redacted]"
    if match.group(3):
        return f'"{match.group(3)}": "[redacted]"'
    return "[redacted JWT]"


def describe_body(response: httpx.Response) -> str:
    """The content type and the first characters of a body, for an error message. Never a header of
    ours: credentials a proxy echoes in its page are masked."""
    content = response.content
    media_type = response.headers.get("Content-Type") or "no content type"
    excerpt = content[: BODY_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:BODY_EXCERPT_CHARS]
    excerpt = _CREDENTIALS.sub(_redact, excerpt)
    more = f", {len(content)} bytes in all" if len(excerpt.encode()) < len(content) else ""
    return f"{media_type}; body begins {excerpt!r}{more}"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying. Defaults follow RingCentral's guidance (5xx back off from 2 s)."""

    max_attempts: int = 6
    base_delay: float = 2.0
    max_delay: float = 60.0
    max_429_retries: int = 8
    default_503_delay: float = 5.0

    def backoff(self, attempt: int) -> float:
        # "Full jitter": spreads retries of many threads instead of synchronising them.
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class SessionStats:
    # Counts 5xx answers and successes whose body was not JSON (both are retried the same way).
    server_errors: int = 0
    non_json_answers: int = 0
    connection_errors: int = 0
    retry_sleep_seconds: float = 0.0
    bytes_downloaded: int = 0


class ApiSession:
    def __init__(
        self,
        settings: RingCentralSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        throttler: Throttler | None = None,
        timeout: httpx.Timeout | None = None,
        throttle_dir: Path | None = DEFAULT_STATE_DIR,
        throttle_url: str | None = None,
    ) -> None:
        """`throttle_dir` holds the windows shared with other processes (None: throttle alone);
        `throttle_url`, a PostgreSQL URL, holds them instead for processes on any machine. Both are
        ignored when a `throttler` is given, since that throttler already decided."""
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.throttler = throttler or Throttler(
            shared_dir=throttle_dir,
            shared_url=throttle_url,
            shared_key=budget_key(
                settings.server_url,
                settings.client_id,
                settings.username or hashlib.sha256((settings.jwt or "").encode()).hexdigest(),
            ),
        )
        self.stats = SessionStats()
        self._stats_lock = threading.Lock()
        base_paths = tuple(
            httpx.URL(u).path.rstrip("/") for u in (settings.server_url, settings.media_url or "")
        )
        self._transport = ThrottledTransport(
            transport or httpx.HTTPTransport(retries=0), self.throttler, base_paths=base_paths
        )
        self._http = httpx.Client(
            transport=self._transport,
            timeout=timeout or httpx.Timeout(30.0, read=120.0),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self.allowed_origins = frozenset({origin(settings.server_url), origin(settings.media_url or "")})
        self.tokens = TokenManager(
            settings, self._post_token_form, can_send_auth_now=self.throttler.group("Auth").can_send_now
        )
        self._auth = BearerAuth(self.tokens, self.allowed_origins)

    def __repr__(self) -> str:
        return f"ApiSession(server={self.settings.server_url!r}, media={self.settings.media_url!r})"

    # -- URLs ---------------------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.settings.server_url + path_or_url

    def media_url(self, path: str) -> str:
        return (self.settings.media_url or self.settings.server_url) + path

    def check_host(self, url: str) -> None:
        """Refuse any URL outside the configured platform and media hosts, before anything is sent."""
        if origin(url) not in self.allowed_origins:
            raise ForeignHostError(
                f"the API pointed at {httpx.URL(url).host}, which is not the configured platform or "
                "media host; nothing was sent there",
                request=f"GET {httpx.URL(url).path}",
            )

    # -- sending ------------------------------------------------------------------------------------

    def _post_token_form(self, path: str, form: dict[str, str], *, retry: bool = True) -> httpx.Response:
        basic = httpx.BasicAuth(self.settings.client_id, self.settings.client_secret)
        if not retry:
            # Revocation is a courtesy: one attempt, no backoff (the token dies by expiry anyway).
            return self._http.post(self.url(path), data=form, auth=basic, timeout=5.0)
        return self._send("POST", self.url(path), auth=basic, data=form, raise_for_status=False)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send an API request with bearer auth and the retry rules; raise on any final error.

        A request that is not ``idempotent`` (a second one would do more: moving a trashed message on
        to purged) is retried only when it cannot have reached RingCentral: a refused connection or a
        429. After a 5xx or a connection lost mid-request its outcome is unknown, and that is raised.
        """
        url = self.url(path_or_url)
        self.check_host(url)
        return self._send(
            method, url, auth=self._auth, params=params, json=json, headers=headers, idempotent=idempotent
        )

    @contextmanager
    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """Open a streamed response (status checked and retried, body not yet read)."""
        url = self.url(url)
        self.check_host(url)
        response = self._send(method, url, auth=self._auth, headers=headers, stream=True)
        try:
            yield response
        finally:
            response.close()

    def _send(
        self,
        method: str,
        url: str,
        *,
        auth: httpx.Auth,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        raise_for_status: bool = True,
        idempotent: bool = True,
    ) -> httpx.Response:
        label = f"{method} {httpx.URL(url).path}"
        attempt = 0
        throttled = 0
        while True:
            attempt += 1
            request = self._http.build_request(
                method, url, params=params, json=json, data=data, headers=headers
            )
            try:
                response = self._http.send(request, auth=auth, stream=stream)
            except httpx.TransportError as exc:
                with self._stats_lock:
                    self.stats.connection_errors += 1
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if not idempotent and not never_sent:
                    raise TransportError(
                        f"connection lost during a non-repeatable request ({type(exc).__name__}): "
                        "RingCentral may or may not have applied it",
                        request=label,
                    ) from None
                if attempt >= self.retry.max_attempts:
                    raise TransportError(
                        f"connection failed after {attempt} attempts: {type(exc).__name__}", request=label
                    ) from None
                self._sleep(self.retry.backoff(attempt), label, type(exc).__name__)
                continue

            status = response.status_code
            if status == 429:
                throttled += 1
                if throttled > self.retry.max_429_retries:
                    return self._fail(response, label, stream, RateLimited)
                # The transport already paused the group for Retry-After; the next send waits it out.
                self._discard(response, stream)
                attempt -= 1
                continue
            if status >= 500:
                with self._stats_lock:
                    self.stats.server_errors += 1
                if attempt >= self.retry.max_attempts or not idempotent:
                    return self._fail(response, label, stream, ServerError)
                if status == 503:
                    delay = retry_after_seconds(response.headers, self.retry.default_503_delay)
                else:
                    delay = self.retry.backoff(attempt)
                self._discard(response, stream)
                self._sleep(delay, label, f"HTTP {status}")
                continue
            if status >= 400 and raise_for_status:
                return self._fail(response, label, stream, None)
            if not stream and status < 300 and not is_json_answer(response):
                with self._stats_lock:
                    self.stats.server_errors += 1
                    self.stats.non_json_answers += 1
                if attempt >= self.retry.max_attempts or not idempotent:
                    tries = f"through {attempt} attempts" if idempotent else "(not repeatable)"
                    raise ServerError(
                        f"answered with something other than JSON {tries}: {describe_body(response)}",
                        status=status,
                        request=label,
                    )
                self._sleep(self.retry.backoff(attempt), label, f"HTTP {status} body is not JSON")
                continue
            return response

    def _fail(self, response: httpx.Response, label: str, stream: bool, kind: type | None) -> httpx.Response:
        if stream:
            response.read()
            response.close()
        try:
            body = response.json()
        except ValueError:
            body = None
        err = error_from_body(response.status_code, body, label)
        if body is None and response.content:
            # Not RingCentral's JSON error (a proxy's page): say what came back instead.
            kind = kind or type(err)
            err = kind(f"{err.message} ({describe_body(response)})", status=err.status, request=label)
        if kind is not None and not isinstance(err, kind):
            err = kind(err.message, status=err.status, error_code=err.error_code, request=label)
        raise err

    @staticmethod
    def _discard(response: httpx.Response, stream: bool) -> None:
        if stream:
            response.close()

    def _sleep(self, seconds: float, label: str, why: str) -> None:
        log.warning("%s: %s, retrying in %.1fs", label, why, seconds)
        with self._stats_lock:
            self.stats.retry_sleep_seconds += seconds
        time.sleep(seconds)

    def count_download(self, nbytes: int) -> None:
        with self._stats_lock:
            self.stats.bytes_downloaded += nbytes

    def group_stats(self) -> dict[str, GroupStats]:
        return self.throttler.snapshot()

    def close(self, *, revoke: bool = True) -> None:
        if revoke:
            self.tokens.revoke()
        self._http.close()

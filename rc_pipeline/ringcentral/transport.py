"""The httpx transport every request crosses: throttling happens here, once, for every byte sent.

Putting the limiter in the transport (not around client methods) means token calls, auth-flow retries,
pages, downloads and resumed downloads all spend from the same per-group budget, and a test can swap
the inner transport without losing any of it.
"""

from __future__ import annotations

import logging

import httpx

from rc_pipeline.apispec import match_operation

from .throttle import DEFAULT_PENALTY_SECONDS, Throttler, retry_after_seconds

log = logging.getLogger("rc_pipeline.ringcentral")

# Requests to operations outside our table are rare (a future endpoint); Heavy is the safe guess.
FALLBACK_GROUP = "Heavy"


def group_for(method: str, path: str, base_path: str = "") -> str:
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :] or "/"
    op = match_operation(method, path)
    return op.throttling_group if op else FALLBACK_GROUP


class ThrottledTransport(httpx.BaseTransport):
    def __init__(
        self,
        inner: httpx.BaseTransport,
        throttler: Throttler,
        *,
        base_paths: tuple[str, ...] = (),
        default_penalty: float = DEFAULT_PENALTY_SECONDS,
    ) -> None:
        self._inner = inner
        self.throttler = throttler
        self._base_paths = tuple(p for p in base_paths if p)
        self._default_penalty = default_penalty

    def _group(self, request: httpx.Request) -> str:
        path = request.url.path
        for base in self._base_paths:
            if path.startswith(base):
                return group_for(request.method, path, base)
        return group_for(request.method, path)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        group = self._group(request)
        limiter = self.throttler.group(group)
        waited = limiter.acquire()
        if waited > 0.5:
            log.info("throttle: waited %.1fs for a %s slot", waited, group)
        response = self._inner.handle_request(request)
        self.throttler.observe_headers(group, response.headers)
        if response.status_code == 429:
            # Whatever limiter answered (ours or an account/IP one without headers), stop the group
            # for the full Retry-After: a request during the penalty would restart it.
            penalty = retry_after_seconds(response.headers, self._default_penalty)
            if "X-Rate-Limit-Group" in response.headers or "X-Rate-Limit-Limit" in response.headers:
                limiter.penalize(penalty)
            else:
                self.throttler.penalize_all(penalty)
            log.warning(
                "429 on %s %s: %s group paused %.1fs", request.method, request.url.path, group, penalty
            )
        response.extensions["rc_throttling_group"] = group
        log.debug("%s %s -> %s [%s]", request.method, request.url.path, response.status_code, group)
        return response

    def close(self) -> None:
        self._inner.close()

"""OAuth for RingCentral: JWT bearer grant, legacy password grant, refresh, revoke.

`TokenManager` owns the token and renews it under a lock so concurrent threads trigger one refresh.
`BearerAuth` is an httpx auth flow: it adds the bearer header (only for the configured hosts) and, on a
401 saying the token is expired or invalid, renews it and retries (a few times at most, each for a
token the server refused).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx

from .errors import AuthError, ForeignHostError, RingCentralError, error_from_body
from .settings import RingCentralSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/restapi/oauth/token"
REVOKE_PATH = "/restapi/oauth/revoke"
# 401 codes that a new token cures: expired (OAU-128), corrupted/unknown (OAU-129), unparsable (OAU-149),
# not found (OAU-213: revoked, or replaced by a refresh). RingCentral puts them under a top-level
# "TokenInvalid" errorCode, inside errors[]; older answers carry them at the top level.
RENEWABLE_401 = {"OAU-128", "OAU-129", "OAU-149", "OAU-213"}


def error_codes(response: httpx.Response) -> set[str]:
    """Every errorCode in a RingCentral error body, top level and errors[] alike."""
    try:
        body = response.json()
    except ValueError:
        return set()
    if not isinstance(body, dict):
        return set()
    codes = {body.get("errorCode")}
    codes.update(e.get("errorCode") for e in body.get("errors") or [] if isinstance(e, dict))
    return {c for c in codes if isinstance(c, str)}


REFRESH_AHEAD_SECONDS = 60.0
# Renewals one request may make after 401s for dead tokens (then its last 401 is final).
MAX_RENEWALS = 3


@dataclass
class Token:
    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: float | None = None
    lifetime: float = 3600.0
    owner_id: str | None = None

    def needs_renewal(self, now: float) -> bool:
        # Refresh ~60 s ahead, but never more than a quarter of the lifetime ahead (short-lived tokens
        # in tests would otherwise be refreshed on every call and exhaust the Auth group).
        ahead = min(REFRESH_AHEAD_SECONDS, self.lifetime / 4)
        return now >= self.expires_at - ahead

    def can_refresh(self, now: float) -> bool:
        return bool(self.refresh_token) and (self.refresh_expires_at is None or now < self.refresh_expires_at)


def origin(url: httpx.URL | str) -> str:
    u = httpx.URL(str(url))
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return f"{u.scheme}://{u.host}:{port}"


class TokenManager:
    """Holds the current token; `access_token()` returns a valid one, renewing when needed."""

    def __init__(
        self,
        settings: RingCentralSettings,
        post_form: Callable[..., httpx.Response],
        *,
        clock: Callable[[], float] = time.monotonic,
        can_send_auth_now: Callable[[], bool] = lambda: True,
    ) -> None:
        self._settings = settings
        self._post_form = post_form
        self._can_send_auth_now = can_send_auth_now
        self._clock = clock
        self._token: Token | None = None
        self._lock = threading.Lock()
        self.logins = 0
        self.refreshes = 0

    def __repr__(self) -> str:
        state = "none" if self._token is None else "held"
        return f"TokenManager(server={self._settings.server_url!r}, token={state})"

    @property
    def owner_id(self) -> str | None:
        return self._token.owner_id if self._token else None

    def access_token(self) -> str:
        with self._lock:
            now = self._clock()
            if self._token is None or self._token.needs_renewal(now):
                self._renew(now)
            assert self._token is not None
            return self._token.access_token

    def invalidate(self, access_token: str) -> None:
        """The server rejected `access_token`: force a renewal unless another thread already did one."""
        with self._lock:
            if self._token is not None and self._token.access_token == access_token:
                self._token.expires_at = float("-inf")

    def _renew(self, now: float) -> None:
        token = self._token
        if token is not None and token.can_refresh(now):
            try:
                self._grant({"grant_type": "refresh_token", "refresh_token": token.refresh_token or ""})
                self.refreshes += 1
                return
            except AuthError:
                # Refresh tokens are single-use and expire; the primary credential still works.
                self._token = None
        self._login()

    def _login(self) -> None:
        s = self._settings
        if s.jwt:
            form = {"grant_type": JWT_GRANT, "assertion": s.jwt}
        else:
            form = {"grant_type": "password", "username": s.username or "", "password": s.password or ""}
            if s.extension:
                form["extension"] = s.extension
        self._grant(form)
        self.logins += 1

    def _grant(self, form: dict[str, str]) -> None:
        response = self._post_form(TOKEN_PATH, form)
        request = f"POST {TOKEN_PATH} ({form['grant_type'].rsplit(':', 1)[-1]} grant)"
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            err = error_from_body(response.status_code, body, request)
            raise AuthError(
                err.message,
                status=err.status,
                error_code=err.error_code,
                parameter_name=err.parameter_name,
                request=request,
                errors=err.errors,
            )
        now = self._clock()
        lifetime = float(body.get("expires_in") or 3600)
        refresh_life = body.get("refresh_token_expires_in")
        self._token = Token(
            access_token=body["access_token"],
            expires_at=now + lifetime,
            refresh_token=body.get("refresh_token"),
            refresh_expires_at=now + float(refresh_life) if refresh_life else None,
            lifetime=lifetime,
            owner_id=str(body["owner_id"]) if body.get("owner_id") is not None else None,
        )

    def revoke(self) -> None:
        """End the session on the server. Errors are ignored: the token dies by expiry anyway."""
        with self._lock:
            token, self._token = self._token, None
        if token is None or not self._can_send_auth_now():
            # Revoking must not wait out (or restart) an Auth penalty at process exit.
            return
        try:
            self._post_form(REVOKE_PATH, {"token": token.access_token}, retry=False)
        except (RingCentralError, httpx.HTTPError):
            pass


class BearerAuth(httpx.Auth):
    """Adds `Authorization: Bearer` for the configured hosts only; renews and retries on a dead token."""

    def __init__(self, tokens: TokenManager, allowed_origins: frozenset[str]) -> None:
        self._tokens = tokens
        self._allowed = allowed_origins

    def __repr__(self) -> str:
        return f"BearerAuth(hosts={sorted(self._allowed)})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin(request.url) not in self._allowed:
            raise ForeignHostError(
                f"refusing to send the bearer token to {request.url.host}: not the configured platform "
                "or media host",
                request=f"{request.method} {request.url.path}",
            )
        token = self._tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        # A renewed token can die too before the retry reaches the server (another thread's request
        # saw it expire and renewed it again): each renewal is for a token the server refused, and
        # their number is bounded so a server refusing every token ends with its 401.
        for _ in range(MAX_RENEWALS):
            response = yield request
            if response.status_code != 401:
                return
            response.read()
            if not RENEWABLE_401 & error_codes(response):
                return
            self._tokens.invalidate(token)
            token = self._tokens.access_token()
            request.headers["Authorization"] = f"Bearer {token}"
        yield request

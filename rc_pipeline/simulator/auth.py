"""OAuth sessions: token issue, refresh, expiry and revocation, as RingCentral enforces them."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass


@dataclass
class Session:
    session_id: str
    owner_id: int
    client_id: str
    endpoint_id: str
    scope: str
    access_token: str = ""
    access_expires: float = 0.0
    refresh_token: str = ""
    refresh_expires: float = 0.0
    revoked: bool = False


@dataclass(frozen=True)
class TokenCheck:
    """Outcome of checking a bearer token: a session, or the RingCentral error to answer with.

    `error_code` is the specific OAU-xxx code; RingCentral nests it in `errors[]` under a top-level
    "TokenInvalid" (see Gateway), so a client reading only the top level cannot tell why.
    """

    session: Session | None
    error_code: str = ""
    message: str = ""


EXPIRED = ("OAU-128", "Access token expired")
CORRUPTED = ("OAU-129", "Access token corrupted")
# RingCentral no longer knows a token that was revoked or replaced by a refresh: "not found".
NOT_FOUND = ("OAU-213", "Token not found")


class TokenStore:
    """Thread-safe registry of sessions keyed by their live tokens."""

    def __init__(self, token_ttl: float, refresh_ttl: float) -> None:
        self.token_ttl = token_ttl
        self.refresh_ttl = refresh_ttl
        self._by_access: dict[str, Session] = {}
        self._by_refresh: dict[str, Session] = {}
        # Access tokens that were revoked or replaced. They answer OAU-213, not OAU-129: RingCentral
        # tells a token it has forgotten apart from one it never issued.
        self._retired: set[str] = set()
        # Every token ever handed out, access and refresh, so a test can look for them where they must
        # never be (files, logs).
        self._issued: list[str] = []
        self._lock = threading.Lock()

    @staticmethod
    def _token(prefix: str) -> str:
        # RingCentral tokens are opaque base64-ish strings; a prefix keeps access and refresh apart in logs.
        return prefix + secrets.token_urlsafe(48)

    def issue(self, owner_id: int, client_id: str, scope: str) -> Session:
        session = Session(
            session_id=secrets.token_hex(8),
            owner_id=owner_id,
            client_id=client_id,
            endpoint_id=secrets.token_urlsafe(16),
            scope=scope,
        )
        with self._lock:
            self._rotate(session)
        return session

    def _rotate(self, session: Session) -> None:
        now = time.monotonic()
        if session.access_token:
            self._by_access.pop(session.access_token, None)
            self._retired.add(session.access_token)
        if session.refresh_token:
            self._by_refresh.pop(session.refresh_token, None)
        session.access_token = self._token("U1BCMDFQMDRQQVMwMX")
        session.refresh_token = self._token("U1BCMDFQMDRQQVMwMXJ")
        session.access_expires = now + self.token_ttl
        session.refresh_expires = now + self.refresh_ttl
        self._by_access[session.access_token] = session
        self._by_refresh[session.refresh_token] = session
        self._issued += [session.access_token, session.refresh_token]

    def issued(self) -> list[str]:
        """Every access and refresh token issued so far, in order."""
        with self._lock:
            return list(self._issued)

    def refresh(self, refresh_token: str, client_id: str) -> Session | None:
        """Exchange a refresh token (single use); the old access token dies at once."""
        with self._lock:
            session = self._by_refresh.get(refresh_token)
            if (
                session is None
                or session.revoked
                or session.client_id != client_id
                or session.refresh_expires <= time.monotonic()
            ):
                return None
            self._rotate(session)
            return session

    def check(self, access_token: str) -> TokenCheck:
        with self._lock:
            session = self._by_access.get(access_token)
            if session is None:
                return TokenCheck(None, *(NOT_FOUND if access_token in self._retired else CORRUPTED))
            if session.access_expires <= time.monotonic():
                return TokenCheck(None, *EXPIRED)
            return TokenCheck(session)

    def age(self, session: Session) -> float:
        """Seconds since the session's current access token was issued."""
        return time.monotonic() - (session.access_expires - self.token_ttl)

    def expire(self, session: Session) -> None:
        """End the session's access token now, as its lifetime running out would (OAU-128 from now on);
        its refresh token still works."""
        with self._lock:
            session.access_expires = min(session.access_expires, time.monotonic())

    def revoke(self, token: str) -> bool:
        """End the session owning an access or refresh token. False when the token is unknown."""
        with self._lock:
            session = self._by_access.get(token) or self._by_refresh.get(token)
            if session is None:
                return False
            session.revoked = True
            self._by_access.pop(session.access_token, None)
            self._by_refresh.pop(session.refresh_token, None)
            self._retired.add(session.access_token)
            return True

    def expires_in(self, session: Session) -> int:
        return max(0, int(round(session.access_expires - time.monotonic())))

    def refresh_expires_in(self, session: Session) -> int:
        return max(0, int(round(session.refresh_expires - time.monotonic())))

"""Connection settings for one RingCentral account.

The client never reads the environment: `rc_pipeline.settings.ringcentral_settings()` builds these from
the RC_* variables, and anything else (tests, a Dagster resource) may build them directly.

Secrets (client secret, JWT, password) never appear in a repr: the dataclass fields are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .errors import SettingsError

PRODUCTION_SERVER = "https://platform.ringcentral.com"


def derive_media_url(server_url: str) -> str:
    """The media host paired with a platform host.

    RingCentral serves binary content (recordings, attachments) from media.* beside platform.*
    (platform.ringcentral.com -> media.ringcentral.com, platform.devtest... -> media.devtest...).
    Any other host (a proxy, the simulator) serves both from itself unless RC_MEDIA_URL says otherwise.
    """
    parts = urlsplit(server_url)
    host = parts.hostname or ""
    if host.startswith("platform."):
        netloc = parts.netloc.replace("platform.", "media.", 1)
        return urlunsplit((parts.scheme, netloc, "", "", ""))
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def check_url(name: str, value: str) -> str:
    """`value` without a trailing slash; SettingsError naming `name` unless it is a plain http(s) URL."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name}={value!r} must be an http(s) URL such as {PRODUCTION_SERVER}")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name}={value!r} must not carry a query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class RingCentralSettings:
    """Where the account lives and how the app logs in (JWT, or the legacy password grant)."""

    server_url: str
    client_id: str
    client_secret: str = field(repr=False)
    jwt: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    extension: str | None = None
    media_url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_url", check_url("RC_SERVER_URL", self.server_url))
        media = self.media_url or derive_media_url(self.server_url)
        object.__setattr__(self, "media_url", check_url("RC_MEDIA_URL", media))
        if not self.client_id:
            raise SettingsError("RC_CLIENT_ID is required")
        if not self.client_secret:
            raise SettingsError("RC_CLIENT_SECRET is required")
        password_flow = any((self.username, self.password))
        if self.jwt and password_flow:
            raise SettingsError(
                "RC_JWT and RC_USERNAME/RC_PASSWORD are both set: choose one login method "
                "(JWT is the current one; the password grant is legacy)"
            )
        if not self.jwt and not password_flow:
            raise SettingsError(
                "RC_JWT is required (or RC_USERNAME and RC_PASSWORD for the legacy password grant)"
            )
        if password_flow and not (self.username and self.password):
            missing = "RC_PASSWORD" if self.username else "RC_USERNAME"
            raise SettingsError(f"{missing} is required with the legacy password grant")

    @property
    def grant(self) -> str:
        return "jwt" if self.jwt else "password"

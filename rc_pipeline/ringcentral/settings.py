"""Connection settings for one RingCentral account, read from the environment.

Secrets (client secret, JWT, password) never appear in a repr: the dataclass fields are excluded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http(s) URL such as {PRODUCTION_SERVER}, got {value!r}")
    if parts.query or parts.fragment:
        raise SettingsError(f"{name} must not carry a query or fragment")
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
        object.__setattr__(self, "server_url", _check_url("RC_SERVER_URL", self.server_url))
        media = self.media_url or derive_media_url(self.server_url)
        object.__setattr__(self, "media_url", _check_url("RC_MEDIA_URL", media))
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RingCentralSettings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        server = get("RC_SERVER_URL")
        if server is None:
            raise SettingsError(
                "RC_SERVER_URL is required (https://platform.ringcentral.com for production, "
                "or the URL `rc-pipeline simulator` prints)"
            )
        return cls(
            server_url=server,
            media_url=get("RC_MEDIA_URL"),
            client_id=get("RC_CLIENT_ID") or "",
            client_secret=get("RC_CLIENT_SECRET") or "",
            jwt=get("RC_JWT"),
            username=get("RC_USERNAME"),
            password=get("RC_PASSWORD"),
            extension=get("RC_EXTENSION"),
        )

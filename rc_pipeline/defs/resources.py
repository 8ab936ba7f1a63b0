"""Dagster resources: the RingCentral client and the archive storage, configured from the environment."""

from __future__ import annotations

import atexit
import os
import threading

import dagster as dg
from pydantic import PrivateAttr

from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings
from rc_pipeline.storage import ArchiveStorage

_CLIENTS: dict[RingCentralSettings, RingCentralClient] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(settings: RingCentralSettings) -> RingCentralClient:
    """One client per account per process.

    RingCentral budgets requests per user and app, and allows 5 logins a minute: every run and step in
    a process must share one token and one throttle, not log in afresh. Closed (token revoked) at exit.
    """
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(settings)
        if client is None:
            client = RingCentralClient(settings)
            _CLIENTS[settings] = client
        return client


def close_shared_clients(*, revoke: bool = True) -> None:
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        client.session.close(revoke=revoke)


# At exit, close without revoking: RingCentral allows 5 Auth requests a minute per app, and every
# Dagster run is its own process; a revoke per run would starve the next run's login. A token held only
# by a process that has ended is never used again and expires within the hour.
atexit.register(close_shared_clients, revoke=False)


class RingCentralResource(dg.ConfigurableResource):
    """A RingCentral account. Secrets arrive through EnvVar and never reach logs or run config."""

    server_url: str
    client_id: str
    client_secret: str
    jwt: str | None = None
    username: str | None = None
    password: str | None = None
    extension: str | None = None
    media_url: str | None = None

    _client: RingCentralClient | None = PrivateAttr(default=None)

    def settings(self) -> RingCentralSettings:
        return RingCentralSettings(
            server_url=self.server_url,
            media_url=self.media_url or None,
            client_id=self.client_id,
            client_secret=self.client_secret,
            jwt=self.jwt or None,
            username=self.username or None,
            password=self.password or None,
            extension=self.extension or None,
        )

    def get_client(self) -> RingCentralClient:
        if self._client is None:
            self._client = shared_client(self.settings())
        return self._client


class ArchiveResource(dg.ConfigurableResource):
    """Where the archive lives: a local path (default `data/`) or an fsspec URL such as s3://bucket/prefix."""

    root: str = "data"
    warehouse_path: str | None = None

    def storage(self) -> ArchiveStorage:
        return ArchiveStorage(self.root, warehouse_path=self.warehouse_path or None)


_RC_OPTIONAL = {
    "jwt": "RC_JWT",
    "username": "RC_USERNAME",
    "password": "RC_PASSWORD",
    "extension": "RC_EXTENSION",
    "media_url": "RC_MEDIA_URL",
}


def ringcentral_from_env() -> RingCentralResource:
    """Wire every RC_* setting through EnvVar; optional ones only when set (JWT or password login)."""
    optional = {field: dg.EnvVar(var) for field, var in _RC_OPTIONAL.items() if os.environ.get(var)}
    return RingCentralResource(
        server_url=dg.EnvVar("RC_SERVER_URL"),
        client_id=dg.EnvVar("RC_CLIENT_ID"),
        client_secret=dg.EnvVar("RC_CLIENT_SECRET"),
        **optional,
    )


def archive_storage_from_env() -> ArchiveStorage:
    """The configured archive, for code outside Dagster (CLI): plain values, not EnvVar references."""
    return ArchiveStorage(
        os.environ.get("RC_ARCHIVE_ROOT", "").strip() or "data",
        warehouse_path=os.environ.get("RC_WAREHOUSE_PATH", "").strip() or None,
    )


def archive_from_env() -> ArchiveResource:
    kwargs: dict[str, object] = {}
    if os.environ.get("RC_ARCHIVE_ROOT"):
        kwargs["root"] = dg.EnvVar("RC_ARCHIVE_ROOT")
    if os.environ.get("RC_WAREHOUSE_PATH"):
        kwargs["warehouse_path"] = dg.EnvVar("RC_WAREHOUSE_PATH")
    return ArchiveResource(**kwargs)

"""Dagster resources: the RingCentral client and the archive storage, configured from the environment."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings
from rc_pipeline.settings import SETTINGS, ArchiveSettings, read, ringcentral_settings
from rc_pipeline.storage import ArchiveStorage

_CLIENTS: dict[tuple[RingCentralSettings, Path | None, str | None], RingCentralClient] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(
    settings: RingCentralSettings, throttle_dir: Path | None, throttle_url: str | None = None
) -> RingCentralClient:
    """One client per account per process.

    RingCentral budgets requests per user and app, and allows 5 logins a minute: every run and step in
    a process must share one token and one throttle, not log in afresh. Closed (token revoked) at exit.
    """
    key = (settings, throttle_dir, throttle_url)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = RingCentralClient(settings, throttle_dir=throttle_dir, throttle_url=throttle_url)
            _CLIENTS[key] = client
        return client


def instance_database_url(instance: dg.DagsterInstance | None) -> str | None:
    """The PostgreSQL URL of the instance's run storage, or None when it is not PostgreSQL.

    An instance on PostgreSQL is how runs spread over machines (a Kubernetes run launcher, several
    code-location replicas), so its database is where their shared rate-limit budget belongs.
    """
    try:
        from dagster_postgres import PostgresRunStorage
    except ImportError:  # without the [postgres] extra the instance cannot be on PostgreSQL either
        return None
    storage = instance.run_storage if instance is not None else None
    return storage.postgres_url if isinstance(storage, PostgresRunStorage) else None


def shared_clients() -> list[RingCentralClient]:
    """The clients this process holds (one per account and budget), e.g. to report their statistics."""
    with _CLIENTS_LOCK:
        return list(_CLIENTS.values())


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
    # Where this machine's processes share the rate-limit budget (RC_THROTTLE_DIR; "none" = alone).
    throttle_dir: str | None = None
    # A PostgreSQL database sharing it across machines (RC_THROTTLE_URL); unset: the instance's own
    # database when the instance is on PostgreSQL.
    throttle_url: str | None = None

    _client: RingCentralClient | None = PrivateAttr(default=None)
    _instance_url: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._instance_url = instance_database_url(context.instance)

    def _declared(self) -> dict[str, str]:
        # The values as the variables they stand for, so the settings module checks them as it would
        # check the environment (one rule, one error naming the variable).
        # Empty counts: an empty RC_THROTTLE_DIR means "throttle alone", not "use the default".
        return {
            var: str(getattr(self, name))
            for name, var in CONNECTION_FIELDS.items()
            if getattr(self, name) is not None
        }

    def settings(self) -> RingCentralSettings:
        return ringcentral_settings(self._declared())

    def get_client(self) -> RingCentralClient:
        if self._client is None:
            declared = self._declared()
            self._client = shared_client(
                self.settings(),
                read("RC_THROTTLE_DIR", declared),
                read("RC_THROTTLE_URL", declared) or self._instance_url,
            )
        return self._client


class ArchiveResource(dg.ConfigurableResource):
    """Where the archive lives: a local path (default `data/`) or an fsspec URL such as s3://bucket/prefix."""

    root: str = SETTINGS["RC_ARCHIVE_ROOT"].default
    warehouse_path: str | None = None
    # WORM records (S3 Object Lock): RC_WORM_MODE and RC_WORM_RETAIN_DAYS, as the variables spell them.
    worm_mode: str | None = None
    worm_retain_days: str | None = None

    def storage(self) -> ArchiveStorage:
        return archive_storage(
            ArchiveSettings.from_env(
                {
                    var: str(getattr(self, name))
                    for name, var in ARCHIVE_FIELDS.items()
                    if getattr(self, name) is not None
                }
            )
        )


# Resource field -> the variable it is read from (declared, typed and checked in rc_pipeline.settings).
CONNECTION_FIELDS = {
    "server_url": "RC_SERVER_URL",
    "media_url": "RC_MEDIA_URL",
    "client_id": "RC_CLIENT_ID",
    "client_secret": "RC_CLIENT_SECRET",
    "jwt": "RC_JWT",
    "username": "RC_USERNAME",
    "password": "RC_PASSWORD",
    "extension": "RC_EXTENSION",
    "throttle_dir": "RC_THROTTLE_DIR",
    "throttle_url": "RC_THROTTLE_URL",
}
ARCHIVE_FIELDS = {
    "root": "RC_ARCHIVE_ROOT",
    "warehouse_path": "RC_WAREHOUSE_PATH",
    "worm_mode": "RC_WORM_MODE",
    "worm_retain_days": "RC_WORM_RETAIN_DAYS",
}


def _env_vars(fields: dict[str, str]) -> dict[str, dg.EnvVar]:
    """EnvVar for every required variable, and for the optional ones this deployment sets.

    An unset optional EnvVar would fail the run, while the field's default is what an unset variable
    means; a required one that is missing fails the run naming the variable.
    """
    return {
        name: dg.EnvVar(var)
        for name, var in fields.items()
        if SETTINGS[var].required or os.environ.get(var) is not None
    }


def ringcentral_from_env() -> RingCentralResource:
    return RingCentralResource(**_env_vars(CONNECTION_FIELDS))


def archive_from_env() -> ArchiveResource:
    return ArchiveResource(**_env_vars(ARCHIVE_FIELDS))


def archive_storage(settings: ArchiveSettings) -> ArchiveStorage:
    """The archive the settings name, locking every record it writes when WORM is on."""
    return ArchiveStorage(settings.root, warehouse_path=settings.warehouse_path, worm=settings.worm)


def archive_storage_from_env() -> ArchiveStorage:
    """The configured archive, for code outside Dagster (CLI): plain values, not EnvVar references."""
    return archive_storage(ArchiveSettings.from_env())


def simulator_resources(sim: Any, root: str, **ringcentral: Any) -> dict[str, object]:
    """Resources for a running simulator (demo, tests): plain values, nothing read from RC_*.
    ``ringcentral`` sets more fields of the RingCentral resource (e.g. ``throttle_dir="none"``)."""
    return {
        "ringcentral": RingCentralResource(
            server_url=sim.base_url,
            media_url=sim.media_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            jwt=sim.jwt,
            **ringcentral,
        ),
        "archive": ArchiveResource(root=root),
    }


def resource_definitions(resources: dict[str, object] | None = None) -> dg.Definitions:
    """The resources every domain's assets ask for, and how runs execute."""
    return dg.Definitions(
        resources=resources or {"ringcentral": ringcentral_from_env(), "archive": archive_from_env()},
        # One process per run: steps share one RingCentral client (one login, one throttle), and the
        # work is bound by RingCentral's rate limits, not by local CPU.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return resource_definitions()

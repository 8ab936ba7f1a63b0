"""What every control command line needs: the operator, the archive, a client of the account."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from rc_pipeline.control import audit
from rc_pipeline.ringcentral import RingCentralClient
from rc_pipeline.settings import ArchiveSettings, read, ringcentral_settings
from rc_pipeline.storage import ArchiveStorage


def add_operator_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--operator", help="who runs this, for the audit trail (default RC_OPERATOR, the OS user)"
    )


def operator_of(args: argparse.Namespace) -> str:
    """--operator, else RC_OPERATOR, else the OS account: who the audit trail says acted."""
    return args.operator or read("RC_OPERATOR") or audit.default_operator()


def archive() -> ArchiveStorage:
    settings = ArchiveSettings.from_env()
    return ArchiveStorage(settings.root, warehouse_path=settings.warehouse_path, worm=settings.worm)


@contextlib.contextmanager
def account_client() -> Iterator[RingCentralClient]:
    """A client of the configured account; closing revokes its token."""
    settings = ArchiveSettings.from_env()
    client = RingCentralClient(
        ringcentral_settings(), throttle_dir=settings.throttle_dir, throttle_url=settings.throttle_url
    )
    with client:
        yield client

"""RingCentral REST API client: auth, throttling, paging, downloads, errors. No Dagster here."""

from .client import CALL_LOG_VIEWS, MESSAGE_TYPES, ClientStats, RingCentralClient
from .download import DownloadResult, download_to_file
from .errors import (
    AuthError,
    DownloadError,
    ForeignHostError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    RingCentralError,
    ServerError,
    SettingsError,
    SyncRequired,
    TransportError,
)
from .multipart import BulkItem
from .paging import Page, iso_utc, iter_pages
from .session import ApiSession, RetryPolicy
from .settings import RingCentralSettings, derive_media_url
from .throttle import DEFAULT_LIMITS, Throttler

__all__ = [
    "CALL_LOG_VIEWS",
    "DEFAULT_LIMITS",
    "MESSAGE_TYPES",
    "ApiSession",
    "AuthError",
    "BulkItem",
    "ClientStats",
    "DownloadError",
    "DownloadResult",
    "ForeignHostError",
    "InvalidRequest",
    "NotFound",
    "Page",
    "PermissionDenied",
    "RateLimited",
    "RetryPolicy",
    "RingCentralClient",
    "RingCentralError",
    "RingCentralSettings",
    "ServerError",
    "SettingsError",
    "SyncRequired",
    "Throttler",
    "TransportError",
    "derive_media_url",
    "download_to_file",
    "iso_utc",
    "iter_pages",
]

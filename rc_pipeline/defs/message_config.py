"""Message-store settings: which archive path runs, and how export tasks are retried and bounded.

Read once when the code location loads (the path decides which assets and sensor exist), from
RC_* variables; a bad value is an error naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import dagster as dg

from rc_pipeline.storage.zipsafe import ZipLimits

from .config import ConfigError

MESSAGE_SOURCES = ("export", "listing")
# Where build_definitions leaves these settings for `rc-pipeline archive` to find.
DEFINITIONS_METADATA_KEY = "rc_pipeline/message_store"


@dataclass(frozen=True)
class MessageStoreConfig:
    # "export": the asynchronous message-store export (admin app with ReadMessages);
    # "listing": each extension's message store listed page by page (no admin rights needed).
    source: str = "export"
    # RingCentral runs at most 2 export tasks per account at once; the rest wait in our queue.
    max_running_exports: int = 2
    # Submissions per partition before the failure is surfaced (the first one included).
    max_attempts: int = 3
    # Wait before re-submitting after a failed task; doubled for every further failure.
    retry_backoff_seconds: float = 60.0
    # A task still Accepted/InProgress this long after submission is treated as failed.
    task_timeout_seconds: float = 6 * 3600.0
    # Sensor interval, and the pause between polls of `rc-pipeline archive`.
    poll_seconds: float = 30.0
    # Compare the export's message ids with a per-extension listing (an API call per extension).
    reconcile: bool = True
    zip_max_total_bytes: int = ZipLimits.max_total_bytes
    zip_max_ratio: float = ZipLimits.max_ratio
    zip_max_export_bytes: int = ZipLimits.max_export_bytes
    zip_max_json_bytes: int = ZipLimits.max_json_bytes
    # How long `rc-pipeline archive` waits for the day's exports before reporting them as pending.
    archive_deadline_seconds: float = 24 * 3600.0

    def __post_init__(self) -> None:
        if self.source not in MESSAGE_SOURCES:
            raise ConfigError(
                f"RC_MESSAGE_SOURCE={self.source!r} must be one of {', '.join(MESSAGE_SOURCES)}"
            )

    @property
    def zip_limits(self) -> ZipLimits:
        return ZipLimits(
            max_total_bytes=self.zip_max_total_bytes,
            max_ratio=self.zip_max_ratio,
            max_export_bytes=self.zip_max_export_bytes,
            max_json_bytes=self.zip_max_json_bytes,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MessageStoreConfig:
        env = dict(os.environ if environ is None else environ)
        defaults = cls()
        return cls(
            source=(env.get("RC_MESSAGE_SOURCE", "").strip().lower() or defaults.source),
            max_running_exports=int(
                _number(env, "RC_EXPORT_MAX_RUNNING", defaults.max_running_exports, 1, 10)
            ),
            max_attempts=int(_number(env, "RC_EXPORT_MAX_ATTEMPTS", defaults.max_attempts, 1, 20)),
            retry_backoff_seconds=_number(
                env, "RC_EXPORT_RETRY_BACKOFF_SECONDS", defaults.retry_backoff_seconds, 0, 86_400
            ),
            task_timeout_seconds=60
            * _number(env, "RC_EXPORT_TIMEOUT_MINUTES", defaults.task_timeout_seconds / 60, 1, 7 * 1440),
            poll_seconds=_number(env, "RC_EXPORT_POLL_SECONDS", defaults.poll_seconds, 1, 3600),
            reconcile=_flag(env, "RC_MESSAGE_RECONCILE", defaults.reconcile),
            zip_max_total_bytes=int(
                _number(env, "RC_ZIP_MAX_GB", defaults.zip_max_total_bytes / 1024**3, 0.001, 1024) * 1024**3
            ),
            zip_max_ratio=_number(env, "RC_ZIP_MAX_RATIO", defaults.zip_max_ratio, 2, 100_000),
            zip_max_export_bytes=int(
                _number(env, "RC_ZIP_MAX_EXPORT_GB", defaults.zip_max_export_bytes / 1024**3, 0.001, 100_000)
                * 1024**3
            ),
            zip_max_json_bytes=int(
                _number(env, "RC_ZIP_MAX_JSON_MB", defaults.zip_max_json_bytes / 1024**2, 1, 16_384) * 1024**2
            ),
            archive_deadline_seconds=60
            * _number(
                env,
                "RC_EXPORT_ARCHIVE_DEADLINE_MINUTES",
                defaults.archive_deadline_seconds / 60,
                1,
                30 * 1440,
            ),
        )

    def to_metadata(self) -> dict[str, Any]:
        return {DEFINITIONS_METADATA_KEY: dg.MetadataValue.json(asdict(self))}

    @classmethod
    def from_definitions(cls, defs: dg.Definitions) -> MessageStoreConfig:
        """The settings `build_definitions` used (`rc-pipeline archive` needs the same ones)."""
        value = (defs.metadata or {}).get(DEFINITIONS_METADATA_KEY)
        if value is None:
            raise ConfigError("these Definitions were not built by rc_pipeline.build_definitions")
        return cls(**value.value)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw} must be between {low:g} and {high:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be true or false")

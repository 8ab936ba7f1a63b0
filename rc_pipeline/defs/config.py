"""Deployment settings that shape definitions at load time (partitions, schedules).

Dagster needs the partitions definition and the schedule's cron when the code location loads, before
any resource is configured, so these few values are read from the environment here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _default_start() -> str:
    # RingCentral keeps 12 months of call log: by default offer partitions for all of it, starting on
    # the first of a month so the start date only moves once a month.
    year_ago = date.today() - timedelta(days=365)
    return year_ago.replace(day=1).isoformat()


@dataclass(frozen=True)
class PipelineConfig:
    timezone: str
    start_date: str
    schedule_hour: int
    lookback_days: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PipelineConfig:
        env = dict(os.environ if environ is None else environ)
        tz = env.get("RC_TIMEZONE", "").strip() or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"RC_TIMEZONE={tz!r} is not an IANA timezone (e.g. UTC, America/New_York)"
            ) from None
        start = env.get("RC_START_DATE", "").strip() or _default_start()
        try:
            datetime.strptime(start, "%Y-%m-%d")
        except ValueError:
            raise ConfigError(f"RC_START_DATE={start!r} must be a date like 2026-01-31") from None
        hour = _int(env, "RC_SCHEDULE_HOUR", 2, 0, 23)
        lookback = _int(env, "RC_LOOKBACK_DAYS", 2, 0, 30)
        return cls(timezone=tz, start_date=start, schedule_hour=hour, lookback_days=lookback)


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} must be between {low} and {high}")
    return value

"""Every RC_* environment variable, declared once: its kind, default, bounds and meaning.

One registry means one parser per kind, one error type and one place the README tables come from
(`python -m rc_pipeline.settings --markdown`), instead of each caller reading the environment its own
way with its own bounds. No Dagster here: the CLI, `rc-pipeline plan` and the benchmarks read the same
settings the code location does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rc_pipeline.ringcentral.errors import SettingsError
from rc_pipeline.ringcentral.pg_budget import check_database_url
from rc_pipeline.ringcentral.settings import PRODUCTION_SERVER, RingCentralSettings, check_url
from rc_pipeline.ringcentral.shared_budget import default_state_dir
from rc_pipeline.storage.worm import MODES as WORM_MODES
from rc_pipeline.storage.worm import WormPolicy
from rc_pipeline.storage.zipsafe import ZipLimits

MESSAGE_SOURCES = ("export", "listing")
MINUTE = 60.0
GB = 1024**3
MB = 1024**2
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_REPO_ROOT = Path(__file__).resolve().parents[1]

# (title, section names) of each variable table in README.md, in README order.
README_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Pointing it at a real account", ("connection", "archive")),
    ("The message store", ("messages",)),
    ("Taking control", ("control",)),
    ("Tests", ("development",)),
)


@dataclass(frozen=True)
class Setting:
    """One RC_* variable. `default` is in the variable's own unit (minutes, GB), as a user writes it."""

    name: str
    kind: str
    section: str
    help: str
    default: Any = None
    # Computed at read time, for defaults that move with the calendar or the machine.
    default_factory: Callable[[], Any] | None = None
    # How the README states the default when the value itself would mislead (computed, derived).
    default_text: str | None = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    # Values (lower case) that switch the feature off: read as None instead of the default.
    off_values: tuple[str, ...] = ()
    required: bool = False
    secret: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PARSERS:
            raise TypeError(f"{self.name}: unknown kind {self.kind!r}")

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def read(self, environ: Mapping[str, str]) -> Any:
        raw = environ.get(self.name)
        if raw is not None and raw.strip().lower() in self.off_values:
            return None
        value = (raw or "").strip()
        if not value:
            if self.required:
                raise SettingsError(f"{self.name} is required: {self.help.replace('`', '')}")
            return self.default_value()
        return PARSERS[self.kind](self, value)

    def invalid(self, raw: str, problem: str, *, quote: bool = True) -> SettingsError:
        """The one error shape: the variable, the value as given (never a secret's), what is wrong."""
        if self.secret:
            return SettingsError(f"{self.name} (value hidden) {problem}")
        shown = repr(raw) if quote else raw
        return SettingsError(f"{self.name}={shown} {problem}")


# ------------------------------------------------------------------------------------------ parsers


def _check_bounds(setting: Setting, raw: str, value: float) -> None:
    low = setting.low if setting.low is not None else value
    high = setting.high if setting.high is not None else value
    # `not low <= value <= high` also refuses NaN, which compares false with everything.
    if not low <= value <= high:
        raise setting.invalid(raw, f"must be between {low:g} and {high:g}", quote=False)


def parse_text(setting: Setting, raw: str) -> str:
    return raw


def _parse_number(setting: Setting, raw: str, convert: Callable[[str], Any], what: str) -> Any:
    try:
        value = convert(raw)
    except ValueError:
        raise setting.invalid(raw, f"must be {what}") from None
    _check_bounds(setting, raw, value)
    return value


def parse_int(setting: Setting, raw: str) -> int:
    return _parse_number(setting, raw, int, "a whole number")


def parse_float(setting: Setting, raw: str) -> float:
    return _parse_number(setting, raw, float, "a number")


def parse_flag(setting: Setting, raw: str) -> bool:
    word = raw.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise setting.invalid(raw, "must be true or false")


def parse_choice(setting: Setting, raw: str) -> str:
    word = raw.lower()
    if word not in setting.choices:
        raise setting.invalid(raw, f"must be one of {', '.join(setting.choices)}")
    return word


def parse_date(setting: Setting, raw: str) -> date:
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise setting.invalid(raw, "must be a date like 2026-01-31") from None


def parse_timezone(setting: Setting, raw: str) -> str:
    try:
        ZoneInfo(raw)
    # A directory of the tz database ("America") is an OSError on some platforms, not "not found".
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise setting.invalid(raw, "is not an IANA timezone (e.g. UTC, America/New_York)") from None
    return raw


def parse_url(setting: Setting, raw: str) -> str:
    # The client's rule, so a URL accepted here is never refused when the client is built.
    return check_url(setting.name, raw)


def parse_database_url(setting: Setting, raw: str) -> str:
    # The client's rule (and message, which never shows the value: it may hold a password).
    return check_database_url(setting.name, raw)


def parse_path(setting: Setting, raw: str) -> Path:
    return Path(raw).expanduser()


PARSERS: dict[str, Callable[[Setting, str], Any]] = {
    "text": parse_text,
    "int": parse_int,
    "float": parse_float,
    "flag": parse_flag,
    "choice": parse_choice,
    "date": parse_date,
    "timezone": parse_timezone,
    "url": parse_url,
    "path": parse_path,
    "dburl": parse_database_url,
}


# ----------------------------------------------------------------------------------------- registry


def first_of_month_a_year_ago() -> date:
    # RingCentral keeps 12 months of call log: by default offer partitions for all of it, starting on
    # the first of a month so the start date only moves once a month.
    year_ago = date.today() - timedelta(days=365)
    return year_ago.replace(day=1)


def _declare(*settings: Setting) -> dict[str, Setting]:
    registry: dict[str, Setting] = {}
    for setting in settings:
        if setting.name in registry:
            raise TypeError(f"{setting.name} is declared twice")
        registry[setting.name] = setting
    return registry


_LIMITS = ZipLimits()

SETTINGS: dict[str, Setting] = _declare(
    # -- connection: read only by ringcentral_settings() -----------------------------------------------
    Setting(
        "RC_SERVER_URL",
        "url",
        "connection",
        f"the platform host: `{PRODUCTION_SERVER}`, `https://platform.devtest.ringcentral.com`, "
        "or the URL `rc-pipeline simulator` prints",
        required=True,
    ),
    Setting(
        "RC_MEDIA_URL",
        "url",
        "connection",
        "the host serving recordings and attachments",
        default_text="derived from the server URL: platform.* -> media.*",
    ),
    Setting("RC_CLIENT_ID", "text", "connection", "the app's client id", required=True),
    Setting("RC_CLIENT_SECRET", "text", "connection", "the app's client secret", required=True, secret=True),
    Setting(
        "RC_JWT",
        "text",
        "connection",
        "the user's JWT credential",
        default_text="required unless the legacy password grant is used",
        secret=True,
    ),
    Setting(
        "RC_USERNAME",
        "text",
        "connection",
        "legacy password grant, instead of `RC_JWT`: the user's phone number or email",
    ),
    Setting("RC_PASSWORD", "text", "connection", "legacy password grant: the user's password", secret=True),
    Setting(
        "RC_EXTENSION",
        "text",
        "connection",
        "legacy password grant: the extension number, when the username is a company number",
    ),
    # -- archive and pipeline ------------------------------------------------------------------------
    Setting(
        "RC_ARCHIVE_ROOT",
        "text",
        "archive",
        "where the archive goes: a path or an fsspec URL such as `s3://bucket/prefix`",
        default="data",
    ),
    Setting(
        "RC_WAREHOUSE_PATH",
        "text",
        "archive",
        "local DuckDB file, required when the archive root is remote",
        default_text="`warehouse.duckdb` in a local archive root",
    ),
    Setting("RC_TIMEZONE", "timezone", "archive", "IANA timezone of the daily partitions", default="UTC"),
    Setting(
        "RC_START_DATE",
        "date",
        "archive",
        "first partition, YYYY-MM-DD",
        default_factory=first_of_month_a_year_ago,
        default_text="the first of the month a year ago",
    ),
    Setting(
        "RC_SCHEDULE_HOUR",
        "int",
        "archive",
        "hour, in `RC_TIMEZONE`, the daily schedules run",
        default=2,
        low=0,
        high=23,
    ),
    Setting(
        "RC_LOOKBACK_DAYS",
        "int",
        "archive",
        "days before yesterday every daily run lists again, a safety net: late changes (recordings "
        "attached late, edited records) are captured by call-log-extract-sync",
        default=1,
        low=0,
        high=30,
    ),
    Setting(
        "RC_THROTTLE_DIR",
        "path",
        "archive",
        "folder of the throttling windows every process on this machine using the same app and user "
        "shares; `none`, `off`, `0` or empty turns sharing off",
        default_factory=default_state_dir,
        default_text="`$TMPDIR/rc-pipeline-throttle`",
        off_values=("", "none", "off", "0"),
    ),
    Setting(
        "RC_RISK_HORIZON_DAYS",
        "int",
        "archive",
        "days ahead the retention-risk monitor (`retention_risk`, `rc-pipeline risk`) looks for what "
        "RingCentral deletes",
        default=7,
        low=1,
        high=365,
    ),
    Setting(
        "RC_CAPTURE_MINUTES",
        "int",
        "archive",
        "minutes between captures of new and changed calls and messages (message-sync, "
        "call-log-extract-sync); off when unset",
        default_text="off",
        low=1,
        high=1440,
    ),
    Setting(
        "RC_ACTIVE_CALLS_SECONDS",
        "float",
        "archive",
        "seconds between snapshots of the account's active calls (one Heavy request each; RingCentral "
        "answers from a cache of about 120 s, not a real-time feed); off when unset",
        low=10,
        high=86_400,
    ),
    Setting(
        "RC_RECORDING_BUDGET",
        "int",
        "archive",
        "recordings one run of a day may download, earliest deadline first; the rest are listed as "
        "deferred (the recordings check warns, naming the earliest deadline) for a later run. Set it "
        "below what the Heavy limit allows when the plan cannot keep up; unset or `none`: no limit",
        low=1,
        off_values=("", "none", "unlimited"),
    ),
    Setting(
        "RC_THROTTLE_URL",
        "dburl",
        "archive",
        "PostgreSQL database (`postgresql://user@host:5432/db`, [postgres] extra) holding the throttling "
        "windows, shared by processes on every machine; leave the password out and set `PGPASSWORD`. "
        "Unset: the Dagster instance's database when its storage is PostgreSQL, else `RC_THROTTLE_DIR`",
        secret=True,
    ),
    Setting(
        "RC_WORM_MODE",
        "choice",
        "archive",
        "WORM records: every record the archive writes lands under S3 Object Lock in this mode "
        "(`governance`: a privileged principal may still shorten or lift it; `compliance`: nobody can, "
        "not even the account root) until `RC_WORM_RETAIN_DAYS` after it was written. Needs an `s3://` "
        "root on a bucket created with Object Lock; unset: off",
        default_text="off",
        choices=WORM_MODES,
        off_values=("", "off", "none"),
    ),
    Setting(
        "RC_WORM_RETAIN_DAYS",
        "int",
        "archive",
        "days each record stays locked after it is written (2190 = FINRA's 6 years); required with "
        "`RC_WORM_MODE`",
        low=1,
        high=36_500,
    ),
    Setting(
        "RC_ARCHIVE_GROUP_READ",
        "flag",
        "archive",
        "open a local archive root to the owning group: directories 0750 and files 0640 instead of "
        "owner-only 0700/0600, whatever the umask (object stores keep their own access rules)",
        default=False,
    ),
    # -- message store ---------------------------------------------------------------------------------
    Setting(
        "RC_MESSAGE_SOURCE",
        "choice",
        "messages",
        "`export`: the asynchronous export, for an admin app with ReadMessages; `listing`: each "
        "extension's message store, no admin rights needed",
        default="export",
        choices=MESSAGE_SOURCES,
    ),
    Setting(
        "RC_EXPORT_MAX_RUNNING",
        "int",
        "messages",
        "export tasks running at once; RingCentral runs 2 per account",
        default=2,
        low=1,
        high=10,
    ),
    Setting(
        "RC_EXPORT_MAX_ATTEMPTS",
        "int",
        "messages",
        "submissions per day before the failure is surfaced",
        default=3,
        low=1,
        high=20,
    ),
    Setting(
        "RC_EXPORT_RETRY_BACKOFF_SECONDS",
        "float",
        "messages",
        "first wait before re-submitting, doubled per failure",
        default=60.0,
        low=0,
        high=86_400,
    ),
    Setting(
        "RC_EXPORT_TIMEOUT_MINUTES",
        "float",
        "messages",
        "a task still running this long counts as failed",
        default=360.0,
        low=1,
        high=7 * 1440,
    ),
    Setting(
        "RC_EXPORT_POLL_SECONDS",
        "float",
        "messages",
        "sensor interval, and the pause between polls of `rc-pipeline archive`",
        default=30.0,
        low=1,
        high=3600,
    ),
    Setting(
        "RC_MESSAGE_RECONCILE",
        "flag",
        "messages",
        "run the export-vs-listing reconciliation check, an API call per extension",
        default=True,
    ),
    Setting(
        "RC_ZIP_MAX_GB",
        "float",
        "messages",
        "uncompressed size cap per zip, GB",
        default=_LIMITS.max_total_bytes / GB,
        low=0.001,
        high=1024,
    ),
    Setting(
        "RC_ZIP_MAX_RATIO",
        "float",
        "messages",
        "compression-ratio cap for a zip entry over 1 MiB",
        default=_LIMITS.max_ratio,
        low=2,
        high=100_000,
    ),
    Setting(
        "RC_ZIP_MAX_EXPORT_GB",
        "float",
        "messages",
        "uncompressed size cap for a whole export, GB",
        default=_LIMITS.max_export_bytes / GB,
        low=0.001,
        high=100_000,
    ),
    Setting(
        "RC_ZIP_MAX_JSON_MB",
        "float",
        "messages",
        "size cap for one `message-store.json` read into memory, MB",
        default=_LIMITS.max_json_bytes / MB,
        low=1,
        high=16_384,
    ),
    Setting(
        "RC_EXPORT_ARCHIVE_DEADLINE_MINUTES",
        "float",
        "messages",
        "how long `rc-pipeline archive` waits for exports before failing the pending days",
        default=1440.0,
        low=1,
        high=30 * 1440,
    ),
    # -- control at the source ---------------------------------------------------------------------
    Setting(
        "RC_OPERATOR",
        "text",
        "control",
        "who runs purge, erase, restore, read-status and retention changes, as the audit trail records "
        "it (`--operator` overrides)",
        default_text="the OS account name",
    ),
    Setting(
        "RC_PURGE_AFTER_DAYS",
        "int",
        "control",
        "turns the `purge_source_daily` schedule on: it purges, by ids, verified days older than this "
        "many days (trash mode); unset keeps it off",
        low=7,
        high=3650,
    ),
    # -- development -------------------------------------------------------------------------------
    Setting(
        "RC_OPENAPI_SPEC",
        "path",
        "development",
        "the official RingCentral OpenAPI spec, read by the spec tests (`scripts/generate_api_facts.py` takes `--spec`); "
        "those tests are skipped where it is absent",
        default=_REPO_ROOT.parent / "shared" / "ringcentral" / "rc-public-openapi.yml",
        default_text="`../shared/ringcentral/rc-public-openapi.yml`",
    ),
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS.values()))


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def read(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The parsed value of one declared variable (its default when unset); SettingsError if unusable."""
    return SETTINGS[name].read(_environ(environ))


def _default(name: str) -> Any:
    return SETTINGS[name].default_value()


# ------------------------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class PipelineSettings:
    """What shapes the Dagster definitions at load time: partitions and the schedules' cron."""

    timezone: str
    start_date: str
    schedule_hour: int
    lookback_days: int
    # RC_CAPTURE_MINUTES: the changes sensor's interval when set (else daily); None = off.
    capture_minutes: int | None = None
    # RC_ACTIVE_CALLS_SECONDS: the active-calls sensor exists only when set.
    active_calls_seconds: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineSettings:
        env = _environ(environ)
        return cls(
            timezone=read("RC_TIMEZONE", env),
            start_date=read("RC_START_DATE", env).isoformat(),
            schedule_hour=read("RC_SCHEDULE_HOUR", env),
            lookback_days=read("RC_LOOKBACK_DAYS", env),
            capture_minutes=read("RC_CAPTURE_MINUTES", env),
            active_calls_seconds=read("RC_ACTIVE_CALLS_SECONDS", env),
        )


@dataclass(frozen=True)
class MessageStoreSettings:
    """Which message-store path runs, and how export tasks are retried and bounded.

    Fields are in seconds and bytes (what the code uses); the variables are in the units people think
    in (minutes, GB, MB), converted here.
    """

    source: str = _default("RC_MESSAGE_SOURCE")
    max_running_exports: int = _default("RC_EXPORT_MAX_RUNNING")
    # Submissions per partition before the failure is surfaced (the first one included).
    max_attempts: int = _default("RC_EXPORT_MAX_ATTEMPTS")
    retry_backoff_seconds: float = _default("RC_EXPORT_RETRY_BACKOFF_SECONDS")
    task_timeout_seconds: float = _default("RC_EXPORT_TIMEOUT_MINUTES") * MINUTE
    poll_seconds: float = _default("RC_EXPORT_POLL_SECONDS")
    reconcile: bool = _default("RC_MESSAGE_RECONCILE")
    zip_max_total_bytes: int = _LIMITS.max_total_bytes
    zip_max_ratio: float = _LIMITS.max_ratio
    zip_max_export_bytes: int = _LIMITS.max_export_bytes
    zip_max_json_bytes: int = _LIMITS.max_json_bytes
    archive_deadline_seconds: float = _default("RC_EXPORT_ARCHIVE_DEADLINE_MINUTES") * MINUTE

    def __post_init__(self) -> None:
        # Checked here too because the settings also arrive from Definitions metadata, not only the env.
        if self.source not in MESSAGE_SOURCES:
            raise SettingsError(
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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MessageStoreSettings:
        env = _environ(environ)
        return cls(
            source=read("RC_MESSAGE_SOURCE", env),
            max_running_exports=read("RC_EXPORT_MAX_RUNNING", env),
            max_attempts=read("RC_EXPORT_MAX_ATTEMPTS", env),
            retry_backoff_seconds=read("RC_EXPORT_RETRY_BACKOFF_SECONDS", env),
            task_timeout_seconds=read("RC_EXPORT_TIMEOUT_MINUTES", env) * MINUTE,
            poll_seconds=read("RC_EXPORT_POLL_SECONDS", env),
            reconcile=read("RC_MESSAGE_RECONCILE", env),
            zip_max_total_bytes=int(read("RC_ZIP_MAX_GB", env) * GB),
            zip_max_ratio=read("RC_ZIP_MAX_RATIO", env),
            zip_max_export_bytes=int(read("RC_ZIP_MAX_EXPORT_GB", env) * GB),
            zip_max_json_bytes=int(read("RC_ZIP_MAX_JSON_MB", env) * MB),
            archive_deadline_seconds=read("RC_EXPORT_ARCHIVE_DEADLINE_MINUTES", env) * MINUTE,
        )


@dataclass(frozen=True)
class ArchiveSettings:
    """Where the archive and warehouse live, and where this machine's shared throttling state lives."""

    root: str = _default("RC_ARCHIVE_ROOT")
    warehouse_path: str | None = None
    # None: this process throttles alone (no shared window with other processes).
    throttle_dir: Path | None = field(default_factory=default_state_dir)
    # A PostgreSQL URL: the windows live there, shared across machines (precedence over throttle_dir).
    throttle_url: str | None = field(default=None, repr=False)
    # RC_WORM_MODE / RC_WORM_RETAIN_DAYS: None = records are written without Object Lock.
    worm_mode: str | None = None
    worm_retain_days: int | None = None

    def __post_init__(self) -> None:
        # Both or neither: a mode without days cannot date a lock, and days without a mode would look
        # like WORM while writing nothing locked.
        if self.worm_mode and self.worm_retain_days is None:
            raise SettingsError(
                f"RC_WORM_RETAIN_DAYS is required when RC_WORM_MODE={self.worm_mode}: how many days each "
                "record stays locked (e.g. 2190 for 6 years)"
            )
        if self.worm_retain_days is not None and not self.worm_mode:
            raise SettingsError(
                f"RC_WORM_RETAIN_DAYS={self.worm_retain_days} has no effect without RC_WORM_MODE "
                "(governance or compliance): set both, or neither"
            )
        if self.worm_mode and "://" not in self.root:
            raise SettingsError(
                f"RC_WORM_MODE={self.worm_mode} needs an S3 archive root (RC_ARCHIVE_ROOT=s3://bucket/prefix), "
                f"not the local path RC_ARCHIVE_ROOT={self.root!r}: Object Lock is an object-store feature"
            )

    @property
    def worm(self) -> WormPolicy | None:
        """The Object Lock every record is written with, or None when WORM is off."""
        if not self.worm_mode or self.worm_retain_days is None:
            return None
        return WormPolicy(self.worm_mode, self.worm_retain_days)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ArchiveSettings:
        env = _environ(environ)
        return cls(
            root=read("RC_ARCHIVE_ROOT", env),
            warehouse_path=read("RC_WAREHOUSE_PATH", env),
            throttle_dir=read("RC_THROTTLE_DIR", env),
            throttle_url=read("RC_THROTTLE_URL", env),
            worm_mode=read("RC_WORM_MODE", env),
            worm_retain_days=read("RC_WORM_RETAIN_DAYS", env),
        )


@dataclass(frozen=True)
class Settings:
    """Every non-secret group at once. Connection settings stay apart: see ringcentral_settings()."""

    pipeline: PipelineSettings
    messages: MessageStoreSettings
    archive: ArchiveSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _environ(environ)
        return cls(
            pipeline=PipelineSettings.from_env(env),
            messages=MessageStoreSettings.from_env(env),
            archive=ArchiveSettings.from_env(env),
        )


def ringcentral_settings(environ: Mapping[str, str] | None = None) -> RingCentralSettings:
    """The client's connection settings; which login method, and its completeness, the client checks."""
    env = _environ(environ)
    return RingCentralSettings(
        server_url=read("RC_SERVER_URL", env),
        media_url=read("RC_MEDIA_URL", env),
        client_id=read("RC_CLIENT_ID", env),
        client_secret=read("RC_CLIENT_SECRET", env),
        jwt=read("RC_JWT", env),
        username=read("RC_USERNAME", env),
        password=read("RC_PASSWORD", env),
        extension=read("RC_EXTENSION", env),
    )


def openapi_spec_path(environ: Mapping[str, str] | None = None) -> Path:
    return read("RC_OPENAPI_SPEC", environ)


# ------------------------------------------------------------------------------------------- README


def _format_default(setting: Setting) -> str | None:
    if setting.required:
        return "required"
    if setting.default_text is not None:
        return setting.default_text
    value = setting.default
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    return f"`{value}`"


def _describe(setting: Setting) -> str:
    notes = [_format_default(setting)]
    if setting.low is not None and setting.high is not None:
        notes.append(f"{setting.low:g} to {setting.high:g}")
    if setting.secret:
        notes.append("secret")
    shown = "; ".join(n for n in notes if n)
    return f"{setting.help} ({shown})" if shown else setting.help


def markdown_table(*sections: str) -> str:
    """The README's `| variable | meaning (default) |` table of these sections, in declaration order."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise KeyError(f"no such section: {', '.join(sorted(unknown))}")
    rows = ["| variable | meaning (default) |", "|---|---|"]
    rows += [f"| `{s.name}` | {_describe(s)} |" for s in SETTINGS.values() if s.section in sections]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rc_pipeline.settings",
        description="Print the README's tables of RC_* variables, generated from their declarations.",
    )
    parser.add_argument("--markdown", action="store_true", help="print every README variable table")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.markdown:
        parser.print_help()
        return 2
    for title, sections in README_TABLES:
        print(f"<!-- README section {title!r} -->\n\n{markdown_table(*sections)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

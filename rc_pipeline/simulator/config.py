"""What a simulated RingCentral looks like: account size, credentials, limits and timings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rc_pipeline.simulator.faults import FaultConfig

__all__ = [
    "ALL_APP_PERMISSIONS",
    "DEFAULT_RATE_LIMITS",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_EXTENSION",
    "DEMO_JWT",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FaultConfig",
    "SimulatorConfig",
    "app_credentials_in_env",
]

# Documented demo credentials: the simulator is a local test double, these grant nothing elsewhere.
DEMO_CLIENT_ID = "rcsim-demo-client-id"
DEMO_CLIENT_SECRET = "rcsim-demo-client-secret"
# Shaped like a RingCentral JWT credential (three base64url parts) so clients that sanity-check it pass.
DEMO_JWT = (
    "eyJraWQiOiJyY3NpbSIsInR5cCI6IkpXVCIsImFsZyI6IlJTMjU2In0"
    ".eyJhdWQiOiJodHRwOi8vMTI3LjAuMC4xIiwic3ViIjoicmNzaW0tZGVtbyIsImlzcyI6InJjc2ltIn0"
    ".cmNzaW0tZGVtby1zaWduYXR1cmUtbm90LWEtcmVhbC1rZXk"
)
DEMO_USERNAME = "+16505550100"
DEMO_PASSWORD = "rcsim-demo-password"
DEMO_EXTENSION = "101"

ALL_APP_PERMISSIONS = frozenset(
    {
        "ReadAccounts",
        "ReadCallLog",
        "ReadCallRecording",
        "ReadMessages",
        "EditMessages",
        "EditCallLog",
        "EditAccounts",
    }
)

# RingCentral's default plan: (requests, window seconds) per user, app and group.
DEFAULT_RATE_LIMITS: Mapping[str, tuple[int, float]] = {
    "Light": (50, 60.0),
    "Medium": (40, 60.0),
    "Heavy": (10, 60.0),
    "Auth": (5, 60.0),
}
DEFAULT_PENALTY_SECONDS = 60.0


@dataclass
class SimulatorConfig:
    """Everything that shapes one simulated account. Data is a pure function of these fields and time."""

    seed: int = 1
    extensions: int = 20
    days: int = 7
    calls_per_day: int = 50
    # Messages per user-like extension per day (SMS, MMS, Fax, VoiceMail, Pager mixed).
    messages_per_day: int = 4
    # Share of calls lasting >= 30 s that carry a recording.
    recording_share: float = 0.5
    # Real RingCentral lists a call only 15-30 s after it ends.
    call_visibility_delay: float = 20.0
    # Seconds after a call becomes visible until its recording (and shortRecording, and leg
    # recordings) attach, bumping lastModifiedTime: RingCentral takes minutes to process audio, so
    # a call listed early is listed again later with more. Two minutes is realistic and leaves
    # tests that archive yesterday untouched; tests of late attachment set a few seconds.
    recording_attach_delay: float = 120.0
    # When set, one recording (see Account.large_recording_id) has exactly this many bytes.
    large_recording_bytes: int | None = None

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    jwt: str = DEMO_JWT
    username: str = DEMO_USERNAME
    password: str = DEMO_PASSWORD
    extension: str = DEMO_EXTENSION

    token_ttl: float = 3600.0
    refresh_token_ttl: float = 7 * 24 * 3600.0
    app_permissions: frozenset[str] = ALL_APP_PERMISSIONS

    throttling: bool = True
    # Multiplies the default windows and penalty (0.02 turns 60 s into 1.2 s, announced and enforced
    # as 2 s). Explicit `rate_limits` and `penalty_seconds` are taken as given, not scaled.
    rate_limit_scale: float = 1.0
    # Per-group (limit, window seconds), replacing the scaled default for that group.
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    # Penalty after exceeding a limit; None: RingCentral's 60 s times rate_limit_scale.
    penalty_seconds: float | None = None

    # The call log normally omits paging.totalElements/totalPages (and navigation.lastPage); some
    # accounts and API versions include them. True includes them, so consumers are tested both ways.
    call_log_paging_totals: bool = False

    export_task_seconds: float = 2.0
    export_archive_max_bytes: int = 1024**3
    # Outcomes of successive export tasks, cycled ("Completed", "Failed", "AttemptFailed": one failed
    # attempt, then Completed); empty: all complete.
    export_fail_pattern: tuple[str, ...] = ()
    max_running_exports: int = 2

    # The message store's retention (GET/PUT message-store-configuration, 7..90 days) until changed
    # through the API; Account.reset_changes() returns to it.
    retention_period: int = 90
    # A HIPAA account: service-info lists serviceFeatures[] {"featureName": "HipaaCompliance",
    # "enabled": true}. (False: the feature is listed, disabled.)
    hipaa: bool = False

    # RingCentral's own deletions over simulated time (API-NOTES §9; see rules.py), defaults as RingCentral.
    # Automatic recordings go this many days after their call (at most 30 on a HIPAA account) ...
    recording_retention_days: int = 90
    # ... and beyond this many per account, oldest first.
    recordings_account_limit: int = 100_000
    # Voicemails kept per mailbox, oldest disappear first.
    voicemail_box_limit: int = 200
    # Sent faxes go this many days after sending.
    sent_fax_days: int = 30
    # SMS/MMS kept per mailbox and folder (Inbox, Sent), oldest disappear first.
    sms_folder_limit: int = 5000
    # Call records disappear this many days after the call.
    call_log_retention_days: int = 365
    # Share of messages their user purges (chosen per message from the seed), each at a time within
    # `user_purge_within_hours` of its creation: a daily job never sees them.
    user_purge_share: float = 0.0
    user_purge_within_hours: float = 6.0
    faults: FaultConfig = field(default_factory=FaultConfig)

    def rate_limit(self, group: str) -> tuple[int, float]:
        """(limit, window seconds) for a throttling group: the override, else the scaled default."""
        if group in self.rate_limits:
            limit, window = self.rate_limits[group]
            return int(limit), float(window)
        limit, window = DEFAULT_RATE_LIMITS[group]
        return limit, window * self.rate_limit_scale

    def penalty(self) -> float:
        """Seconds of penalty after a limit is exceeded (before rounding up to whole seconds)."""
        if self.penalty_seconds is not None:
            return self.penalty_seconds
        return DEFAULT_PENALTY_SECONDS * self.rate_limit_scale

    def with_overrides(self, **overrides: object) -> SimulatorConfig:
        """A copy with some fields replaced (a fresh FaultConfig unless one is given)."""
        overrides.setdefault("faults", FaultConfig())
        return replace(self, **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> SimulatorConfig:
        """A config whose credentials come from RC_* variables when set.

        The app credentials are taken only when RC_CLIENT_ID, RC_CLIENT_SECRET and RC_JWT are all set,
        so a half-filled .env never produces a simulator that accepts a mix of demo and real values.
        """
        env = os.environ if environ is None else environ
        creds: dict[str, object] = {}
        if app_credentials_in_env(env):
            creds.update(
                client_id=env["RC_CLIENT_ID"], client_secret=env["RC_CLIENT_SECRET"], jwt=env["RC_JWT"]
            )
        for var, name in (
            ("RC_USERNAME", "username"),
            ("RC_PASSWORD", "password"),
            ("RC_EXTENSION", "extension"),
        ):
            if env.get(var):
                creds[name] = env[var]
        creds.update(overrides)
        return cls(**creds)  # type: ignore[arg-type]


def app_credentials_in_env(environ: Mapping[str, str]) -> bool:
    """Whether from_env takes the app credentials from RC_CLIENT_ID, RC_CLIENT_SECRET and RC_JWT."""
    return all(environ.get(k) for k in ("RC_CLIENT_ID", "RC_CLIENT_SECRET", "RC_JWT"))

"""What every domain folder builds its definitions from: the settings and the daily partitioning.

The code location reads the settings once (`DefsContext.from_env`); tests, the demo and the CLI pass
their own, so one builder per domain serves all of them.
"""

from __future__ import annotations

import functools
from dataclasses import KW_ONLY, asdict, dataclass, field

import dagster as dg

from rc_pipeline.settings import MessageStoreSettings, PipelineSettings, SettingsError, read

from .partitions import daily_partitions


@dataclass(frozen=True)
class DefsContext:
    pipeline: PipelineSettings
    messages: MessageStoreSettings
    # Everything else by name: several optional settings of the same type must not be mixed up.
    _: KW_ONLY
    # RC_PURGE_AFTER_DAYS: when set, the purge schedule exists (and still starts stopped).
    purge_after_days: int | None = None
    # RC_RISK_HORIZON_DAYS: how far ahead the retention-risk monitor looks.
    risk_horizon_days: int = field(default_factory=lambda: read("RC_RISK_HORIZON_DAYS"))
    # RC_RECORDING_BUDGET: recordings one run may download (None: all).
    recording_budget: int | None = None
    # Built once: every domain must share the very same partitions definition.
    daily: dg.DailyPartitionsDefinition = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "daily", daily_partitions(self.pipeline))

    @property
    def export(self) -> bool:
        """Whether the message store is archived through the asynchronous export (else by listing)."""
        return self.messages.source == "export"

    @property
    def reconciles(self) -> bool:
        """Whether the export-vs-listing check exists (export path, reconciliation on)."""
        return self.export and self.messages.reconcile

    @staticmethod
    @functools.cache
    def from_env() -> DefsContext:
        """The deployment's settings, read once per process (each domain folder asks for them)."""
        return DefsContext(
            PipelineSettings.from_env(),
            MessageStoreSettings.from_env(),
            purge_after_days=read("RC_PURGE_AFTER_DAYS"),
            recording_budget=read("RC_RECORDING_BUDGET"),
        )


# Where the message-store domain leaves its settings for `rc-pipeline archive` to find.
MESSAGE_SETTINGS_KEY = "rc_pipeline/message_store"


def message_settings_metadata(settings: MessageStoreSettings) -> dict[str, dg.MetadataValue]:
    return {MESSAGE_SETTINGS_KEY: dg.MetadataValue.json(asdict(settings))}


def message_settings_of(defs: dg.Definitions) -> MessageStoreSettings:
    """The message-store settings `defs` was built with: the CLI must follow the very same ones."""
    value = (defs.metadata or {}).get(MESSAGE_SETTINGS_KEY)
    if value is None:
        raise SettingsError(
            "these Definitions were not built from rc_pipeline/defs (no message-store settings)"
        )
    return MessageStoreSettings(**value.value)

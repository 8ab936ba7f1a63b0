"""All definitions from explicit settings and resources: what tests, the demo and the CLI load.

The code location (`rc_pipeline.definitions`) loads the same domain folders through `dg`'s defs-folder
loader; both call each folder's `definitions.build`, so they cannot hold different things (a test
compares them).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

import dagster as dg

import rc_pipeline.defs
from rc_pipeline.settings import MessageStoreSettings, PipelineSettings, read

from .context import DefsContext
from .resources import resource_definitions


def domain_builders() -> dict[str, Callable[[DefsContext], dg.Definitions]]:
    """``definitions.build`` of every domain folder under rc_pipeline/defs/, by folder name."""
    builders = {}
    for module in pkgutil.iter_modules(rc_pipeline.defs.__path__):
        if module.ispkg:
            definitions = importlib.import_module(f"rc_pipeline.defs.{module.name}.definitions")
            builders[module.name] = definitions.build
    return builders


def build_definitions(
    config: PipelineSettings | None = None,
    resources: dict[str, object] | None = None,
    messages: MessageStoreSettings | None = None,
    purge_after_days: int | None = None,
    recording_budget: int | None = None,
) -> dg.Definitions:
    """Every domain's definitions built from these settings (default: the environment's)."""
    ctx = DefsContext(
        config or PipelineSettings.from_env(),
        messages or MessageStoreSettings.from_env(),
        purge_after_days=purge_after_days if purge_after_days is not None else read("RC_PURGE_AFTER_DAYS"),
        recording_budget=recording_budget if recording_budget is not None else read("RC_RECORDING_BUDGET"),
    )
    return dg.Definitions.merge(
        *(build(ctx) for build in domain_builders().values()), resource_definitions(resources)
    )

"""The code location: every domain folder under rc_pipeline/defs/, loaded the `dg` way.

`dg dev`, `dagster dev -w workspace.yaml` and `dg check defs` all load `defs` from here. Code that
needs other settings or resources (tests, the demo) calls `build_definitions`.
"""

from pathlib import Path

import dagster as dg

from rc_pipeline.defs.build import build_definitions

__all__ = ["build_definitions", "defs"]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)

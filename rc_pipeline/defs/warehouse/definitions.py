"""The warehouse domain: the DuckDB file analysts query, rebuilt when any dataset it reads changes."""

import dagster as dg

from ..context import DefsContext
from .assets import build_warehouse_assets
from .automation import build_warehouse_sensor


def build(ctx: DefsContext) -> dg.Definitions:
    return dg.Definitions(assets=build_warehouse_assets(), sensors=[build_warehouse_sensor()])


@dg.definitions
def defs() -> dg.Definitions:
    return build(DefsContext.from_env())

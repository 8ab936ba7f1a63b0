"""The sensor that evaluates the warehouse's automation condition."""

import dagster as dg

from ..names import WAREHOUSE, WAREHOUSE_SENSOR


def build_warehouse_sensor() -> dg.SensorDefinition:
    # Running by default: Dagster's implicit automation sensor starts stopped, and a warehouse that
    # silently stops refreshing misleads.
    return dg.AutomationConditionSensorDefinition(
        WAREHOUSE_SENSOR,
        target=dg.AssetSelection.assets(WAREHOUSE),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )

"""DuckDB analytics layer: views over the Parquet archive and analyst marts."""

from rc_pipeline.warehouse.build import (
    DATASET_VIEWS,
    MESSAGE_VIEWS,
    WarehouseStats,
    build_warehouse,
    input_datasets,
)
from rc_pipeline.warehouse.query import query
from rc_pipeline.warehouse.views import ANSWERED_RESULTS, MART_SQL, MESSAGE_MART_SQL, MISSED_RESULTS

__all__ = [
    "ANSWERED_RESULTS",
    "DATASET_VIEWS",
    "MESSAGE_VIEWS",
    "MART_SQL",
    "MESSAGE_MART_SQL",
    "MISSED_RESULTS",
    "WarehouseStats",
    "build_warehouse",
    "input_datasets",
    "query",
]

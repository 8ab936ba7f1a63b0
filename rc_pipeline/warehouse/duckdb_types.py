"""Arrow schema -> DuckDB column types, so views keep their types even over no files at all."""

from __future__ import annotations

import pyarrow as pa


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a Parquet column of ``arrow_type`` reads back as."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    if pa.types.is_int32(arrow_type):
        return "INTEGER"
    if pa.types.is_float64(arrow_type):
        return "DOUBLE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_date32(arrow_type):
        return "DATE"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    raise TypeError(f"no DuckDB type for {arrow_type}")


def quote_identifier(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def typed_select_list(schema: pa.Schema, null_values: bool = False) -> str:
    """``CAST(col AS type) AS col, ...`` over ``schema``; with ``null_values`` every value is NULL."""
    items = []
    for schema_field in schema:
        name = quote_identifier(schema_field.name)
        source = "NULL" if null_values else name
        items.append(f"CAST({source} AS {duckdb_type(schema_field.type)}) AS {name}")
    return ",\n    ".join(items)

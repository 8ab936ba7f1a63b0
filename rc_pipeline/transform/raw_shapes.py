"""The subset of RingCentral's call-log JSON that the typed layer reads, as Arrow types.

These drive both the C++ JSON parser (fast path) and the Python coercion of odd records
(slow path). Fields not listed are ignored here; they stay in the raw layer. Names and
types follow the public spec (CallLogRecord, CallLogRecordLegInfo, CallLogRecordingInfo,
CallLogFromParty/ToParty, ExtensionInfoCallLog, BillingInfo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

PARTY_TYPE = pa.struct(
    [
        ("phoneNumber", pa.string()),
        ("extensionNumber", pa.string()),
        ("extensionId", pa.string()),
        ("name", pa.string()),
        ("location", pa.string()),
    ]
)
RECORDING_TYPE = pa.struct([("id", pa.string()), ("type", pa.string()), ("contentUri", pa.string())])
EXTENSION_REF_TYPE = pa.struct([("id", pa.int64())])
BILLING_TYPE = pa.struct([("costIncluded", pa.float64()), ("costPurchased", pa.float64())])

# Fields shared by a record and its legs (BaseCallLogRecord in the spec).
_BASE_FIELDS = [
    ("extension", EXTENSION_REF_TYPE),
    ("telephonySessionId", pa.string()),
    ("transport", pa.string()),
    ("from", PARTY_TYPE),
    ("to", PARTY_TYPE),
    ("type", pa.string()),
    ("direction", pa.string()),
    ("action", pa.string()),
    ("result", pa.string()),
    ("reason", pa.string()),
    ("reasonDescription", pa.string()),
    ("startTime", pa.string()),
    ("duration", pa.int64()),
    ("durationMs", pa.int64()),
    ("recording", RECORDING_TYPE),
    ("shortRecording", pa.bool_()),
    ("billing", BILLING_TYPE),
    ("internalType", pa.string()),
]

LEG_TYPE = pa.struct([*_BASE_FIELDS, ("legType", pa.string()), ("master", pa.bool_())])

RECORD_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("sessionId", pa.string()),
        *_BASE_FIELDS,
        ("deleted", pa.bool_()),
        ("lastModifiedTime", pa.string()),
        ("legs", pa.list_(LEG_TYPE)),
    ]
)

PAGE_SCHEMA = pa.schema([("records", pa.list_(RECORD_TYPE))])


def coerce(value: Any, arrow_type: pa.DataType) -> Any:
    """Bend one JSON value to ``arrow_type`` the way a lenient reader would.

    Used only for pages the strict C++ parser rejects (a number where the spec says string,
    an integral float, ...). Values that cannot be bent become None: the raw layer keeps the
    original, so nothing is lost.
    """
    if value is None:
        return None
    if pa.types.is_struct(arrow_type):
        if not isinstance(value, Mapping):
            return None
        return {f.name: coerce(value.get(f.name), f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type):
        if not isinstance(value, list):
            return None
        return [coerce(item, arrow_type.value_type) for item in value]
    if pa.types.is_string(arrow_type):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        return None
    if pa.types.is_int64(arrow_type):
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return None
        return None
    if pa.types.is_float64(arrow_type):
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return None
        return None
    if pa.types.is_boolean(arrow_type):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        return None
    raise TypeError(f"no coercion for {arrow_type}")

"""SQL of the warehouse: one view per Parquet dataset, and the analyst marts built on them."""

from __future__ import annotations

import pyarrow as pa

from rc_pipeline.warehouse.duckdb_types import quote_identifier, quote_literal, typed_select_list

# Results that mean somebody talked. RingCentral uses "Accepted" on the answering side and
# "Call connected" on the calling side.
ANSWERED_RESULTS = ("Accepted", "Call connected")
# Inbound results that mean nobody picked up. Anything else (In Progress, Blocked, faxes...)
# is neither answered nor missed, so it counts in the total but not as missed.
MISSED_RESULTS = ("Missed", "Voicemail", "Hang Up", "Abandoned", "No Answer", "Busy", "Rejected", "Declined")


def _in_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(quote_literal(v) for v in values) + ")"


def parquet_view_sql(name: str, glob: str | None, schema: pa.Schema) -> str:
    """A view over every file matching ``glob``, typed by ``schema``.

    With no files (``glob`` None) the view selects nothing from nothing but still has every
    column and type, so analysts' queries on a fresh archive return zero rows, not an error.
    """
    if glob is None:
        return (
            f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS SELECT\n"
            f"    {typed_select_list(schema, null_values=True)}\nWHERE false"
        )
    return (
        f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS SELECT\n    {typed_select_list(schema)}\n"
        f"FROM read_parquet({quote_literal(glob)}, hive_partitioning = true, union_by_name = true)"
    )


LATEST_EXTENSIONS_SQL = """
CREATE OR REPLACE VIEW extensions AS
SELECT * FROM extensions_history
WHERE snapshot_date = (SELECT max(snapshot_date) FROM extensions_history)
"""

_ACTIVE_VOICE = "coalesce(deleted, false) = false AND type = 'Voice'"

MART_SQL: dict[str, str] = {
    "mart_daily_call_volume": f"""
CREATE OR REPLACE VIEW mart_daily_call_volume AS
SELECT
    c.partition_date AS day,
    c.extension_id,
    e.extension_number,
    e.name AS extension_name,
    c.direction,
    c.result,
    count(*) AS calls,
    -- Talk time only: a missed call's duration is ringing, not talking.
    coalesce(sum(c.duration_s) FILTER (WHERE c.result IN {_in_list(ANSWERED_RESULTS)}), 0) AS talk_seconds
FROM calls AS c
LEFT JOIN extensions AS e ON e.id = c.extension_id
WHERE coalesce(c.deleted, false) = false AND c.type = 'Voice'
GROUP BY ALL
""",
    "mart_missed_call_rate": f"""
CREATE OR REPLACE VIEW mart_missed_call_rate AS
SELECT
    partition_date AS day,
    extension_id,
    count(*) AS inbound_calls,
    count(*) FILTER (WHERE result IN {_in_list(MISSED_RESULTS)}) AS missed_calls,
    count(*) FILTER (WHERE result IN {_in_list(MISSED_RESULTS)}) / count(*) AS missed_rate
FROM calls
WHERE {_ACTIVE_VOICE} AND direction = 'Inbound'
GROUP BY ALL
""",
    "mart_avg_talk_time": f"""
CREATE OR REPLACE VIEW mart_avg_talk_time AS
SELECT
    partition_date AS day,
    direction,
    count(*) AS answered_calls,
    avg(duration_s) AS avg_talk_seconds
FROM calls
WHERE {_ACTIVE_VOICE} AND result IN {_in_list(ANSWERED_RESULTS)}
GROUP BY ALL
""",
    # A recording counts as covered only once verified (checksum re-read after upload):
    # "downloaded" is not yet proof that the archive holds it.
    "mart_recording_coverage": """
CREATE OR REPLACE VIEW mart_recording_coverage AS
WITH active AS (
    SELECT partition_date, id FROM calls WHERE coalesce(deleted, false) = false
),
referenced AS (
    SELECT partition_date AS day, id AS call_id, recording_id
    FROM calls WHERE recording_id IS NOT NULL AND coalesce(deleted, false) = false
    UNION
    SELECT l.partition_date, l.call_id, l.recording_id
    FROM call_legs AS l JOIN active AS a ON a.id = l.call_id AND a.partition_date = l.partition_date
    WHERE l.recording_id IS NOT NULL
),
verified AS (
    SELECT DISTINCT recording_id FROM recordings WHERE status = 'verified'
),
days AS (
    SELECT partition_date AS day, count(*) AS calls FROM active GROUP BY ALL
)
SELECT
    d.day,
    d.calls,
    count(DISTINCT r.call_id) AS calls_with_recording,
    count(DISTINCT r.recording_id) AS recordings_referenced,
    count(DISTINCT v.recording_id) AS recordings_verified,
    count(DISTINCT v.recording_id) / nullif(count(DISTINCT r.recording_id), 0) AS coverage_ratio
FROM days AS d
LEFT JOIN referenced AS r ON r.day = d.day
LEFT JOIN verified AS v ON v.recording_id = r.recording_id
GROUP BY d.day, d.calls
""",
}

# Marts over the message store. Read status and availability are as of the day's last archive run.
MESSAGE_MART_SQL: dict[str, str] = {
    "mart_daily_messages": """
CREATE OR REPLACE VIEW mart_daily_messages AS
SELECT
    m.partition_date AS day,
    m.extension_id,
    e.extension_number,
    e.name AS extension_name,
    m.type,
    m.direction,
    count(*) AS messages,
    count(*) FILTER (WHERE m.read_status = 'Unread') AS unread
FROM messages AS m
LEFT JOIN extensions AS e ON e.id = m.extension_id
GROUP BY ALL
""",
    "mart_fax_pages": """
CREATE OR REPLACE VIEW mart_fax_pages AS
SELECT
    partition_date AS day,
    extension_id,
    direction,
    count(*) AS faxes,
    coalesce(sum(fax_page_count), 0) AS pages
FROM messages
WHERE type = 'Fax'
GROUP BY ALL
""",
    "mart_voicemail_minutes": """
CREATE OR REPLACE VIEW mart_voicemail_minutes AS
SELECT
    partition_date AS day,
    extension_id,
    count(*) AS voicemails,
    coalesce(sum(vm_duration_s), 0) / 60.0 AS minutes
FROM messages
WHERE type = 'VoiceMail'
GROUP BY ALL
""",
    # Voicemails nobody has listened to: the ones RingCentral drops first when a box fills (200).
    "mart_unread_voicemails": """
CREATE OR REPLACE VIEW mart_unread_voicemails AS
SELECT
    m.extension_id,
    e.extension_number,
    e.name AS extension_name,
    count(*) AS unread_voicemails,
    min(m.creation_time) AS oldest_unread,
    max(m.creation_time) AS newest_unread
FROM messages AS m
LEFT JOIN extensions AS e ON e.id = m.extension_id
WHERE m.type = 'VoiceMail' AND m.read_status = 'Unread' AND coalesce(m.availability, 'Alive') = 'Alive'
GROUP BY ALL
""",
}

"""SQL of the warehouse: one view per Parquet dataset, and the analyst marts built on them."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def parquet_view_sql(
    name: str, glob: str | list[str] | None, schema: pa.Schema, *, temporary: bool = False
) -> str:
    """A view over every file matching ``glob`` (or over a list of files), typed by ``schema``.

    With no files (``glob`` None or an empty list) the view selects nothing from nothing but still has
    every column and type, so analysts' queries on a fresh archive return zero rows, not an error.
    ``temporary``: a view of this connection only, which hides the stored view of the same name (how a
    refresh computes the marts of a few days: the same mart SQL over those days' files).
    """
    create = f"CREATE OR REPLACE {'TEMP ' if temporary else ''}VIEW {quote_identifier(name)} AS SELECT"
    if not glob:
        return f"{create}\n    {typed_select_list(schema, null_values=True)}\nWHERE false"
    files = (
        quote_literal(glob)
        if isinstance(glob, str)
        else "[" + ", ".join(quote_literal(path) for path in glob) + "]"
    )
    return (
        f"{create}\n    {typed_select_list(schema)}\n"
        f"FROM read_parquet({files}, hive_partitioning = true, union_by_name = true)"
    )


# The latest directory snapshot, materialised (see `materialized`) like the marts.
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
    # "downloaded" is not yet proof that the archive holds it. A day's recordings manifest lists the
    # recordings of that day's calls (calls/recordings.py), so a day's coverage reads that day's
    # partitions only: what lets the warehouse refresh one day without the others.
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
    SELECT DISTINCT partition_date AS day, recording_id FROM recordings WHERE status = 'verified'
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
LEFT JOIN verified AS v ON v.recording_id = r.recording_id AND v.day = r.day
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


@dataclass(frozen=True)
class DailyMart:
    """How a refresh updates a mart for some days only.

    Its rows carry `day`, and a day's rows are computed from that day's partitions of ``inputs``
    alone, so the mart's own SQL run over only those days' files gives exactly those days' rows.
    ``extension_columns`` (mart column -> column of `extensions`) are looked up by `extension_id` in
    the latest directory snapshot: when a snapshot renames an extension, a refresh updates them in
    every day's rows instead of recomputing the history.
    """

    inputs: tuple[str, ...]
    extension_columns: tuple[tuple[str, str], ...] = ()


_CALL_INPUTS = ("calls", "call_legs", "recordings")
_EXTENSION_COLUMNS = (("extension_number", "extension_number"), ("extension_name", "name"))

# Every mart of MART_SQL / MESSAGE_MART_SQL is here or in EXTENSION_MARTS (a test checks it).
DAILY_MARTS: dict[str, DailyMart] = {
    "mart_daily_call_volume": DailyMart(_CALL_INPUTS, _EXTENSION_COLUMNS),
    "mart_missed_call_rate": DailyMart(_CALL_INPUTS),
    "mart_avg_talk_time": DailyMart(_CALL_INPUTS),
    "mart_recording_coverage": DailyMart(_CALL_INPUTS),
    "mart_daily_messages": DailyMart(("messages",), _EXTENSION_COLUMNS),
    "mart_fax_pages": DailyMart(("messages",)),
    "mart_voicemail_minutes": DailyMart(("messages",)),
}


@dataclass(frozen=True)
class ExtensionMart:
    """A mart with one row per extension over all days, refreshed through per-day partial aggregates.

    ``by_day_sql`` aggregates one day's rows per extension (kept in ``by_day_table``); ``from_days_sql``
    combines the partials of every day into the mart's rows. Counts add up and min/max of minima and
    maxima are the overall ones, so this equals the mart's own SQL over all days (a test proves it)
    while a refresh reads only the changed days' files.
    """

    inputs: tuple[str, ...]
    by_day_table: str
    by_day_sql: str
    from_days_sql: str


EXTENSION_MARTS: dict[str, ExtensionMart] = {
    "mart_unread_voicemails": ExtensionMart(
        inputs=("messages",),
        by_day_table="unread_voicemails_by_day",
        by_day_sql="""
SELECT
    m.partition_date AS day,
    m.extension_id,
    count(*) AS unread_voicemails,
    min(m.creation_time) AS oldest_unread,
    max(m.creation_time) AS newest_unread
FROM messages AS m
WHERE m.type = 'VoiceMail' AND m.read_status = 'Unread' AND coalesce(m.availability, 'Alive') = 'Alive'
GROUP BY ALL
""",
        from_days_sql="""
SELECT
    d.extension_id,
    e.extension_number,
    e.name AS extension_name,
    CAST(sum(d.unread_voicemails) AS BIGINT) AS unread_voicemails,
    min(d.oldest_unread) AS oldest_unread,
    max(d.newest_unread) AS newest_unread
FROM {by_day} AS d
LEFT JOIN extensions AS e ON e.id = d.extension_id
GROUP BY ALL
""",
    ),
}


def mart_select(mart_sql: str) -> str:
    """The SELECT of a mart's ``CREATE ... VIEW name AS SELECT ...`` (what a refresh inserts)."""
    match = re.match(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+\S+\s+AS\s+(.*)\Z", mart_sql, re.DOTALL)
    if match is None:
        raise ValueError(f"not a mart definition (CREATE VIEW name AS SELECT ...): {mart_sql[:80]!r}")
    return match.group(1)


def materialized(mart_sql: str) -> str:
    """A mart's CREATE VIEW as CREATE TABLE: computed at each refresh, not on every analyst query.

    The warehouse is refreshed after every upstream change, so a table is as fresh as a view would be;
    as views, the coverage mart over 90 days x 100k calls took 7 s per query, as a table milliseconds.
    """
    return mart_sql.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TABLE", 1)

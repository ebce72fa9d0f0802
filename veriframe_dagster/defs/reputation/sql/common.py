"""What every computation shares: the days of a range, the warehouse's as-of marks, and the
replace-in-one-transaction write."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

DAYS_CTE = """
days AS (
    SELECT d::date AS day,
           d AT TIME ZONE 'UTC' AS day_start,
           (d + interval '1 day') AT TIME ZONE 'UTC' AS day_end
    FROM generate_series(CAST(:first AS date)::timestamp, CAST(:last AS date)::timestamp,
                         interval '1 day') AS d
),
bounds AS (SELECT min(day_start) AS t0, max(day_end) AS t1 FROM days)"""
"""`days` (one row per UTC day of :first..:last) and `bounds` (the range as [t0, t1))."""

AS_OF_CTE = """
as_of AS (
    SELECT (SELECT max(block_number) FROM chain_cursor) AS block,
           (SELECT coalesce(max(id), 0) FROM contract_events) AS event_id
)"""
"""The warehouse's ingestion marks at the statement's snapshot."""

UTC_DAY = "(({}) AT TIME ZONE 'UTC')::date"


def utc_day(expression: str) -> str:
    """SQL: the UTC day of a timestamptz expression."""
    return UTC_DAY.format(expression)


def replace_days(
    conn: sa.Connection, table: str, insert_sql: str, first: dt.date, last: dt.date, **params
) -> int:
    """Replace the rows of days `first`..`last` of `analytics.<table>` by what `insert_sql`
    computes, in the caller's transaction; one writer per table at a time. Returns the rows."""
    lock(conn, table)
    conn.execute(
        sa.text(f"DELETE FROM analytics.{table} WHERE day BETWEEN :first AND :last"),
        {"first": first, "last": last},
    )
    return conn.execute(sa.text(insert_sql), {"first": first, "last": last, **params}).rowcount


def lock(conn: sa.Connection, table: str) -> None:
    """Serialize the writers of one analytics table (a backfill and an automated run)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": f"analytics.{table}"})

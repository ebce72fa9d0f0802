"""What every computation shares: the days of a range, the warehouse's as-of marks, the
contract's rules as SQL (failure rate, eligibility), the chain-order "last value" of a
worker's history, what counts as a lease expiry, how late a row may commit, and the
replace-in-one-transaction write."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from veriframe_core.chain import rules
from veriframe_core.warehouse.tables import RELEASED_PREFIX

DAYS_CTE = """
days AS (
    SELECT d::date AS day,
           d AT TIME ZONE 'UTC' AS day_start,
           (d + interval '1 day') AT TIME ZONE 'UTC' AS day_end
    FROM generate_series(CAST(:first AS date)::timestamp, CAST(:last AS date)::timestamp,
                         interval '1 day') AS d
)"""
"""`days`: one row per UTC day of :first..:last. The range itself is the parameters :t0 and
:t1 (`window`), literals to the planner, which so estimates a day's rows of every time index
(from a CTE it could not, and planned a day as a scan of the whole history)."""

AS_OF_CTE = """
as_of AS (
    SELECT (SELECT max(block_number) FROM chain_cursor) AS block,
           (SELECT coalesce(max(id), 0) FROM contract_events) AS event_id
)"""
"""The warehouse's ingestion marks at the statement's snapshot."""

UTC_DAY = "(({}) AT TIME ZONE 'UTC')::date"

LEASE_EXPIRED = (
    f"(a.state = 'expired' AND coalesce(a.failure_reason, '') NOT LIKE '{RELEASED_PREFIX}%')"
)
"""SQL over attempts `a`: the lease lapsed (swept by the API); not a voluntary release. Its
moment is `a.lease_expires_at` (`ended_at` is when the sweep noticed)."""

LATE_COMMIT = dt.timedelta(seconds=60)
"""How long before another row's moment a row of the API's (an attempt's end, a verdict) or
of a run's (a sanction) may still commit: their transactions take `now()` at their start.
Whoever follows such rows by their moments looks this much further back."""

RULES = {
    "passing": rules.PASSING_SCORE,
    "start_reputation": rules.START_REPUTATION,
    "default_min": rules.DEFAULT_MIN_REPUTATION,
    "rate_min_jobs": rules.FAILURE_RATE_MIN_JOBS,
    "max_failure_rate": rules.MAX_FAILURE_RATE_PERCENT,
}
"""The contract's constants the statements take as parameters (`veriframe_core.chain.rules`)."""


def utc_day(expression: str) -> str:
    """SQL: the UTC day of a timestamptz expression."""
    return UTC_DAY.format(expression)


def failure_rate(failed: str, rated: str) -> str:
    """SQL: the contract's failure rate, failed * 100 / rated in integer division; NULL with
    no rated job (a CASE, not a division guarded by a short-circuit)."""
    return f"CASE WHEN ({rated}) > 0 THEN ({failed}) * 100 / ({rated}) END"


def eligible(verified: str, reputation: str, rated: str, rate: str) -> str:
    """SQL: `is_worker_eligible` for a job of the default minimum reputation, from columns
    (`rate`: the failure rate column, NULL with no rated job)."""
    return (
        f"({verified} AND {reputation} >= :default_min AND NOT coalesce("
        f"{rated} > :rate_min_jobs AND {rate} > :max_failure_rate, false))"
    )


def last_in_chain_order(value: str, where: str | None = None) -> str:
    """SQL aggregate over `reputation_history h`: `value` (an integer) of the last change in
    chain order (block, transaction, event), among the rows matching `where`.

    max() of an array with the position first and the value last is a hash aggregate; an
    `array_agg(… ORDER BY …)[1]` would sort every worker's history."""
    only = f" FILTER (WHERE {where})" if where else ""
    return f"(max(ARRAY[h.block_number, h.transaction_index, h.event_index, {value}]){only})[4]"


def first_in_chain_order(value: str) -> str:
    """SQL aggregate over `reputation_history h`: `value` (an integer) of the first change in
    chain order (the mirror of `last_in_chain_order`)."""
    return f"(min(ARRAY[h.block_number, h.transaction_index, h.event_index, {value}]))[4]"


def window(first: dt.date, last: dt.date) -> dict[str, Any]:
    """The parameters of the days `first`..`last`: the days, and the range as UTC [t0, t1)."""
    t0 = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    t1 = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return {"first": first, "last": last, "t0": t0, "t1": t1}


def replace_days(
    conn: sa.Connection, table: str, insert_sql: str, first: dt.date, last: dt.date, **params
) -> int:
    """Replace the rows of days `first`..`last` of `analytics.<table>` by what `insert_sql`
    computes, in the caller's transaction; one writer per table at a time (a duplicate
    request waits, then writes the same days again). A range refreshes the table's planner
    statistics too (autovacuum would, a minute later). Returns the rows."""
    lock(conn, table)
    conn.execute(
        sa.text(f"DELETE FROM analytics.{table} WHERE day BETWEEN :first AND :last"),
        {"first": first, "last": last},
    )
    written = conn.execute(sa.text(insert_sql), {**window(first, last), **params}).rowcount
    if last > first:  # a backfill: plan what follows (checks, the next day) on its rows
        conn.execute(sa.text(f"ANALYZE analytics.{table}"))
    return written


def lock(conn: sa.Connection, table: str) -> None:
    """Serialize the writers of one analytics table (a backfill and an automated run)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": f"analytics.{table}"})

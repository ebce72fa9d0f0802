"""Row counts: one row per registered worker and day, per day, per worker; and no future day.

Who is registered is read from the raw WorkerRegistered events (up to the event id the rows
saw), not from `workers`, which the tables were computed from.
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.reputation.checks.scope import Check, Scope, result, rows
from veriframe_dagster.defs.reputation.sql.common import DAYS_CTE

LATEST_EVENT = "(SELECT coalesce(max(id), 0) FROM contract_events)"

WORKER_DAYS_SQL = f"""
WITH {DAYS_CTE},
actual AS (
    SELECT day, worker_address, count(*) AS n, max(as_of_event_id) AS as_of
    FROM analytics.worker_reputation_daily WHERE day BETWEEN :first AND :last GROUP BY 1, 2
),
as_of AS (SELECT day, max(as_of) AS id FROM actual GROUP BY day),
expected AS (
    SELECT d.day, e.worker_address FROM days d
    LEFT JOIN as_of a ON a.day = d.day
    JOIN contract_events e ON e.event_name = 'WorkerRegistered'
     AND e.block_timestamp < d.day_end AND e.id <= coalesce(a.id, {LATEST_EVENT})
)
SELECT coalesce(x.day, a.day) AS day, coalesce(x.worker_address, a.worker_address) AS worker,
       coalesce(a.n, 0) AS rows, x.worker_address IS NOT NULL AS registered
FROM expected x FULL JOIN actual a ON a.day = x.day AND a.worker_address = x.worker_address
WHERE x.worker_address IS NULL OR a.n IS NULL OR a.n <> 1
ORDER BY 1, 2
"""


def worker_days_rows(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, WORKER_DAYS_SQL, scope.window())
    return result(found, f"{len(found)} (day, worker) pairs of {scope.days} without one row")


NETWORK_DAYS_SQL = f"""
WITH {DAYS_CTE}
SELECT d.day, count(n.day) AS rows FROM days d
LEFT JOIN analytics.network_daily n ON n.day = d.day
GROUP BY d.day HAVING count(n.day) <> 1 ORDER BY d.day
"""


def network_days_rows(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, NETWORK_DAYS_SQL, scope.window())
    return result(found, f"{len(found)} days of {scope.days} without exactly one row")


SCORECARD_SQL = f"""
WITH actual AS (
    SELECT worker_address, count(*) AS n, max(as_of_event_id) AS as_of
    FROM analytics.worker_scorecard GROUP BY worker_address
),
expected AS (
    SELECT e.worker_address FROM contract_events e
    WHERE e.event_name = 'WorkerRegistered'
      AND e.id <= coalesce((SELECT max(as_of) FROM actual), {LATEST_EVENT})
)
SELECT coalesce(x.worker_address, a.worker_address) AS worker, coalesce(a.n, 0) AS rows,
       x.worker_address IS NOT NULL AS registered
FROM expected x FULL JOIN actual a ON a.worker_address = x.worker_address
WHERE x.worker_address IS NULL OR a.n IS NULL ORDER BY 1
"""


def scorecard_rows(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, SCORECARD_SQL, {})
    return result(found, f"{len(found)} workers without exactly one row")


LATEST_DAY_SQL = """
SELECT greatest(
    (now() AT TIME ZONE 'UTC')::date,
    (SELECT (block_timestamp AT TIME ZONE 'UTC')::date FROM chain_blocks
     ORDER BY block_number DESC LIMIT 1))
"""
"""The latest day a row may have: today (UTC) or the chain's latest block's day."""


def _no_future_days(table: str) -> Check:
    # the latest day goes in as a literal: against an expression the planner guesses a third
    # of the table matches and scans all of it (0.1 s at 770k rows, against 1 ms by index)
    sql = f"""
    SELECT day, count(*) AS rows FROM analytics.{table} WHERE day > :latest
    GROUP BY day ORDER BY day
    """

    def no_future_days(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
        latest = conn.execute(sa.text(LATEST_DAY_SQL)).scalar_one()
        found = rows(conn, sql, {"latest": latest})
        return result(found, f"{len(found)} future days in {table}")

    return Check(
        table,
        "no_future_days",
        "No row for a day after today (UTC) and after the chain's latest block's day (the "
        "whole table, whatever the partition).",
        no_future_days,
    )


ROW_CHECKS = [
    Check(
        "worker_reputation_daily",
        "one_row_per_worker_and_day",
        "Each day has exactly one row per worker registered by its end (from the "
        "WorkerRegistered events), and none for anyone else.",
        worker_days_rows,
    ),
    Check(
        "network_daily",
        "one_row_per_day",
        "Each day checked has exactly one row.",
        network_days_rows,
    ),
    Check(
        "worker_scorecard",
        "one_row_per_worker",
        "Exactly one row per registered worker (from the WorkerRegistered events).",
        scorecard_rows,
    ),
    _no_future_days("worker_reputation_daily"),
    _no_future_days("network_daily"),
]

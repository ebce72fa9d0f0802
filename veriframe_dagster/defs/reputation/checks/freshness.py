"""Freshness: the rows have seen every event the warehouse has held for longer than
`chain_fresh_max_lag_s` — measured by event ids, so a reorg's re-ingested events (new ids in
old blocks) count as unseen too, until their days are recomputed."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.reputation.checks.scope import Check, Scope, result, rows
from veriframe_dagster.defs.reputation.sql.common import DAYS_CTE


def _daily_sql(table: str) -> str:
    return f"""
    WITH {DAYS_CTE},
    seen AS (
        SELECT d.day, coalesce(
            (SELECT min(as_of_event_id) FROM analytics.{table} t WHERE t.day = d.day), 0) AS id
        FROM days d
    )
    SELECT s.day, s.id AS seen_up_to, count(e.id) AS unseen_events,
           min(e.ingested_at) AS oldest_unseen_ingested_at
    FROM seen s
    JOIN contract_events e ON e.id > s.id
     AND e.block_timestamp >= :t0 AND e.block_timestamp < :t1
     AND (e.block_timestamp AT TIME ZONE 'UTC')::date = s.day
     AND e.ingested_at < now() - make_interval(secs => :lag_s)
    WHERE e.id > (SELECT min(id) FROM seen)
    GROUP BY s.day, s.id ORDER BY s.day
    """


def _daily_freshness(table: str) -> Check:
    sql = _daily_sql(table)

    def fresh(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
        found = rows(conn, sql, {**scope.window(), "lag_s": scope.lag_s})
        return result(
            found,
            f"{len(found)} days of {scope.days} miss events older than {scope.lag_s:g} s",
            max_lag_seconds=scope.lag_s,
        )

    return Check(
        table,
        "fresh",
        "The day's rows have seen every event of the day that the warehouse has held for "
        "longer than chain_fresh_max_lag_s.",
        fresh,
    )


SCORECARD_SQL = """
WITH seen AS (SELECT coalesce(min(as_of_event_id), 0) AS id FROM analytics.worker_scorecard)
SELECT s.id AS seen_up_to, count(e.id) AS unseen_events,
       min(e.ingested_at) AS oldest_unseen_ingested_at
FROM seen s JOIN contract_events e
  ON e.id > s.id AND e.ingested_at < now() - make_interval(secs => :lag_s)
GROUP BY s.id
"""


def scorecard_fresh(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, SCORECARD_SQL, {"lag_s": scope.lag_s})
    return result(
        found,
        f"the scorecard misses {found[0]['unseen_events']} events" if found else "up to date",
        max_lag_seconds=scope.lag_s,
    )


FRESHNESS_CHECKS = [
    _daily_freshness("worker_reputation_daily"),
    _daily_freshness("network_daily"),
    Check(
        "worker_scorecard",
        "fresh",
        "The scorecard has seen every event the warehouse has held for longer than "
        "chain_fresh_max_lag_s.",
        scorecard_fresh,
    ),
]

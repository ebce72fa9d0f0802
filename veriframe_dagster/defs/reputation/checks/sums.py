"""Sums that agree with the chain: the tables are computed from the folded chain tables
(`jobs`, `reputation_history`); these checks recount from the raw `contract_events`, up to
the event id each row saw (`as_of_event_id`), so an ingestion running meanwhile cannot fail
them, but a rolled-back event the rows still count does."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.reputation.checks.scope import Check, Scope, result, rows

REWARD = "(e.decoded->>'reward_amount')::numeric"


def _event_totals(names: dict[str, str]) -> str:
    """SQL aggregates over events `e`: {alias: aggregate}."""
    return ", ".join(f"{sql} AS {alias}" for alias, sql in names.items())


CHAIN_PER_DAY = {
    "chain_created": "count(*) FILTER (WHERE e.event_name = 'JobCreated')",
    "chain_escrowed": f"coalesce(sum({REWARD}) FILTER (WHERE e.event_name = 'JobCreated'), 0)",
    "chain_submitted": "count(*) FILTER (WHERE e.event_name = 'ResultSubmitted')",
    "chain_finalized": "count(*) FILTER (WHERE e.event_name = 'JobFinalized')",
    "chain_paid": f"coalesce(sum({REWARD}) FILTER (WHERE e.event_name = 'JobFinalized'), 0)",
    "chain_rated": "count(*) FILTER (WHERE e.event_name IN "
    "('ReputationUpdated', 'ReputationSlashed'))",
}
EVENT_NAMES = "('JobCreated', 'ResultSubmitted', 'JobFinalized', 'ReputationUpdated', " + (
    "'ReputationSlashed')"
)


def _per_day_sql(table_totals: str, comparisons: list[tuple[str, str]]) -> str:
    """Rows of days whose table totals (`table_totals`: per day, with `as_of`) differ from the
    events' (`comparisons`: (table column, chain column)).

    The events are counted per day in one pass up to the lowest `as_of` of the range, plus
    the few events between the lowest and each day's own `as_of` (by id, through the primary
    key): exact per day, without joining every event to every day."""
    differs = " OR ".join(f"t.{a} <> coalesce(c.{b}, 0)" for a, b in comparisons)
    return f"""
    WITH t AS ({table_totals}),
    low AS (SELECT min(as_of) AS id FROM t),
    e AS (
        SELECT e.event_name, e.decoded, (e.block_timestamp AT TIME ZONE 'UTC')::date AS day
        FROM contract_events e, low
        WHERE e.event_name IN {EVENT_NAMES} AND e.id <= low.id
          AND e.block_timestamp >= :t0 AND e.block_timestamp < :t1
        UNION ALL
        SELECT e.event_name, e.decoded, t.day
        FROM contract_events e, low, t
        WHERE e.id > low.id AND e.id <= t.as_of AND e.event_name IN {EVENT_NAMES}
          AND (e.block_timestamp AT TIME ZONE 'UTC')::date = t.day
    ),
    c AS (SELECT e.day, {_event_totals(CHAIN_PER_DAY)} FROM e GROUP BY e.day)
    SELECT t.*, {", ".join(f"coalesce(c.{b}, 0) AS {b}" for _, b in comparisons)}
    FROM t LEFT JOIN c ON c.day = t.day WHERE {differs} ORDER BY t.day
    """


WORKER_DAYS_SQL = _per_day_sql(
    """SELECT day, sum(earnings) AS earnings, sum(jobs_paid) AS jobs_paid,
              sum(jobs_completed + jobs_failed) AS rated, max(as_of_event_id) AS as_of
       FROM analytics.worker_reputation_daily
       WHERE day BETWEEN :first AND :last GROUP BY day""",
    [("earnings", "chain_paid"), ("jobs_paid", "chain_finalized"), ("rated", "chain_rated")],
)
NETWORK_DAYS_SQL = _per_day_sql(
    """SELECT day, jobs_created, rewards_escrowed, jobs_completed, jobs_finalized,
              rewards_paid, as_of_event_id AS as_of
       FROM analytics.network_daily WHERE day BETWEEN :first AND :last""",
    [
        ("jobs_created", "chain_created"),
        ("rewards_escrowed", "chain_escrowed"),
        ("jobs_completed", "chain_submitted"),
        ("jobs_finalized", "chain_finalized"),
        ("rewards_paid", "chain_paid"),
    ],
)


def worker_days_sums(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, WORKER_DAYS_SQL, scope.window())
    return result(found, f"{len(found)} days of {scope.days} disagree with the chain events")


def network_days_sums(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, NETWORK_DAYS_SQL, scope.window())
    return result(found, f"{len(found)} days of {scope.days} disagree with the chain events")


SCORECARD_SQL = f"""
WITH t AS (
    SELECT coalesce(sum(earnings), 0) AS earnings, coalesce(sum(jobs_paid), 0) AS jobs_paid,
           coalesce(sum(jobs_completed + jobs_failed), 0) AS rated,
           coalesce(min(as_of_event_id), 0) AS as_of
    FROM analytics.worker_scorecard
),
c AS (
    SELECT {_event_totals(CHAIN_PER_DAY)}
    FROM t JOIN contract_events e ON e.event_name IN {EVENT_NAMES} AND e.id <= t.as_of
)
SELECT t.earnings, c.chain_paid, t.jobs_paid, c.chain_finalized, t.rated, c.chain_rated
FROM t, c
WHERE t.earnings <> c.chain_paid OR t.jobs_paid <> c.chain_finalized OR t.rated <> c.chain_rated
"""


def scorecard_sums(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, SCORECARD_SQL, {})
    return result(found, "totals disagree with the chain events" if found else "totals agree")


NAME = "sums_match_chain_events"
SUM_CHECKS = [
    Check(
        "worker_reputation_daily",
        NAME,
        "Per day, the workers' earnings, jobs paid and rated jobs (ratings and slashes) add up "
        "to the JobFinalized rewards and the ReputationUpdated / ReputationSlashed events of "
        "that day.",
        worker_days_sums,
    ),
    Check(
        "network_daily",
        NAME,
        "Per day, jobs created, results submitted, jobs finalized, rewards escrowed and paid "
        "equal the JobCreated / ResultSubmitted / JobFinalized events of that day.",
        network_days_sums,
    ),
    Check(
        "worker_scorecard",
        NAME,
        "The workers' earnings, jobs paid and rated jobs add up to every JobFinalized reward "
        "and every ReputationUpdated / ReputationSlashed event the scorecard saw.",
        scorecard_sums,
    ),
]

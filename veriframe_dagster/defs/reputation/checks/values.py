"""Reputation values: the contract keeps every registered worker's reputation in 1–1000."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from veriframe_core.chain import rules
from veriframe_dagster.defs.reputation.checks.scope import Check, Scope, result, rows


def _out_of_range(column: str) -> str:
    return f"NOT {column} BETWEEN {rules.MIN_REPUTATION} AND {rules.MAX_REPUTATION}"


DESCRIPTION = (
    f"Every reputation is in {rules.MIN_REPUTATION}–{rules.MAX_REPUTATION}, as the contract "
    "keeps it."
)
WORKER_DAYS_SQL = f"""
SELECT day, worker_address, reputation FROM analytics.worker_reputation_daily
WHERE day BETWEEN :first AND :last AND {_out_of_range("reputation")}
ORDER BY day, worker_address
"""
SCORECARD_SQL = f"""
SELECT worker_address, reputation, reputation_7d_ago, reputation_30d_ago
FROM analytics.worker_scorecard
WHERE {_out_of_range("reputation")} OR {_out_of_range("reputation_7d_ago")}
   OR {_out_of_range("reputation_30d_ago")}
ORDER BY worker_address
"""


def worker_days_in_range(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, WORKER_DAYS_SQL, scope.window())
    return result(found, f"{len(found)} rows of {scope.days} out of range")


def scorecard_in_range(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
    found = rows(conn, SCORECARD_SQL, {})
    return result(found, f"{len(found)} workers with a reputation out of range")


NAME = "reputation_in_range"
VALUE_CHECKS = [
    Check("worker_reputation_daily", NAME, DESCRIPTION, worker_days_in_range),
    Check("worker_scorecard", NAME, DESCRIPTION, scorecard_in_range),
]

"""Verdicts that agree with `verifications` and `sanctions`: per day (and worker), what the
rows count lies between the verdicts and sent sanctions of that day that had committed when
the row was computed (those at least `LATE_COMMIT` older than it) and all of them now.

Verdicts and sanctions are final (a decided verification is never decided again, a sanction
never withdrawn), so a row may miss only what committed after it; a count above all of them,
or below what it must have seen, is wrong.
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.reputation.checks.scope import Check, Scope, result, rows
from veriframe_dagster.defs.reputation.sql.common import LATE_COMMIT
from veriframe_dagster.defs.reputation.sql.verdicts import COUNTS, VERDICTS


def _bounds(column: str) -> str:
    return (
        f"coalesce(sum(v.{column}) FILTER (WHERE v.at <= t.computed_at - :late), 0) "
        f"AS {column}_seen, sum(v.{column}) AS {column}_now"
    )


def _sql(table: str, keys: list[str]) -> str:
    """Rows of `table` (keyed by `keys`) whose counts are out of their bounds."""
    key_list = ", ".join(f"t.{k}" for k in keys)
    joined = " AND ".join(f"v.{k} = t.{k}" for k in keys)
    outside = " OR ".join(
        f"NOT t.{c} BETWEEN coalesce(b.{c}_seen, 0) AND coalesce(b.{c}_now, 0)" for c in COUNTS
    )
    return f"""
    WITH t AS (
        SELECT {", ".join(keys)}, {", ".join(COUNTS)}, computed_at FROM analytics.{table}
        WHERE day BETWEEN :first AND :last
    ),
    b AS (  -- the rows with verdicts (few of a backfill's) and their bounds
        SELECT {key_list}, {", ".join(_bounds(c) for c in COUNTS)}
        FROM ({VERDICTS}) AS v JOIN t ON {joined} GROUP BY {key_list}
    )
    SELECT t.*, {", ".join(f"b.{c}_seen, b.{c}_now" for c in COUNTS)}
    FROM t LEFT JOIN b USING ({", ".join(keys)}) WHERE {outside} ORDER BY {", ".join(keys)}
    """


def _verdicts_check(table: str, keys: list[str], per: str) -> Check:
    sql = _sql(table, keys)

    def evaluate(conn: sa.Connection, scope: Scope) -> dg.AssetCheckResult:
        found = rows(conn, sql, {**scope.window(), "late": LATE_COMMIT})
        return result(found, f"{len(found)} {per} of {scope.days} disagree with the verdicts")

    return Check(
        table,
        "verdicts_match_verifications",
        f"Per {per.removesuffix('s')}, verified and rejected deliveries, results rejected on "
        "chain and sanctions count the verdicts (verifications.finished_at) and sent sanctions "
        "of that day: all those that had committed when the row was computed, none that "
        "does not exist.",
        evaluate,
    )


VERDICT_CHECKS = [
    _verdicts_check("worker_reputation_daily", ["day", "worker_address"], "(day, worker) pairs"),
    _verdicts_check("network_daily", ["day"], "days"),
]

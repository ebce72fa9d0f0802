"""What verification found, by the UTC day it was found: one row per verdict (a decided
`verifications` row, by its `finished_at`) and per sanction the operator's account sent (by
its `created_at`), over the range :t0..:t1. The daily tables sum it per day (and worker);
their check recounts it.

A delivery's verification opens in the transaction that records the delivery, so its
`created_at` is the delivery's moment and `seconds` is delivery to verdict.
"""

from __future__ import annotations

from veriframe_dagster.defs.reputation.sql.common import utc_day

COUNTS = ("deliveries_verified", "deliveries_rejected", "results_rejected_on_chain", "sanctions")
"""The columns both daily tables have, each a sum over `VERDICTS`."""

VERDICTS = f"""
SELECT {utc_day("v.finished_at")} AS day, v.worker_address, v.finished_at AS at,
       (v.source = 'delivery' AND v.state = 'verified')::int AS deliveries_verified,
       (v.source = 'delivery' AND v.state = 'rejected')::int AS deliveries_rejected,
       (v.source = 'chain' AND v.state = 'rejected')::int AS results_rejected_on_chain,
       0 AS sanctions,
       CASE WHEN v.source = 'delivery' THEN extract(epoch FROM v.finished_at - v.created_at)
       END AS seconds
FROM verifications v WHERE v.finished_at >= :t0 AND v.finished_at < :t1
UNION ALL
SELECT {utc_day("s.created_at")}, s.worker_address, s.created_at, 0, 0, 0, 1, NULL
FROM sanctions s WHERE s.outcome = 'sent' AND s.created_at >= :t0 AND s.created_at < :t1
"""
"""SQL: the verdicts and sanctions of the range (day, worker_address, at, the `COUNTS` as 0 or
1, and `seconds` from a delivery to its verdict)."""

SUMS = ", ".join(f"sum(v.{c})::int AS {c}" for c in COUNTS)
"""SQL aggregates over `VERDICTS v`: each of `COUNTS`, summed."""


def counted(alias: str) -> str:
    """SQL: the `COUNTS` of the sums `alias` (a LEFT JOIN of them), 0 where it has no row."""
    return ", ".join(f"coalesce({alias}.{c}, 0) AS {c}" for c in COUNTS)

"""`analytics.network_daily`: the marketplace per UTC day, from `jobs`, `job_attempts`,
`workers`, the verification history, and what frame verification found (`verifications`,
`sanctions`).

A job's durations count on the day their end happened (claimed, result, paid, verdict), so a
day's medians describe the work finished that day.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from veriframe_dagster.defs.reputation.sql.common import AS_OF_CTE, DAYS_CTE, replace_days, utc_day
from veriframe_dagster.defs.reputation.sql.verdicts import COUNTS, SUMS, VERDICTS, counted

TABLE = "network_daily"


def _median(end: str, start: str = "j.created_at") -> str:
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM {end} - {start}))"


def _by_day(column: str) -> str:
    """Jobs whose `column` falls in the range, by its day: count, median since creation."""
    return f"""
    SELECT {utc_day(f"j.{column}")} AS day, count(*) AS n, {_median(f"j.{column}")} AS median_s,
           sum(j.reward_amount) AS rewards
    FROM jobs j WHERE j.{column} >= :t0 AND j.{column} < :t1 GROUP BY 1"""


INSERT = f"""
INSERT INTO analytics.network_daily (
    day, jobs_created, jobs_claimed, jobs_completed, jobs_finalized, jobs_expired,
    rewards_escrowed, rewards_paid, active_workers, verified_workers, registered_workers,
    median_seconds_to_claim, median_seconds_to_result, median_seconds_to_payment,
    {", ".join(COUNTS)}, median_seconds_to_verdict, as_of_block, as_of_event_id, computed_at)
WITH {DAYS_CTE}, {AS_OF_CTE},
created AS ({_by_day("created_at")}),
submitted AS ({_by_day("submitted_at")}),
finalized AS ({_by_day("finalized_at")}),
first_claims AS (  -- jobs first claimed in the range: a claim in it, none earlier
    SELECT DISTINCT ON (a.job_id, a.created_tx) a.job_id, a.created_tx, a.claimed_at
    FROM job_attempts a
    WHERE a.claimed_at >= :t0 AND a.claimed_at < :t1 AND NOT EXISTS (
        SELECT FROM job_attempts e
        WHERE e.job_id = a.job_id AND e.created_tx = a.created_tx AND e.claimed_at < a.claimed_at)
    ORDER BY a.job_id, a.created_tx, a.claimed_at
),
claimed AS (
    SELECT {utc_day("f.claimed_at")} AS day, count(*) AS n,
           {_median("f.claimed_at")} AS median_s
    FROM first_claims f
    JOIN jobs j ON j.job_id = f.job_id AND j.created_tx = f.created_tx GROUP BY 1
),
expired AS (
    SELECT {utc_day("j.deadline")} AS day, count(*) AS n
    FROM jobs j
    WHERE j.status = 'expired' AND j.deadline >= :t0 AND j.deadline < :t1 GROUP BY 1
),
active AS (
    SELECT day, count(DISTINCT worker_address) AS n FROM (
        SELECT {utc_day("a.claimed_at")} AS day, a.worker_address
        FROM job_attempts a WHERE a.claimed_at >= :t0 AND a.claimed_at < :t1
        UNION ALL
        SELECT {utc_day("j.submitted_at")}, j.worker_address
        FROM jobs j WHERE j.submitted_at >= :t0 AND j.submitted_at < :t1
    ) AS acts GROUP BY day
),
verified_spans AS (  -- each worker's verified periods ("verifications" is the table's name)
    SELECT h.changed_at AS since, h.reason = 'verified' AS verified,
           lead(h.changed_at) OVER (PARTITION BY h.worker_address
               ORDER BY h.block_number, h.transaction_index, h.event_index) AS until
    FROM reputation_history h WHERE h.reason IN ('verified', 'unverified')
),
verified AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN verified_spans v
      ON v.verified AND v.since < d.day_end AND (v.until IS NULL OR v.until >= d.day_end)
    GROUP BY d.day
),
registered AS (
    SELECT d.day, count(*) AS n FROM days d
    JOIN workers w ON w.registered AND w.registered_at < d.day_end GROUP BY d.day
),
verdicts AS (
    SELECT v.day, {SUMS},
           percentile_cont(0.5) WITHIN GROUP (ORDER BY v.seconds) AS median_s
    FROM ({VERDICTS}) AS v GROUP BY 1
)
SELECT d.day, coalesce(cr.n, 0), coalesce(cl.n, 0), coalesce(s.n, 0), coalesce(f.n, 0),
       coalesce(x.n, 0), coalesce(cr.rewards, 0), coalesce(f.rewards, 0), coalesce(ac.n, 0),
       coalesce(v.n, 0), coalesce(r.n, 0), cl.median_s, s.median_s, f.median_s,
       {counted("vd")}, vd.median_s, a.block, a.event_id, now()
FROM days d
CROSS JOIN as_of a
LEFT JOIN created cr ON cr.day = d.day
LEFT JOIN claimed cl ON cl.day = d.day
LEFT JOIN submitted s ON s.day = d.day
LEFT JOIN finalized f ON f.day = d.day
LEFT JOIN expired x ON x.day = d.day
LEFT JOIN active ac ON ac.day = d.day
LEFT JOIN verified v ON v.day = d.day
LEFT JOIN registered r ON r.day = d.day
LEFT JOIN verdicts vd ON vd.day = d.day
"""


def refresh_network_days(conn: sa.Connection, first: dt.date, last: dt.date) -> int:
    """Recompute the days `first`..`last` (in the caller's transaction); the rows written."""
    return replace_days(conn, TABLE, INSERT, first, last)

"""`analytics.worker_reputation_daily`: every registered worker on every day of a range.

Reputation and the contract's counters at the end of a day are the last change before the
day's end: changes of the range are aggregated per worker and day, carried forward with
window functions (the "last non-null" of a running group), and seeded with the state before
the range. That state is the workers' current state (`workers`, the fold of the same history,
written in the same transactions) rewound over the changes since the range began: the
reputation before a worker's first change since then is that change's `old_reputation`, the
counters less what those changes added, the verification the last one before the range
(looked up only for the few workers whose verification changed since). So a day costs the
history since that day, not all of it: today's partition reads one day of changes.

Earnings come from `jobs` (finalized to the worker), lease expiries (by the lease's end;
voluntary releases excluded) and failed attempts (by their end) from `job_attempts`, what
verification found from `verifications` and `sanctions` (by the verdict's and the sanction's
day: `verdicts`). The same statement serves one day and a 90-day backfill.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from veriframe_dagster.defs.reputation.sql.common import (
    AS_OF_CTE,
    DAYS_CTE,
    LEASE_EXPIRED,
    RULES,
    eligible,
    failure_rate,
    first_in_chain_order,
    last_in_chain_order,
    replace_days,
    utc_day,
)
from veriframe_dagster.defs.reputation.sql.verdicts import COUNTS, SUMS, VERDICTS, counted

TABLE = "worker_reputation_daily"
VERIFICATION = "h.reason IN ('verified', 'unverified')"
COMPLETES = "h.reason = 'rating' AND h.quality_score >= :passing"
FAILS = "h.reason = 'slash' OR (h.reason = 'rating' AND h.quality_score < :passing)"
REPUTATION = f"{last_in_chain_order('h.new_reputation')}::int"
VERIFIED = last_in_chain_order("CASE WHEN h.reason = 'verified' THEN 1 ELSE 0 END", VERIFICATION)

INSERT = f"""
INSERT INTO analytics.worker_reputation_daily (
    day, worker_address, reputation, reputation_change, rating_change, slash_change,
    verification_change, changes, change_reasons, jobs_completed, jobs_failed, jobs_expired,
    attempts_failed, jobs_paid, earnings, jobs_completed_total, jobs_failed_total,
    failure_rate_pct, verified, eligible_at_default, {", ".join(COUNTS)}, as_of_block,
    as_of_event_id, computed_at)
WITH {DAYS_CTE}, {AS_OF_CTE},
registered AS (
    SELECT w.address AS worker_address, w.registered_at
    FROM workers w WHERE w.registered AND w.registered_at < :t1
),
since AS (  -- each worker's changes from the range's start on, to rewind its state over
    SELECT h.worker_address,
           {first_in_chain_order("h.old_reputation")} AS reputation,
           count(*) FILTER (WHERE {VERIFICATION}) AS verifications,
           count(*) FILTER (WHERE {COMPLETES}) AS completed,
           count(*) FILTER (WHERE {FAILS}) AS failed
    FROM reputation_history h WHERE h.changed_at >= :t0 GROUP BY h.worker_address
),
carried AS MATERIALIZED (  -- the state before the range (MATERIALIZED: the planner
                           -- would otherwise re-aggregate `since` per worker)
    SELECT w.address AS worker_address,
           coalesce(s.reputation, w.reputation) AS reputation,
           CASE WHEN s.verifications > 0 THEN (
               SELECT CASE WHEN h.reason = 'verified' THEN 1 ELSE 0 END
               FROM reputation_history h
               WHERE h.worker_address = w.address AND {VERIFICATION} AND h.changed_at < :t0
               ORDER BY h.block_number DESC, h.transaction_index DESC, h.event_index DESC
               LIMIT 1
           ) ELSE w.verified::int END AS verification,
           w.jobs_completed - coalesce(s.completed, 0) AS completed,
           w.jobs_failed - coalesce(s.failed, 0) AS failed
    FROM workers w LEFT JOIN since s ON s.worker_address = w.address
    WHERE w.registered
),
per_day AS (
    SELECT h.worker_address, {utc_day("h.changed_at")} AS day,
           {REPUTATION} AS reputation,
           {VERIFIED} AS verification,
           sum(h.change_amount) AS change,
           coalesce(sum(h.change_amount) FILTER (WHERE h.reason = 'rating'), 0) AS rating,
           coalesce(sum(h.change_amount) FILTER (WHERE h.reason = 'slash'), 0) AS slash,
           coalesce(sum(h.change_amount) FILTER (WHERE {VERIFICATION}), 0) AS verification_change,
           count(*) AS changes,
           array_agg(DISTINCT h.reason ORDER BY h.reason) AS reasons,
           count(*) FILTER (WHERE {COMPLETES}) AS completed,
           count(*) FILTER (WHERE {FAILS}) AS failed
    FROM reputation_history h
    WHERE h.changed_at >= :t0 AND h.changed_at < :t1 GROUP BY 1, 2
),
paid AS (
    SELECT j.worker_address, {utc_day("j.finalized_at")} AS day,
           count(*) AS jobs, sum(j.reward_amount) AS earnings
    FROM jobs j WHERE j.finalized_at >= :t0 AND j.finalized_at < :t1
    GROUP BY 1, 2
),
ended AS (
    SELECT worker_address, day, sum(expired) AS expired, sum(failed) AS failed FROM (
        SELECT a.worker_address, {utc_day("a.lease_expires_at")} AS day, 1 AS expired, 0 AS failed
        FROM job_attempts a
        WHERE {LEASE_EXPIRED} AND a.lease_expires_at >= :t0 AND a.lease_expires_at < :t1
        UNION ALL
        SELECT a.worker_address, {utc_day("a.ended_at")}, 0, 1
        FROM job_attempts a
        WHERE a.state = 'failed' AND a.ended_at >= :t0 AND a.ended_at < :t1
    ) AS e GROUP BY 1, 2
),
verdicts AS (SELECT v.worker_address, v.day, {SUMS} FROM ({VERDICTS}) AS v GROUP BY 1, 2),
panel AS (
    SELECT r.worker_address, d.day,
           pd.reputation AS day_reputation, pd.verification AS day_verification,
           coalesce(pd.change, 0) AS reputation_change,
           coalesce(pd.rating, 0) AS rating_change,
           coalesce(pd.slash, 0) AS slash_change,
           coalesce(pd.verification_change, 0) AS verification_change,
           coalesce(pd.changes, 0) AS changes,
           coalesce(pd.reasons, ARRAY[]::varchar[]) AS change_reasons,
           coalesce(pd.completed, 0) AS jobs_completed,
           coalesce(pd.failed, 0) AS jobs_failed,
           coalesce(e.expired, 0) AS jobs_expired,
           coalesce(e.failed, 0) AS attempts_failed,
           coalesce(p.jobs, 0) AS jobs_paid,
           coalesce(p.earnings, 0) AS earnings,
           {counted("vd")},
           c.reputation AS carried_reputation, c.verification AS carried_verification,
           coalesce(c.completed, 0) AS carried_completed, coalesce(c.failed, 0) AS carried_failed
    FROM registered r
    JOIN days d ON r.registered_at < d.day_end
    LEFT JOIN carried c ON c.worker_address = r.worker_address
    LEFT JOIN per_day pd ON pd.worker_address = r.worker_address AND pd.day = d.day
    LEFT JOIN paid p ON p.worker_address = r.worker_address AND p.day = d.day
    LEFT JOIN ended e ON e.worker_address = r.worker_address AND e.day = d.day
    LEFT JOIN verdicts vd ON vd.worker_address = r.worker_address AND vd.day = d.day
),
grouped AS (
    SELECT panel.*,
           count(day_reputation) OVER w AS reputation_group,
           count(day_verification) OVER w AS verification_group,
           (carried_completed + sum(jobs_completed) OVER w)::int AS completed_total,
           (carried_failed + sum(jobs_failed) OVER w)::int AS failed_total
    FROM panel WINDOW w AS (PARTITION BY worker_address ORDER BY day)
),
filled AS (
    SELECT grouped.*,
           coalesce(first_value(day_reputation) OVER (
               PARTITION BY worker_address, reputation_group ORDER BY day),
               carried_reputation, :start_reputation) AS reputation,
           coalesce(coalesce(first_value(day_verification) OVER (
               PARTITION BY worker_address, verification_group ORDER BY day),
               carried_verification) = 1, false) AS verified,
           completed_total + failed_total AS rated,
           {failure_rate("failed_total", "completed_total + failed_total")} AS failure_rate
    FROM grouped
)
SELECT f.day, f.worker_address, f.reputation, f.reputation_change, f.rating_change,
       f.slash_change, f.verification_change, f.changes, f.change_reasons, f.jobs_completed,
       f.jobs_failed, f.jobs_expired, f.attempts_failed, f.jobs_paid, f.earnings,
       f.completed_total, f.failed_total,
       f.failure_rate, f.verified,
       {eligible("f.verified", "f.reputation", "f.rated", "f.failure_rate")},
       {", ".join(f"f.{c}" for c in COUNTS)}, a.block, a.event_id, now()
FROM filled f, as_of a
"""


def refresh_worker_days(conn: sa.Connection, first: dt.date, last: dt.date) -> int:
    """Recompute the days `first`..`last` (in the caller's transaction); the rows written."""
    return replace_days(conn, TABLE, INSERT, first, last, **RULES)

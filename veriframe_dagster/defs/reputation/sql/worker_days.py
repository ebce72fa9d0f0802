"""`analytics.worker_reputation_daily`: every registered worker on every day of a range.

Reputation and the contract's counters at the end of a day are the last change before the
day's end: changes of the range are aggregated per worker and day, carried forward with
window functions (the "last non-null" of a running group), and seeded with the state before
the range. Earnings come from `jobs` (finalized to the worker), expiries and failed attempts
from `job_attempts`. The same statement serves one day and a 90-day backfill.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from veriframe_core.chain import rules
from veriframe_dagster.defs.reputation.sql.common import AS_OF_CTE, DAYS_CTE, replace_days, utc_day

TABLE = "worker_reputation_daily"
VERIFICATION = "h.reason IN ('verified', 'unverified')"
COMPLETES = "h.reason = 'rating' AND h.quality_score >= :passing"
FAILS = "h.reason = 'slash' OR (h.reason = 'rating' AND h.quality_score < :passing)"
LATEST_REPUTATION = "ARRAY[h.block_number, h.transaction_index, h.event_index, h.new_reputation]"
"""max() of it is the last change's (chain order), element 4 its new reputation: a hash
aggregate, where array_agg(… ORDER BY …)[1] sorts every worker's history."""
LATEST_VERIFICATION = (
    "ARRAY[h.block_number, h.transaction_index, h.event_index, "
    "CASE WHEN h.reason = 'verified' THEN 1 ELSE 0 END]"
)

INSERT = f"""
INSERT INTO analytics.worker_reputation_daily (
    day, worker_address, reputation, reputation_change, rating_change, slash_change,
    verification_change, changes, change_reasons, jobs_completed, jobs_failed, jobs_expired,
    attempts_failed, jobs_paid, earnings, jobs_completed_total, jobs_failed_total,
    failure_rate_pct, verified, eligible_at_default, as_of_block, as_of_event_id, computed_at)
WITH {DAYS_CTE}, {AS_OF_CTE},
registered AS (
    SELECT w.address AS worker_address, w.registered_at
    FROM workers w, bounds b WHERE w.registered AND w.registered_at < b.t1
),
carried AS (
    SELECT h.worker_address,
           (max({LATEST_REPUTATION}))[4]::int AS reputation,
           (max({LATEST_VERIFICATION}) FILTER (WHERE {VERIFICATION}))[4] AS verification,
           count(*) FILTER (WHERE {COMPLETES}) AS completed,
           count(*) FILTER (WHERE {FAILS}) AS failed
    FROM reputation_history h, bounds b WHERE h.changed_at < b.t0 GROUP BY h.worker_address
),
per_day AS (
    SELECT h.worker_address, {utc_day("h.changed_at")} AS day,
           (max({LATEST_REPUTATION}))[4]::int AS reputation,
           (max({LATEST_VERIFICATION}) FILTER (WHERE {VERIFICATION}))[4] AS verification,
           sum(h.change_amount) AS change,
           coalesce(sum(h.change_amount) FILTER (WHERE h.reason = 'rating'), 0) AS rating,
           coalesce(sum(h.change_amount) FILTER (WHERE h.reason = 'slash'), 0) AS slash,
           coalesce(sum(h.change_amount) FILTER (WHERE {VERIFICATION}), 0) AS verification_change,
           count(*) AS changes,
           array_agg(DISTINCT h.reason ORDER BY h.reason) AS reasons,
           count(*) FILTER (WHERE {COMPLETES}) AS completed,
           count(*) FILTER (WHERE {FAILS}) AS failed
    FROM reputation_history h, bounds b
    WHERE h.changed_at >= b.t0 AND h.changed_at < b.t1 GROUP BY 1, 2
),
paid AS (
    SELECT j.worker_address, {utc_day("j.finalized_at")} AS day,
           count(*) AS jobs, sum(j.reward_amount) AS earnings
    FROM jobs j, bounds b WHERE j.finalized_at >= b.t0 AND j.finalized_at < b.t1
    GROUP BY 1, 2
),
ended AS (
    SELECT a.worker_address, {utc_day("coalesce(a.ended_at, a.lease_expires_at)")} AS day,
           count(*) FILTER (WHERE a.state = 'expired') AS expired,
           count(*) FILTER (WHERE a.state = 'failed') AS failed
    FROM job_attempts a, bounds b
    WHERE a.state IN ('expired', 'failed')
      AND coalesce(a.ended_at, a.lease_expires_at) >= b.t0
      AND coalesce(a.ended_at, a.lease_expires_at) < b.t1
    GROUP BY 1, 2
),
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
           c.reputation AS carried_reputation, c.verification AS carried_verification,
           coalesce(c.completed, 0) AS carried_completed, coalesce(c.failed, 0) AS carried_failed
    FROM registered r
    JOIN days d ON r.registered_at < d.day_end
    LEFT JOIN carried c ON c.worker_address = r.worker_address
    LEFT JOIN per_day pd ON pd.worker_address = r.worker_address AND pd.day = d.day
    LEFT JOIN paid p ON p.worker_address = r.worker_address AND p.day = d.day
    LEFT JOIN ended e ON e.worker_address = r.worker_address AND e.day = d.day
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
           completed_total + failed_total AS rated
    FROM grouped
)
SELECT f.day, f.worker_address, f.reputation, f.reputation_change, f.rating_change,
       f.slash_change, f.verification_change, f.changes, f.change_reasons, f.jobs_completed,
       f.jobs_failed, f.jobs_expired, f.attempts_failed, f.jobs_paid, f.earnings,
       f.completed_total, f.failed_total,
       CASE WHEN f.rated > 0 THEN f.failed_total * 100 / f.rated END,
       f.verified,
       f.verified AND f.reputation >= :default_min AND NOT (
           f.rated > :rate_min_jobs AND f.failed_total * 100 / f.rated > :max_failure_rate),
       a.block, a.event_id, now()
FROM filled f, as_of a
"""

PARAMS = {
    "passing": rules.PASSING_SCORE,
    "start_reputation": rules.START_REPUTATION,
    "default_min": rules.DEFAULT_MIN_REPUTATION,
    "rate_min_jobs": rules.FAILURE_RATE_MIN_JOBS,
    "max_failure_rate": rules.MAX_FAILURE_RATE_PERCENT,
}


def refresh_worker_days(conn: sa.Connection, first: dt.date, last: dt.date) -> int:
    """Recompute the days `first`..`last` (in the caller's transaction); the rows written."""
    return replace_days(conn, TABLE, INSERT, first, last, **PARAMS)

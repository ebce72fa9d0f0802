"""`analytics.worker_scorecard`: one row per registered worker, as of the warehouse's cursor.

The trends' reference time is the chain's (the cursor block's timestamp), not the wall
clock's, so the scorecard of a replayed or lagging warehouse is still self-consistent.
Render figures come from the attempts the API recorded (what the worker reported with its
result); claim times from the attempts against their job's creation.
"""

from __future__ import annotations

import sqlalchemy as sa

from veriframe_dagster.defs.reputation.sql.common import (
    LEASE_EXPIRED,
    RULES,
    eligible,
    failure_rate,
    last_in_chain_order,
    lock,
)

TABLE = "worker_scorecard"


def _reputation_before(days: int) -> str:
    """The new reputation of the worker's last change at or before `days` ago."""
    before = f"h.changed_at <= a.time - interval '{days} days'"
    return f"{last_in_chain_order('h.new_reputation', before)}::int"


def _percentile(fraction: float, value: str, where: str = "true") -> str:
    return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {value}) FILTER (WHERE {where})"


RENDER_S = "(a.result->>'render_time_s')::float8"
PIXELS = """CASE WHEN jsonb_typeof(a.result->'width') = 'number'
                  AND jsonb_typeof(a.result->'height') = 'number'
             THEN (a.result->>'width')::numeric * (a.result->>'height')::numeric END"""
DELIVERED = "a.state IN ('completed', 'verifying', 'verified')"
CLAIM_S = "extract(epoch FROM a.claimed_at - j.created_at)"

INSERT = f"""
INSERT INTO analytics.worker_scorecard (
    worker_address, registered_at, verified, reputation, reputation_7d_ago, trend_7d,
    reputation_30d_ago, trend_30d, jobs_completed, jobs_failed, failure_rate_pct,
    eligible_at_default, attempts, attempts_completed, attempts_failed, lease_expiries,
    success_rate, blocked_jobs, median_render_seconds, p95_render_seconds,
    median_seconds_to_claim, p95_seconds_to_claim, largest_frame_pixels, devices, jobs_paid,
    earnings, deliveries_verified, deliveries_rejected, results_rejected_on_chain, sanctions,
    rank, as_of_time, as_of_block, as_of_event_id, computed_at)
WITH cursor_block AS (SELECT max(block_number) AS block FROM chain_cursor),
as_of AS (
    SELECT c.block,
           coalesce((SELECT b.block_timestamp FROM chain_blocks b
                     WHERE b.block_number <= c.block ORDER BY b.block_number DESC LIMIT 1),
                    now()) AS time,
           (SELECT coalesce(max(id), 0) FROM contract_events) AS event_id
    FROM cursor_block c
),
past AS (
    SELECT h.worker_address, {_reputation_before(7)} AS rep_7d, {_reputation_before(30)} AS rep_30d
    FROM reputation_history h, as_of a
    WHERE h.changed_at <= a.time - interval '7 days' GROUP BY h.worker_address
),
attempts AS (
    SELECT a.worker_address, count(*) AS n,
           count(*) FILTER (WHERE {DELIVERED}) AS completed,
           count(*) FILTER (WHERE a.state = 'failed') AS failed,
           count(*) FILTER (WHERE a.state = 'verified') AS verified,
           count(*) FILTER (WHERE a.state = 'rejected') AS rejected,
           count(*) FILTER (WHERE {LEASE_EXPIRED}) AS expired,
           {_percentile(0.5, RENDER_S, DELIVERED)} AS median_render,
           {_percentile(0.95, RENDER_S, DELIVERED)} AS p95_render,
           max({PIXELS}) FILTER (WHERE {DELIVERED}) AS largest,
           array_agg(DISTINCT a.result->>'device' ORDER BY a.result->>'device')
               FILTER (WHERE {DELIVERED} AND a.result->>'device' IS NOT NULL) AS devices
    FROM job_attempts a GROUP BY a.worker_address
),
claims AS (
    SELECT a.worker_address, {_percentile(0.5, CLAIM_S)} AS median_s,
           {_percentile(0.95, CLAIM_S)} AS p95_s
    FROM job_attempts a JOIN jobs j ON j.job_id = a.job_id AND j.created_tx = a.created_tx
    GROUP BY a.worker_address
),
blocked AS (
    SELECT worker_address, count(*) AS n FROM (
        SELECT a.worker_address FROM job_attempts a WHERE a.state = 'failed'
        GROUP BY a.worker_address, a.job_id HAVING count(*) >= :max_failures) AS b
    GROUP BY worker_address
),
on_chain AS (
    SELECT v.worker_address, count(*) AS rejected FROM verifications v
    WHERE v.source = 'chain' AND v.state = 'rejected' GROUP BY v.worker_address
),
sanctioned AS (
    SELECT s.worker_address, count(*) AS n FROM sanctions s
    WHERE s.outcome = 'sent' GROUP BY s.worker_address
),
paid AS (
    SELECT j.worker_address, count(*) AS n FROM jobs j
    WHERE j.status = 'finalized' GROUP BY j.worker_address
),
base AS (
    SELECT w.address, w.registered_at, w.verified, w.reputation,
           coalesce(p.rep_7d, :start_reputation) AS rep_7d,
           coalesce(p.rep_30d, :start_reputation) AS rep_30d,
           w.jobs_completed, w.jobs_failed, w.jobs_completed + w.jobs_failed AS rated,
           coalesce(t.n, 0) AS attempts, coalesce(t.completed, 0) AS completed,
           coalesce(t.failed, 0) AS failed, coalesce(t.expired, 0) AS expired,
           coalesce(t.verified, 0) AS verified_deliveries,
           coalesce(t.rejected, 0) AS rejected_deliveries,
           coalesce(oc.rejected, 0) AS rejected_on_chain, coalesce(sn.n, 0) AS sanctions,
           t.median_render, t.p95_render, t.largest,
           coalesce(t.devices, ARRAY[]::text[]) AS devices,
           coalesce(bl.n, 0) AS blocked, cl.median_s, cl.p95_s,
           coalesce(pd.n, 0) AS jobs_paid, w.total_earnings
    FROM workers w
    LEFT JOIN past p ON p.worker_address = w.address
    LEFT JOIN attempts t ON t.worker_address = w.address
    LEFT JOIN claims cl ON cl.worker_address = w.address
    LEFT JOIN blocked bl ON bl.worker_address = w.address
    LEFT JOIN paid pd ON pd.worker_address = w.address
    LEFT JOIN on_chain oc ON oc.worker_address = w.address
    LEFT JOIN sanctioned sn ON sn.worker_address = w.address
    WHERE w.registered
),
scored AS (
    SELECT base.*,
           {failure_rate("jobs_failed", "rated")} AS failure_rate,
           completed::float8
               / nullif(completed + rejected_deliveries + failed + expired, 0) AS success_rate
    FROM base
)
SELECT s.address, s.registered_at, s.verified, s.reputation, s.rep_7d, s.reputation - s.rep_7d,
       s.rep_30d, s.reputation - s.rep_30d, s.jobs_completed, s.jobs_failed, s.failure_rate,
       {eligible("s.verified", "s.reputation", "s.rated", "s.failure_rate")},
       s.attempts, s.completed, s.failed, s.expired, s.success_rate, s.blocked,
       s.median_render, s.p95_render, s.median_s, s.p95_s, s.largest, s.devices, s.jobs_paid,
       s.total_earnings, s.verified_deliveries, s.rejected_deliveries, s.rejected_on_chain,
       s.sanctions,
       rank() OVER (ORDER BY s.reputation DESC, s.failure_rate ASC NULLS LAST,
                    s.success_rate DESC NULLS LAST, s.total_earnings DESC),
       a.time, a.block, a.event_id, now()
FROM scored s, as_of a
"""


def refresh_scorecard(conn: sa.Connection, max_failures: int) -> int:
    """Replace the scorecard (in the caller's transaction: readers see the old one until the
    commit); the rows written. `max_failures` is the API's blocking threshold."""
    lock(conn, TABLE)
    conn.execute(sa.text("DELETE FROM analytics.worker_scorecard"))
    return conn.execute(sa.text(INSERT), {**RULES, "max_failures": max_failures}).rowcount

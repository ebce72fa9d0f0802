"""Results that reach the chain without a verified delivery: each gets a verification.

An honest agent calls `submit_result` only once its delivery is verified, but the contract
lets any eligible account submit any CID, through the API or not, and before an honest
worker does (a front-run). So when ingestion sees a job's result on chain for which no
delivery of that worker and CID was verified or is being verified, it opens a verification
of the on-chain CID (`source` chain), with windows and seeds drawn as for a delivery, and
names the worker whose live delivery the result took the job from. Only jobs still
`submitted` are considered: a result finalized long ago (a backfill) can no longer be held
back, and verifying history would keep the verifiers busy for nothing.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from veriframe_core.protocol import RenderSettingsIn
from veriframe_core.verification import DEFAULT_CROPS, DEFAULT_SHARE, draw
from veriframe_core.warehouse.tables import LIVE_STATES

DEFAULTS = RenderSettingsIn()
UNVERIFIED = sa.text(
    f"""
    SELECT j.job_id, j.worker_address, j.result_cid,
           coalesce(r.resolution_x, {DEFAULTS.resolution_x}) AS width,
           coalesce(r.resolution_y, {DEFAULTS.resolution_y}) AS height,
           (SELECT a.worker_address FROM job_attempts a
            WHERE a.job_id = j.job_id AND a.state IN {LIVE_STATES}
              AND a.worker_address <> j.worker_address) AS front_ran
    FROM jobs j
    LEFT JOIN job_render_settings r ON r.job_id = j.job_id AND r.created_tx = j.created_tx
    WHERE j.job_id = ANY(CAST(:job_ids AS numeric[])) AND j.status = 'submitted'
      AND j.result_cid IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM verifications v
          WHERE v.job_id = j.job_id AND v.worker_address = j.worker_address
            AND v.result_cid = j.result_cid)
    """
)
OPEN = sa.text(
    """
    INSERT INTO verifications (job_id, worker_address, result_cid, source, state, front_ran,
                               windows, seeds)
    VALUES (:job_id, :worker, :cid, 'chain', 'open', :front_ran,
            CAST(:windows AS jsonb), CAST(:seeds AS jsonb))
    ON CONFLICT DO NOTHING
    """
)


def verify_unverified_results(
    conn: sa.Connection,
    job_ids: list[int],
    crops: int = DEFAULT_CROPS,
    share: float = DEFAULT_SHARE,
) -> list[int]:
    """Open a verification for each of these jobs whose result on chain has none; the
    jobs it opened one for."""
    if not job_ids:
        return []
    opened = []
    for row in conn.execute(UNVERIFIED, {"job_ids": job_ids}):
        drawn = draw(row.width, row.height, crops, share)
        conn.execute(
            OPEN,
            {
                "job_id": row.job_id,
                "worker": row.worker_address,
                "cid": row.result_cid,
                "front_ran": row.front_ran,
                "windows": json.dumps([w.model_dump() for w in drawn.windows]),
                "seeds": json.dumps(list(drawn.seeds)),
            },
        )
        opened.append(int(row.job_id))
    return opened

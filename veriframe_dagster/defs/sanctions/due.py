"""Which sanctions are due, from the warehouse: verification's rejections not yet answered."""

from __future__ import annotations

import sqlalchemy as sa

FORGED_ON_CHAIN = "forged result on chain"
REJECTED_DELIVERIES = "rejected deliveries"

DUE = sa.text(
    f"""
    SELECT v.id AS verification_id, v.worker_address, v.job_id,
           '{FORGED_ON_CHAIN}' AS cause
    FROM verifications v JOIN jobs j ON j.job_id = v.job_id
    WHERE v.state = 'rejected' AND j.worker_address = v.worker_address
      AND j.result_cid = v.result_cid AND j.status IN ('submitted', 'finalized')
      AND NOT EXISTS (SELECT 1 FROM sanctions s
                      WHERE s.verification_id = v.id AND s.outcome = 'sent')
    UNION ALL
    SELECT r.last_id, r.worker_address, v.job_id, '{REJECTED_DELIVERIES}'
    FROM (SELECT worker_address, max(id) AS last_id FROM verifications
          WHERE state = 'rejected' GROUP BY worker_address
          HAVING count(*) >= :max_rejections) r
    JOIN verifications v ON v.id = r.last_id
    JOIN workers w ON w.address = r.worker_address AND w.verified
    WHERE NOT EXISTS (SELECT 1 FROM sanctions s
                      WHERE s.verification_id = r.last_id AND s.outcome = 'sent')
    ORDER BY 1
    """
)
"""A forged result the contract holds as a job's (submitted or already paid), and a still
verified worker whose rejections reached the limit (answered once, at its latest one; the
count is all time, so a worker verified again is sanctioned at its next rejection)."""


def due(conn: sa.Connection, max_rejections: int) -> list[sa.Row]:
    """The due sanctions' causes, one per verification (a forged result first)."""
    seen: set[int] = set()
    rows = []
    for row in conn.execute(DUE, {"max_rejections": max_rejections}):
        if row.verification_id not in seen:
            seen.add(row.verification_id)
            rows.append(row)
    return rows

"""Whether a job can still be rendered, for its creator's `veriframe submit` and `status`:
a job whose attempts are used up, or that every eligible worker has given up on, is
reported failed with the workers' reasons at once, instead of waited on until its
deadline."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Engine, JobId, SettingsDep
from api.errors import errors, not_found
from veriframe_core.chain import rules
from veriframe_core.protocol import examples

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=errors(503))

FAILED = "a.state IN ('failed', 'rejected')"
ELIGIBLE = f"""w.registered AND w.verified AND w.active AND w.reputation >= j.min_reputation
    AND w.address <> j.creator_address
    AND CASE WHEN w.jobs_completed + w.jobs_failed > {rules.FAILURE_RATE_MIN_JOBS}
        THEN w.jobs_failed * 100 / (w.jobs_completed + w.jobs_failed)
             <= {rules.MAX_FAILURE_RATE_PERCENT}
        ELSE true END"""
"""The contract's `is_worker_eligible` for worker `w` and job `j` (`veriframe_core.chain.rules`),
and the worker's profile taking jobs."""
OUTLOOK = sa.text(f"""
    SELECT j.status,
        (SELECT count(*) FROM job_attempts a WHERE a.job_id = j.job_id AND {FAILED}) AS failed,
        (SELECT count(*) FROM workers w WHERE {ELIGIBLE}) AS eligible,
        (SELECT count(*) FROM workers w WHERE {ELIGIBLE} AND w.address IN (
            SELECT a.worker_address FROM job_attempts a WHERE a.job_id = j.job_id AND {FAILED}
            GROUP BY a.worker_address
            HAVING count(*) >= :max_failures OR bool_or(a.state = 'rejected'))) AS gave_up,
        ARRAY(SELECT r.reason FROM (
            SELECT a.failure_reason AS reason, max(a.id) AS latest FROM job_attempts a
            WHERE a.job_id = j.job_id AND {FAILED} AND a.failure_reason IS NOT NULL
            GROUP BY a.failure_reason ORDER BY latest DESC LIMIT 5) r) AS reasons
    FROM jobs j WHERE j.job_id = :job_id""")


class Outlook(BaseModel):
    """Whether any worker can still render the job, and what stopped those that tried."""

    model_config = examples(
        {
            "job_id": 7,
            "renderable": False,
            "failed_attempts": 3,
            "max_failed_attempts": 3,
            "eligible_workers": 4,
            "workers_given_up": 1,
            "reasons": ["neither a Blender file nor a zip or tar archive"],
        }
    )

    job_id: int
    renderable: bool = Field(
        description="false: the job waits for a worker, and its attempts are used up or "
        "every eligible worker gave up on it"
    )
    failed_attempts: int = Field(description="attempts reported failed or rejected")
    max_failed_attempts: int = Field(description="failed attempts after which the job fails")
    eligible_workers: int = Field(description="workers the contract lets take the job")
    workers_given_up: int = Field(
        description="eligible workers that may not claim it again (their failures used up)"
    )
    reasons: list[str] = Field(description="the failures' distinct reasons, latest first")


@router.get(
    "/{job_id}/outlook",
    response_model=Outlook,
    responses=errors(404, 422),
    summary="Whether any worker can still render the job, and why not",
)
def outlook(engine: Engine, settings: SettingsDep, job_id: JobId) -> dict:
    params = {"job_id": job_id, "max_failures": settings.api_max_failures_per_job}
    with engine.connect() as conn:
        row = conn.execute(OUTLOOK, params).first()
    if row is None:
        raise not_found(f"job {job_id}")
    limit = settings.render_max_failed_attempts
    used_up = row.failed >= limit
    all_gave_up = row.eligible > 0 and row.gave_up >= row.eligible
    return {
        "job_id": job_id,
        "renderable": not (row.status in ("open", "assigned") and (used_up or all_gave_up)),
        "failed_attempts": row.failed,
        "max_failed_attempts": limit,
        "eligible_workers": row.eligible,
        "workers_given_up": row.gave_up,
        "reasons": list(row.reasons),
    }

"""Jobs: on-chain jobs as the warehouse holds them, their timeline and statistics."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query

from api.deps import Engine, Pages, fetch
from api.errors import not_found
from api.routers.events import EVENT_COLUMNS, chain_order
from api.schemas import Address, Event, Job, JobStats, JobStatus, Page
from veriframe_dagster.warehouse.tables import contract_events, jobs

router = APIRouter(prefix="/jobs", tags=["jobs"])
JOB_COLUMNS = [jobs.c[name] for name in Job.model_fields]
ESCROWED = ("open", "assigned", "completed", "submitted")
JobId = Annotated[int, Path(ge=1, lt=2**251, description="the chain job id")]


@router.get("", response_model=Page[Job], summary="List jobs, newest first")
def list_jobs(
    engine: Engine,
    pages: Pages,
    status: JobStatus | None = None,
    creator: Address | None = None,
    worker: Address | None = None,
    min_reward: Annotated[int, Query(ge=0, lt=2**256, description="in token units")] = 0,
    max_required_reputation: Annotated[
        int | None, Query(ge=0, le=1000, description="jobs a worker of this reputation may take")
    ] = None,
    min_required_reputation: Annotated[int, Query(ge=0, le=1000)] = 0,
) -> dict:
    j = jobs.c
    query = sa.select(*JOB_COLUMNS).where(
        j.reward_amount >= min_reward, j.min_reputation >= min_required_reputation
    )
    if status is not None:
        query = query.where(j.status == status)
    if creator is not None:
        query = query.where(j.creator_address == creator)
    if worker is not None:
        query = query.where(j.worker_address == worker)
    if max_required_reputation is not None:
        query = query.where(j.min_reputation <= max_required_reputation)
    return pages.page(fetch(engine, pages.apply(query.order_by(j.job_id.desc()))))


@router.get("/stats/overview", response_model=JobStats, summary="Job statistics")
def job_stats(engine: Engine) -> dict:
    j = jobs.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                j.status, sa.func.count(), sa.func.coalesce(sa.func.sum(j.reward_amount), 0)
            ).group_by(j.status)
        ).all()
    by_status = {status: count for status, count, _ in rows}
    return {
        "jobs": sum(by_status.values()),
        "by_status": by_status,
        "escrowed_reward": str(sum(int(total) for s, _, total in rows if s in ESCROWED)),
        "paid_reward": str(sum(int(total) for s, _, total in rows if s == "finalized")),
    }


@router.get("/{job_id}", response_model=Job, summary="One job by its chain id")
def get_job(engine: Engine, job_id: JobId) -> dict:
    rows = fetch(engine, sa.select(*JOB_COLUMNS).where(jobs.c.job_id == job_id))
    if not rows:
        raise not_found(f"job {job_id}")
    return rows[0]


@router.get("/{job_id}/events", response_model=Page[Event], summary="A job's timeline")
def job_events(engine: Engine, job_id: JobId, pages: Pages) -> dict:
    if not fetch(engine, sa.select(jobs.c.job_id).where(jobs.c.job_id == job_id)):
        raise not_found(f"job {job_id}")
    query = sa.select(*EVENT_COLUMNS).where(contract_events.c.job_id == job_id)
    return pages.page(fetch(engine, pages.apply(chain_order(query))))

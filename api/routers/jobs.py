"""Jobs: on-chain jobs as the warehouse holds them, their timelines and attempts, and the
render settings their creators attach. The worker protocol is `api.protocol.routes`."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Engine, JobId, Pages, Principal, require_live_session
from api.documents import as_json, job_detail_json
from api.errors import ApiError, errors, not_found
from api.routers.events import EVENT_COLUMNS, chain_order
from api.rows import fetch
from api.schemas import Event, JobSettingsRequest, JobStats, version_numbers
from veriframe_core.protocol import Address, Claim, Job, JobDetail, JobStatus, Page
from veriframe_core.warehouse.notify import notify_changes
from veriframe_core.warehouse.tables import (
    contract_events,
    job_attempts,
    job_render_settings,
    jobs,
)

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=errors(503))
JOB_COLUMNS = [jobs.c[name] for name in Job.model_fields]
CLAIM_FIELDS = list(Claim.model_fields)
ESCROWED = ("open", "assigned", "completed", "submitted")


def job_document(conn: sa.Connection, job_id: int) -> Response:
    """A job with its render settings and live claim (404 if unknown)."""
    text = job_detail_json(conn, job_id)
    if text is None:
        raise not_found(f"job {job_id}")
    return as_json(text)


def require_job(engine: sa.Engine, job_id: int) -> None:
    """404 unless the warehouse holds the job (a page of nothing would hide the typo)."""
    if not fetch(engine, sa.select(jobs.c.job_id).where(jobs.c.job_id == job_id)):
        raise not_found(f"job {job_id}")


@router.get("", response_model=Page[Job], responses=errors(422), summary="List jobs, newest first")
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


@router.post(
    "",
    response_model=JobDetail,
    status_code=200,
    responses=errors(
        401,
        422,
        said={
            403: "the caller is not the job's creator",
            404: "no such job: not created on chain, or not indexed yet",
            409: "the job is no longer open: its settings are fixed",
        },
    ),
    summary="Attach render settings to your job (its on-chain creator only)",
)
def set_render_settings(body: JobSettingsRequest, engine: Engine, principal: Principal) -> Response:
    """Creates or replaces the settings while the job is open; a worker sees them in
    `/jobs/available` and `GET /jobs/{id}`."""
    caps = body.required_capabilities
    values = {
        **body.model_dump(exclude={"job_id", "required_capabilities"}),
        "required_devices": caps.devices,
        "min_vram_mb": caps.min_vram_mb,
        "min_blender_version": version_numbers(caps.min_blender_version),
        "required_os": caps.os,
        "set_by": principal.address,
        "updated_at": sa.func.now(),
    }
    with engine.begin() as conn:
        require_live_session(conn, principal)
        job = conn.execute(
            sa.select(jobs.c.creator_address, jobs.c.status, jobs.c.created_tx)
            .where(jobs.c.job_id == body.job_id)
            .with_for_update()
        ).first()
        if job is None:
            raise ApiError(
                404,
                f"job {body.job_id} not found: not created on chain, or not indexed yet "
                "(retry in a few seconds)",
            )
        if job.creator_address != principal.address and "admin" not in principal.roles:
            raise ApiError(403, f"only the creator of job {body.job_id} may set its settings")
        if job.status != "open":
            raise ApiError(409, f"job {body.job_id} is {job.status}: settings are fixed")
        statement = sa.dialects.postgresql.insert(job_render_settings).values(
            job_id=body.job_id, created_tx=job.created_tx, **values
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["job_id"], set_={**values, "created_tx": job.created_tx}
            )
        )
        notify_changes(conn, source="api", jobs=[body.job_id])
        return job_document(conn, body.job_id)


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


@router.get(
    "/{job_id}",
    response_model=JobDetail,
    responses=errors(404, 422),
    summary="One job by its chain id",
)
def get_job(engine: Engine, job_id: JobId) -> Response:
    with engine.connect() as conn:
        return job_document(conn, job_id)


@router.get(
    "/{job_id}/events",
    response_model=Page[Event],
    responses=errors(404, 422),
    summary="A job's timeline",
)
def job_events(engine: Engine, job_id: JobId, pages: Pages) -> dict:
    require_job(engine, job_id)
    query = sa.select(*EVENT_COLUMNS).where(contract_events.c.job_id == job_id)
    return pages.page(fetch(engine, pages.apply(chain_order(query))))


@router.get(
    "/{job_id}/attempts",
    response_model=Page[Claim],
    responses=errors(404, 422),
    summary="Every claim of a job, newest first",
)
def job_attempts_list(engine: Engine, job_id: JobId, pages: Pages) -> dict:
    require_job(engine, job_id)
    a = job_attempts.c
    query = sa.select(*(a[name] for name in CLAIM_FIELDS)).where(a.job_id == job_id)
    return pages.page(fetch(engine, pages.apply(query.order_by(a.id.desc()))))

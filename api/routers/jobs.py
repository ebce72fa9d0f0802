"""Jobs: on-chain jobs as the warehouse holds them, their render settings, and the worker
protocol (available → assign → heartbeat → complete | fail) with leased claims."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api import claims, pipes
from api.available import MISS, AvailableJobs, page_json
from api.database import Transaction, transaction
from api.deps import (
    Engine,
    Pages,
    Principal,
    SettingsDep,
    WorkerPrincipal,
    fetch,
    require_live_session,
    unauthorized,
)
from api.documents import job_detail_json
from api.errors import ApiError, not_found
from api.routers.events import EVENT_COLUMNS, chain_order
from api.schemas import (
    Address,
    AvailablePage,
    Claim,
    CompleteRequest,
    Event,
    FailRequest,
    FailResult,
    HeartbeatRequest,
    Job,
    JobDetail,
    JobSettingsRequest,
    JobStats,
    JobStatus,
    Page,
    PipesMessagesIn,
    PipesMessagesStored,
    version_numbers,
)
from veriframe_core.warehouse.notify import notify_changes
from veriframe_core.warehouse.tables import (
    contract_events,
    job_attempts,
    job_render_settings,
    jobs,
)

router = APIRouter(prefix="/jobs", tags=["jobs"])
T = TypeVar("T")
JOB_COLUMNS = [jobs.c[name] for name in Job.model_fields]
CLAIM_FIELDS = list(Claim.model_fields)
ESCROWED = ("open", "assigned", "completed", "submitted")
JobId = Annotated[int, Path(ge=1, lt=2**251, description="the chain job id")]
CLAIM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid access token"},
    403: {"description": "the caller may not do this to this job"},
    404: {"description": "no such job"},
    409: {"description": "the job or the caller's claim is not in a state for this"},
}


def as_json(text: str | bytes) -> Response:
    """A document Postgres built (`api.documents`), passed on as it is."""
    return Response(text, media_type="application/json")


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


@router.get(
    "/available",
    response_model=AvailablePage,
    responses={401: CLAIM_RESPONSES[401], 403: {"description": "not a worker token"}},
    summary="Jobs the calling worker may claim now, best reward first",
)
async def available_jobs(request: Request, pages: Pages, principal: WorkerPrincipal) -> Response:
    """What `is_worker_eligible` allows (registered, verified, reputation, failure rate), with
    the deadline ahead, the job's required capabilities met and the worker not blocked."""
    service: AvailableJobs = request.app.state.available
    worker = service.cached_worker(principal.address)
    if worker is MISS:
        worker = await run_in_threadpool(service.load_worker, principal.address)
    reason = claims.ineligibility(worker)
    items, more = "[]", False
    if reason is None:
        page = service.cached_page(worker, pages.limit, pages.offset)
        if page is MISS:
            page = await run_in_threadpool(service.load_page, worker, pages.limit, pages.offset)
        items, more = page
    eligibility = {"address": principal.address, "eligible": reason is None, "reason": reason}
    return as_json(page_json(items, pages.limit, pages.offset, more, eligibility))


@router.post(
    "",
    response_model=JobDetail,
    status_code=200,
    responses={**CLAIM_RESPONSES, 403: {"description": "the caller is not the job's creator"}},
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
    "/claimed",
    response_model=list[Claim],
    responses={401: CLAIM_RESPONSES[401]},
    summary="Your running claims (an agent restarting after a crash releases or resumes them)",
)
async def claimed(request: Request, principal: WorkerPrincipal) -> Response:
    async def act(tx: Transaction) -> str:
        return await claims.running_claims(tx, principal.address, principal.session_id)

    return as_json(await _claiming(request, act))


@router.get("/{job_id}", response_model=JobDetail, summary="One job by its chain id")
def get_job(engine: Engine, job_id: JobId) -> Response:
    with engine.connect() as conn:
        return job_document(conn, job_id)


@router.get("/{job_id}/events", response_model=Page[Event], summary="A job's timeline")
def job_events(engine: Engine, job_id: JobId, pages: Pages) -> dict:
    require_job(engine, job_id)
    query = sa.select(*EVENT_COLUMNS).where(contract_events.c.job_id == job_id)
    return pages.page(fetch(engine, pages.apply(chain_order(query))))


@router.get(
    "/{job_id}/attempts", response_model=Page[Claim], summary="Every claim of a job, newest first"
)
def job_attempts_list(engine: Engine, job_id: JobId, pages: Pages) -> dict:
    require_job(engine, job_id)
    a = job_attempts.c
    query = sa.select(*(a[name] for name in CLAIM_FIELDS)).where(a.job_id == job_id)
    return pages.page(fetch(engine, pages.apply(query.order_by(a.id.desc()))))


# ---------------------------------------------------------------- the worker protocol
async def _claiming(request: Request, action: Callable[[Transaction], Awaitable[T]]) -> T:
    """Run a claim rule in one transaction, its refusals as API errors."""
    state = request.app.state
    try:
        async with transaction(state.pool, state.announcer) as tx:
            return await action(tx)
    except claims.ClaimRefused as refused:
        if refused.status == 401:
            raise unauthorized(refused.message) from None
        raise ApiError(refused.status, refused.message) from None


@router.post(
    "/claim-next",
    response_model=JobDetail,
    responses={
        204: {"description": "no job the worker may claim now: poll again later"},
        401: CLAIM_RESPONSES[401],
        403: {"description": "the worker may claim no job (the message says why)"},
        409: {"description": "the worker already holds as many claims as it may"},
    },
    summary="Claim the best-paid job you may take (the server picks; no collisions)",
)
async def claim_next(
    request: Request, principal: WorkerPrincipal, settings: SettingsDep
) -> Response:
    """What `/jobs/available` would list first, skipping jobs other workers are claiming at
    this moment, claimed with a lease as `/jobs/{id}/assign` does. 204 when there is none."""

    async def act(tx: Transaction) -> str | None:
        return await claims.claim_next(
            tx,
            principal.address,
            principal.session_id,
            lease_s=settings.api_lease_s,
            max_failures=settings.api_max_failures_per_job,
            max_active=settings.api_max_active_claims,
            grace_s=settings.api_settings_grace_s,
        )

    document = await _claiming(request, act)
    return Response(status_code=204) if document is None else as_json(document)


@router.post(
    "/{job_id}/assign",
    response_model=JobDetail,
    responses=CLAIM_RESPONSES,
    summary="Claim the job (exactly one worker wins; the others get 409)",
)
async def assign(
    job_id: JobId, request: Request, principal: WorkerPrincipal, settings: SettingsDep
) -> Response:
    """The claim holds a lease of `VERIFRAME_API_LEASE_S`; heartbeats extend it, and when it
    runs out the job reopens. Claiming a job you already hold returns your claim again."""

    async def act(tx: Transaction) -> str:
        return await claims.claim(
            tx,
            principal.address,
            principal.session_id,
            job_id,
            lease_s=settings.api_lease_s,
            max_failures=settings.api_max_failures_per_job,
            max_active=settings.api_max_active_claims,
            grace_s=settings.api_settings_grace_s,
        )

    return as_json(await _claiming(request, act))


@router.post(
    "/{job_id}/heartbeat",
    response_model=Claim,
    responses=CLAIM_RESPONSES,
    summary="Extend your lease and report progress",
)
async def heartbeat(
    job_id: JobId,
    body: HeartbeatRequest,
    request: Request,
    principal: WorkerPrincipal,
    settings: SettingsDep,
) -> Response:
    async def act(tx: Transaction) -> str:
        return await claims.heartbeat(
            tx,
            principal.address,
            principal.session_id,
            job_id,
            body.progress,
            body.message,
            settings.api_lease_s,
        )

    return as_json(await _claiming(request, act))


@router.post(
    "/{job_id}/complete",
    response_model=JobDetail,
    responses=CLAIM_RESPONSES,
    summary="Deliver the result CID (the claim's holder only; safe to retry)",
)
async def complete(
    job_id: JobId, body: CompleteRequest, request: Request, principal: WorkerPrincipal
) -> Response:
    """Then submit the result on chain with `submit_result(job_id, cid part 1, part 2)`; the
    job becomes `submitted` when ingestion sees it."""
    report = {**body.metadata, "render_time_s": body.render_time_s, "device": body.device}

    async def act(tx: Transaction) -> str:
        return await claims.complete(
            tx, principal.address, principal.session_id, job_id, body.result_cid, report
        )

    return as_json(await _claiming(request, act))


@router.post(
    "/{job_id}/fail",
    response_model=FailResult,
    responses=CLAIM_RESPONSES,
    summary="Give the job back with the reason (it reopens for others)",
)
async def fail(
    job_id: JobId,
    body: FailRequest,
    request: Request,
    principal: WorkerPrincipal,
    settings: SettingsDep,
) -> Response:
    async def act(tx: Transaction) -> tuple[str, int]:
        return await claims.fail(tx, principal.address, principal.session_id, job_id, body.reason)

    claim_json, failures = await _claiming(request, act)
    blocked = "true" if failures >= settings.api_max_failures_per_job else "false"
    return as_json(f'{{"claim":{claim_json},"failures":{failures},"blocked":{blocked}}}')


@router.post(
    "/{job_id}/release",
    response_model=Claim,
    responses=CLAIM_RESPONSES,
    summary="Give your claim back now, with the reason; not counted as a failed attempt",
)
async def release(
    job_id: JobId, body: FailRequest, request: Request, principal: WorkerPrincipal
) -> Response:
    """For an agent that stops (SIGTERM) or restarts after a crash: the attempt ends as an
    expired lease would, and the job reopens at once instead of when the lease runs out."""

    async def act(tx: Transaction) -> str:
        return await claims.release(
            tx, principal.address, principal.session_id, job_id, body.reason
        )

    return as_json(await _claiming(request, act))


@router.get(
    "/{job_id}/pipes/context",
    responses=CLAIM_RESPONSES,
    summary="Your claim's Dagster Pipes context (the `render` asset, partition = job id)",
)
async def pipes_context(
    job_id: JobId, request: Request, principal: WorkerPrincipal
) -> dict[str, Any]:
    """What `dagster_pipes.open_dagster_pipes` loads in the agent: `PipesContextData` with the
    job's document and the attempt in `extras`. The claim's holder only."""

    async def act(tx: Transaction) -> dict[str, Any]:
        return await pipes.context(tx, principal.address, principal.session_id, job_id)

    return await _claiming(request, act)


@router.post(
    "/{job_id}/pipes/messages",
    response_model=PipesMessagesStored,
    responses={
        **CLAIM_RESPONSES,
        409: {"description": "not your live attempt, a gap before `first_seq`, or a conflict"},
        413: {"description": "the attempt has sent as many messages as it may"},
    },
    summary="Store a batch of your attempt's Dagster Pipes messages (in order, once)",
)
async def pipes_messages(
    job_id: JobId, body: PipesMessagesIn, request: Request, principal: WorkerPrincipal
) -> dict[str, int]:
    """Messages are numbered from 0 per attempt. Resending a batch (after a timeout, say)
    stores nothing twice; a batch may overlap what is stored, but not leave a gap."""
    messages = [m.model_dump(by_alias=True) for m in body.messages]

    async def act(tx: Transaction) -> tuple[int, int]:
        return await pipes.store_messages(
            tx,
            principal.address,
            principal.session_id,
            job_id,
            body.attempt,
            body.first_seq,
            messages,
        )

    stored, next_seq = await _claiming(request, act)
    return {"stored": stored, "next_seq": next_seq}

"""The worker protocol: job offers, then claim → heartbeat → complete | fail | release with a
leased claim, and the attempt's Dagster Pipes channel.

Each route is one claim rule (`claims`, `pipes` beside it) in one transaction (`ClaimTx`),
whose refusals the error handlers turn into statuses (`api.errors`). The messages are
`veriframe_core.protocol`'s, which the agent parses and builds too; the answers are JSON
that Postgres built (`api.documents`), passed on as they are.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import ClaimTx, CurrentWorker, Drawing, JobId, Limits, Offers, Pages
from api.documents import as_json
from api.errors import errors
from api.protocol import claims, pipes
from api.protocol.offers import MISS, page_json
from veriframe_core.protocol import (
    AvailablePage,
    Claim,
    ClaimedJob,
    CompleteRequest,
    Eligibility,
    FailRequest,
    FailResult,
    HeartbeatRequest,
    JobDetail,
    PipesContext,
    PipesMessagesIn,
    PipesMessagesStored,
)

router = APIRouter(prefix="/jobs", tags=["worker protocol"], responses=errors(503))
NOT_A_WORKER = "not a worker token: log in with /auth/worker-auth"
HOLDER_ONLY = errors(
    401,
    404,
    422,
    said={
        403: "the caller does not hold a claim on this job",
        409: "the claim's lease ran out, or the attempt already ended",
    },
)


@router.get(
    "/available",
    response_model=AvailablePage,
    responses=errors(401, 422, said={403: NOT_A_WORKER}),
    summary="Jobs the calling worker may claim now, best reward first",
)
async def available_jobs(
    pages: Pages, worker: CurrentWorker, offers: Offers, limits: Limits
) -> Response:
    """What `is_worker_eligible` allows (registered, verified, reputation, failure rate), with
    the deadline ahead, the job's required capabilities met and the worker not blocked."""
    facts = offers.cached_worker(worker.address)
    if facts is MISS:
        facts = await run_in_threadpool(offers.load_worker, worker.address)
    reason = claims.ineligibility(facts, limits.max_rejections)
    items, more = "[]", False
    if reason is None:
        page = offers.cached_page(facts, pages.limit, pages.offset)
        if page is MISS:
            page = await run_in_threadpool(offers.load_page, facts, pages.limit, pages.offset)
        items, more = page
    eligibility = Eligibility(address=worker.address, eligible=reason is None, reason=reason)
    return as_json(page_json(items, pages.limit, pages.offset, more, eligibility))


@router.get(
    "/claimed",
    response_model=list[Claim],
    responses=errors(401, said={403: NOT_A_WORKER}),
    summary="Your running claims (an agent restarting after a crash releases or resumes them)",
)
async def claimed(worker: CurrentWorker, tx: ClaimTx) -> Response:
    return as_json(await claims.running_claims(tx, worker.address, worker.session_id))


@router.post(
    "/claim-next",
    response_model=ClaimedJob,
    responses={
        204: {"description": "no job the worker may claim now: poll again later"},
        **errors(
            401,
            said={
                403: "the worker may claim no job (the message says why)",
                409: "the worker already holds as many claims as it may",
            },
        ),
    },
    summary="Claim the best-paid job you may take (the server picks; no collisions)",
)
async def claim_next(worker: CurrentWorker, limits: Limits, tx: ClaimTx) -> Response:
    """What `/jobs/available` would list first, skipping jobs other workers are claiming at
    this moment, claimed with a lease as `/jobs/{id}/assign` does. 204 when there is none."""
    document = await claims.claim_next(tx, worker.address, worker.session_id, limits)
    return Response(status_code=204) if document is None else as_json(document)


@router.post(
    "/{job_id}/assign",
    response_model=ClaimedJob,
    responses=errors(
        401,
        404,
        422,
        said={
            403: "the worker may not take this job (the message says why)",
            409: "another worker holds it, or it is not open, or the caller holds enough claims",
        },
    ),
    summary="Claim the job (exactly one worker wins; the others get 409)",
)
async def assign(job_id: JobId, worker: CurrentWorker, limits: Limits, tx: ClaimTx) -> Response:
    """The claim holds a lease of `VERIFRAME_API_LEASE_S`; heartbeats extend it, and when it
    runs out the job reopens. Claiming a job you already hold returns your claim again."""
    return as_json(await claims.claim(tx, worker.address, worker.session_id, job_id, limits))


@router.post(
    "/{job_id}/heartbeat",
    response_model=Claim,
    responses=HOLDER_ONLY,
    summary="Extend your lease and report progress",
)
async def heartbeat(
    job_id: JobId,
    body: HeartbeatRequest,
    worker: CurrentWorker,
    limits: Limits,
    tx: ClaimTx,
) -> Response:
    return as_json(
        await claims.heartbeat(
            tx,
            worker.address,
            worker.session_id,
            job_id,
            body.progress,
            body.message,
            limits.lease_s,
        )
    )


@router.post(
    "/{job_id}/complete",
    response_model=JobDetail,
    responses=HOLDER_ONLY,
    summary="Deliver the result CID (the claim's holder only; safe to retry)",
)
async def complete(
    job_id: JobId, body: CompleteRequest, worker: CurrentWorker, drawing: Drawing, tx: ClaimTx
) -> Response:
    """The delivery is verified next (the job's `verification`): once it is `verified`,
    submit the result on chain with `submit_result(job_id, cid part 1, part 2)`; the job
    becomes `submitted` when ingestion sees it. A `rejected` delivery reopens the job."""
    report = {**body.metadata, "render_time_s": body.render_time_s, "device": body.device}
    return as_json(
        await claims.complete(
            tx,
            worker.address,
            worker.session_id,
            job_id,
            body.result_cid,
            body.noisy_cid,
            report,
            drawing,
        )
    )


@router.post(
    "/{job_id}/fail",
    response_model=FailResult,
    responses=HOLDER_ONLY,
    summary="Give the job back with the reason (it reopens for others)",
)
async def fail(
    job_id: JobId,
    body: FailRequest,
    worker: CurrentWorker,
    limits: Limits,
    tx: ClaimTx,
) -> Response:
    claim_json, failures = await claims.fail(
        tx, worker.address, worker.session_id, job_id, body.reason
    )
    blocked = "true" if failures >= limits.max_failures else "false"
    return as_json(f'{{"claim":{claim_json},"failures":{failures},"blocked":{blocked}}}')


@router.post(
    "/{job_id}/release",
    response_model=Claim,
    responses=HOLDER_ONLY,
    summary="Give your claim back now, with the reason; not counted as a failed attempt",
)
async def release(job_id: JobId, body: FailRequest, worker: CurrentWorker, tx: ClaimTx) -> Response:
    """For an agent that stops (SIGTERM) or restarts after a crash: the attempt ends as an
    expired lease would, and the job reopens at once instead of when the lease runs out."""
    return as_json(await claims.release(tx, worker.address, worker.session_id, job_id, body.reason))


@router.get(
    "/{job_id}/pipes/context",
    response_model=PipesContext,
    responses=HOLDER_ONLY,
    summary="Your claim's Dagster Pipes context (the `render` asset, partition = job id)",
)
async def pipes_context(job_id: JobId, worker: CurrentWorker, tx: ClaimTx) -> PipesContext:
    """What `dagster_pipes.open_dagster_pipes` loads in the agent: `PipesContextData` with the
    job's document and the attempt in `extras`. The claim's holder only."""
    return await pipes.context(tx, worker.address, worker.session_id, job_id)


@router.post(
    "/{job_id}/pipes/messages",
    response_model=PipesMessagesStored,
    responses={
        **HOLDER_ONLY,
        **errors(
            said={
                409: "not your live attempt, a gap before `first_seq`, or a conflict",
                413: "the attempt has sent as many messages as it may",
            }
        ),
    },
    summary="Store a batch of your attempt's Dagster Pipes messages (in order, once)",
)
async def pipes_messages(
    job_id: JobId, body: PipesMessagesIn, worker: CurrentWorker, tx: ClaimTx
) -> PipesMessagesStored:
    """Messages are numbered from 0 per attempt. Resending a batch (after a timeout, say)
    stores nothing twice; a batch may overlap what is stored, but not leave a gap."""
    stored, next_seq = await pipes.store_messages(
        tx,
        worker.address,
        worker.session_id,
        job_id,
        body.attempt,
        body.first_seq,
        [m.model_dump(by_alias=True) for m in body.messages],
    )
    return PipesMessagesStored(stored=stored, next_seq=next_seq)

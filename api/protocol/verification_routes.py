"""Verification through the claim protocol: verifier agents take deliveries to verify, with
a lease, and report the verdict (`verifying`'s rules). Anyone may read a verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import ClaimTx, CurrentVerifier, VerifierRulesDep
from api.documents import as_json
from api.errors import errors
from api.protocol import verifying
from veriframe_core.protocol import (
    Verification,
    VerificationFailure,
    VerificationReport,
    VerificationTask,
)

router = APIRouter(prefix="/verifications", tags=["verification"], responses=errors(503))
VerificationId = Annotated[int, Path(ge=1, lt=2**63, description="the verification's id")]
NOT_A_VERIFIER = "not a verifier: log in as a worker with one of the operator's verifier accounts"
HOLDER_ONLY = errors(
    401,
    404,
    422,
    said={
        403: NOT_A_VERIFIER,
        409: "the verification is not yours (your lease ran out) or is already decided",
    },
)


@router.post(
    "/claim-next",
    response_model=VerificationTask,
    responses={**errors(401, said={403: NOT_A_VERIFIER}), 204: {"description": "none to do"}},
    summary="Take the oldest delivery to verify (never your own), with a lease",
)
async def claim_next(verifier: CurrentVerifier, rules: VerifierRulesDep, tx: ClaimTx) -> Response:
    """The task holds the scene, the job's render settings, the delivered frame's CID, the
    crop windows and the two seeds to re-render them at. A task whose verifier's lease ran
    out is taken over as it is."""
    task = await verifying.take(tx, verifier.address, rules)
    return Response(status_code=204) if task is None else as_json(task)


@router.post(
    "/{verification_id}/report",
    response_model=Verification,
    responses=HOLDER_ONLY,
    summary="Report the verdict: `verified` lets the worker take it on chain; `rejected` "
    "reopens the job",
)
async def report(
    verification_id: VerificationId,
    body: VerificationReport,
    verifier: CurrentVerifier,
    tx: ClaimTx,
) -> Response:
    return as_json(await verifying.report(tx, verifier.address, verification_id, body))


@router.post(
    "/{verification_id}/fail",
    response_model=Verification,
    responses=HOLDER_ONLY,
    summary="Give a verification back that you could not do (it is offered again)",
)
async def fail(
    verification_id: VerificationId,
    body: VerificationFailure,
    verifier: CurrentVerifier,
    rules: VerifierRulesDep,
    tx: ClaimTx,
) -> Response:
    """After `verification_max_failures` verifiers gave it back, the delivery is rejected."""
    return as_json(
        await verifying.give_back(tx, verifier.address, verification_id, body.reason, rules)
    )


@router.post(
    "/{verification_id}/release",
    response_model=Verification,
    responses=HOLDER_ONLY,
    summary="Give a verification back unstarted because you stop (offered again at once)",
)
async def release(
    verification_id: VerificationId, verifier: CurrentVerifier, tx: ClaimTx
) -> Response:
    return as_json(await verifying.release(tx, verifier.address, verification_id))


@router.get(
    "/{verification_id}",
    response_model=Verification,
    responses=errors(404, 422),
    summary="A verification: windows, seeds, verifier, verdict",
)
async def read(verification_id: VerificationId, tx: ClaimTx) -> Response:
    return as_json(await verifying.read(tx, verification_id))

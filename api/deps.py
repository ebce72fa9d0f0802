"""What routes need, as typed dependencies (`Annotated[..., Depends(...)]`): the warehouse
engine, the protocol's asyncpg pool and its transaction, the announcer, the offer cache,
paging, and who is calling (a verified access token). The app's state is read here only: no
route touches `request.app.state`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
import httpx
import sqlalchemy as sa
from fastapi import Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from api.auth.store import LIVE_SESSION, SESSION_ENDED
from api.auth.tokens import ACCESS, Claims, TokenError, TokenIssuer
from api.chain import ApiChain
from api.database import Transaction, transaction
from api.errors import ApiError, unauthorized
from api.protocol.claims import ClaimLimits, VerificationDraw
from api.protocol.offers import AvailableJobs
from api.protocol.verifying import VerifierRules
from api.realtime import ChangeFeed
from veriframe_core.settings import Settings
from veriframe_core.warehouse.notify import Announcer

MAX_PAGE = 500


def app_state(name: str, *, optional: bool = False) -> Callable[[HTTPConnection], Awaitable]:
    """A dependency: what the app's lifespan keeps as `app.state.<name>` (None when `optional`
    and the app runs without it)."""

    async def read(connection: HTTPConnection) -> Any:
        state = connection.app.state
        return getattr(state, name, None) if optional else getattr(state, name)

    return read


bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth")


async def current_principal(
    tokens: Annotated[TokenIssuer, Depends(app_state("tokens"))],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Claims:
    """The caller of a verified access token; 401 without one. (Async: no thread hop for a
    check that reads nothing.)"""
    if credentials is None:
        raise unauthorized("authentication required: send Authorization: Bearer <access token>")
    try:
        return tokens.check(credentials.credentials, ACCESS)
    except TokenError as err:
        raise unauthorized(str(err)) from None


def require_live_session(conn: sa.Connection, principal: Claims) -> None:
    """State changes also need the token's session to be live (not logged out or revoked):
    one primary-key read inside the change's own transaction."""
    if not LIVE_SESSION(conn, {"sid": principal.session_id}).scalar_one():
        raise unauthorized(SESSION_ENDED)


def role(name: str):
    """A dependency: the caller, who must hold `name` (403 otherwise)."""

    async def check(principal: Annotated[Claims, Depends(current_principal)]) -> Claims:
        if name not in principal.roles:
            raise ApiError(403, f"this needs the {name} role; log in as a {name}")
        return principal

    return check


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int

    def page(self, items: Sequence[Any]) -> dict[str, Any]:
        """A page from `limit + 1` fetched rows (the extra one says whether more follow)."""
        more = len(items) > self.limit
        return {
            "items": list(items[: self.limit]),
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": self.offset + self.limit if more else None,
        }

    def apply(self, query: sa.Select) -> sa.Select:
        return query.limit(self.limit + 1).offset(self.offset)


async def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


JobId = Annotated[int, Path(ge=1, lt=2**251, description="the chain job id")]
Engine = Annotated[sa.Engine, Depends(app_state("engine"))]
DagsterStorage = Annotated[sa.Engine, Depends(app_state("dagster_engine"))]
Pages = Annotated[Paging, Depends(paging)]
SettingsDep = Annotated[Settings, Depends(app_state("settings"))]
Chain = Annotated[ApiChain, Depends(app_state("chain"))]
Tokens = Annotated[TokenIssuer, Depends(app_state("tokens"))]
PoolDep = Annotated[asyncpg.Pool, Depends(app_state("pool"))]
AnnouncerDep = Annotated[Announcer, Depends(app_state("announcer"))]
IpfsHttp = Annotated[httpx.AsyncClient, Depends(app_state("ipfs"))]
"""The app's one HTTP client for the IPFS node's RPC API (its connections kept)."""
Offers = Annotated[AvailableJobs, Depends(app_state("available"))]
"""The offer cache: pages of `/jobs/available` and workers' facts (`api.protocol.offers`)."""
Feed = Annotated[ChangeFeed | None, Depends(app_state("feed", optional=True))]
Principal = Annotated[Claims, Depends(current_principal)]
CurrentWorker = Annotated[Claims, Depends(role("worker"))]
"""The caller, who must have logged in as a worker (403 otherwise)."""
CurrentVerifier = Annotated[Claims, Depends(role("verifier"))]
"""The caller, a worker login of one of the operator's verifier accounts (403 otherwise)."""


async def claim_transaction(
    pool: PoolDep, announcer: AnnouncerDep, offers: Offers
) -> AsyncIterator[Transaction]:
    """One transaction of the worker protocol around the route: committed (and its changes
    announced) before the answer is sent, rolled back when the route raises; a claim rule's
    refusal (`ClaimRefused`) becomes its status in `api.errors`. This process's offers
    forget at once what it changed, so its caller's next read sees its own write (the
    notification that tells every process comes a moment later)."""
    async with transaction(pool, announcer) as tx:
        yield tx
    if tx.pending:
        offers.forget()


async def claim_limits(settings: SettingsDep) -> ClaimLimits:
    return ClaimLimits(
        lease_s=settings.api_lease_s,
        max_failures=settings.api_max_failures_per_job,
        max_active=settings.api_max_active_claims,
        grace_s=settings.api_settings_grace_s,
        max_rejections=settings.api_max_rejections,
    )


async def verification_draw(settings: SettingsDep) -> VerificationDraw:
    return VerificationDraw(crops=settings.verification_crops, share=settings.verification_share)


async def verifier_rules(settings: SettingsDep) -> VerifierRules:
    return VerifierRules(
        lease_s=settings.verification_lease_s,
        max_failures=settings.verification_max_failures,
    )


Limits = Annotated[ClaimLimits, Depends(claim_limits)]
Drawing = Annotated[VerificationDraw, Depends(verification_draw)]
VerifierRulesDep = Annotated[VerifierRules, Depends(verifier_rules)]
ClaimTx = Annotated[Transaction, Depends(claim_transaction, scope="function")]

"""Signed login: a SNIP-12 challenge, signed by the caller's account, checked by that account
contract on chain; then short-lived access tokens and rotating refresh tokens."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import store
from api.auth.signatures import LoginMessage
from api.auth.tokens import REFRESH, TokenError
from api.deps import Chain, Engine, Principal, SettingsDep, Tokens
from api.errors import ApiError, errors, unauthorized
from veriframe_core.chain.addresses import normalize_address, parse_felt
from veriframe_core.chain.rpc import ChainRpcError, ChainUnavailable
from veriframe_core.protocol import (
    WORKER,
    ChallengeRequest,
    ChallengeResponse,
    LoginRequest,
    RefreshRequest,
    TokenPair,
    examples,
)

router = APIRouter(prefix="/auth", tags=["auth"])


def rate_limited(request: Request, engine: Engine, settings: SettingsDep) -> None:
    """At most `api_auth_rate_per_minute` requests per client and endpoint (429 beyond)."""
    limit = settings.api_auth_rate_per_minute
    client = request.client.host if request.client else "unknown"
    key = f"{request.url.path}:{client}"
    with engine.begin() as conn:
        hits = store.count_hit(conn, key)
    if hits > limit:
        raise ApiError(
            429,
            f"too many requests to {request.url.path}: at most {limit} a minute",
            headers={"Retry-After": "60"},
        )


RateLimited = Depends(rate_limited)


class Me(BaseModel):
    model_config = examples(
        {
            "address": WORKER,
            "roles": ["worker"],
            "session_id": "9f86d081884c7d659a2feaa0c55ad015",
            "expires_at": 1796631300,
        }
    )

    address: str
    roles: list[str]
    session_id: str
    expires_at: int = Field(description="when this access token expires (unix seconds)")


class LoggedOut(BaseModel):
    model_config = examples({"session_id": "9f86d081884c7d659a2feaa0c55ad015", "revoked": True})

    session_id: str
    revoked: bool = Field(description="false: the session had already ended")


CHAIN_DOWN = {503: "the warehouse, or the StarkNet node that checks signatures, is unreachable"}


def _chain_down(err: Exception) -> ApiError:
    return ApiError(503, f"cannot reach the StarkNet node to check the signature: {err}")


@router.post(
    "/challenge",
    response_model=ChallengeResponse,
    dependencies=[RateLimited],
    responses=errors(422, 429, said=CHAIN_DOWN),
    summary="A single-use SNIP-12 login message to sign",
)
async def challenge(body: ChallengeRequest, engine: Engine, chain: Chain, settings: SettingsDep):
    try:
        chain_id = await chain.chain_id()
    except (ChainUnavailable, ChainRpcError) as err:
        raise _chain_down(err) from None

    def issue() -> store.Challenge:
        with engine.begin() as conn:
            return store.issue_challenge(conn, body.address, chain_id, settings.api_challenge_ttl_s)

    issued = await run_in_threadpool(issue)
    message = _message(issued)
    return {
        "address": body.address,
        "nonce": hex(issued.nonce),
        "chain_id": hex(chain_id),
        "issued_at": issued.issued_at,
        "expires_at": issued.expires_at,
        "typed_data": message.typed_data(),
        "message_hash": hex(message.hash()),
    }


def _message(challenge: store.Challenge) -> LoginMessage:
    return LoginMessage(
        address=int(challenge.address, 16),
        nonce=challenge.nonce,
        issued_at=challenge.issued_at,
        expires_at=challenge.expires_at,
        chain_id=challenge.chain_id,
    )


async def _login(body: LoginRequest, role: str, engine: sa.Engine, chain, tokens, settings) -> dict:
    nonce = parse_felt(body.nonce)

    def find() -> store.Challenge:
        with engine.connect() as conn:
            return store.find_challenge(conn, nonce, body.address)

    try:
        found = await run_in_threadpool(find)
        signature = [parse_felt(x) for x in body.signature]
        valid = await chain.signature_is_valid(_message(found), signature)
    except store.LoginRefused as err:
        raise unauthorized(str(err)) from None
    except (ChainUnavailable, ChainRpcError) as err:
        raise _chain_down(err) from None
    if not valid:
        raise unauthorized(
            f"the account contract at {body.address} does not accept this signature of the "
            "challenge (wrong key, address, chain or message)"
        )
    admins = {normalize_address(a) for a in settings.api_admin_addresses}
    try:
        if body.address == await chain.owner():
            admins.add(body.address)
    except ChainUnavailable:
        pass  # the owner cannot be read now: only configured admins
    roles = (role, "admin") if body.address in admins else (role,)
    verifiers = {normalize_address(a) for a in settings.api_verifier_addresses}
    if role == "worker" and body.address in verifiers:
        roles += ("verifier",)
    session_id = secrets.token_hex(16)
    refresh, jti = tokens.refresh_token(body.address, roles, session_id)

    def start_session() -> None:
        with engine.begin() as conn:
            store.consume_challenge(conn, found)
            store.open_session(
                conn, session_id, body.address, roles, jti, settings.api_refresh_token_ttl_s
            )

    try:
        await run_in_threadpool(start_session)
    except store.LoginRefused as err:
        raise unauthorized(str(err)) from None
    return _pair(tokens, body.address, roles, session_id, refresh)


def _pair(tokens, address: str, roles: tuple[str, ...], session_id: str, refresh: str) -> dict:
    return {
        "access_token": tokens.access_token(address, roles, session_id),
        "refresh_token": refresh,
        "expires_in": tokens.access_ttl_s,
        "refresh_expires_in": tokens.refresh_ttl_s,
        "address": address,
        "roles": list(roles),
    }


LOGIN_RESPONSES = errors(
    422,
    429,
    said={401: "challenge unusable or signature not valid", **CHAIN_DOWN},
)


@router.post(
    "/worker-auth",
    response_model=TokenPair,
    dependencies=[RateLimited],
    responses=LOGIN_RESPONSES,
    summary="Log in as a worker with a signed challenge",
)
async def worker_login(
    body: LoginRequest, engine: Engine, chain: Chain, tokens: Tokens, settings: SettingsDep
):
    return await _login(body, "worker", engine, chain, tokens, settings)


@router.post(
    "/authenticate",
    response_model=TokenPair,
    dependencies=[RateLimited],
    responses=LOGIN_RESPONSES,
    summary="Log in as a job creator with a signed challenge",
)
async def creator_login(
    body: LoginRequest, engine: Engine, chain: Chain, tokens: Tokens, settings: SettingsDep
):
    return await _login(body, "creator", engine, chain, tokens, settings)


@router.post(
    "/refresh",
    response_model=TokenPair,
    dependencies=[RateLimited],
    responses=errors(
        422, 429, 503, said={401: "the refresh token is not valid, or was used before"}
    ),
    summary="Trade a refresh token for a new pair (the old one stops working)",
)
def refresh(body: RefreshRequest, engine: Engine, tokens: Tokens) -> dict:
    try:
        claims = tokens.check(body.refresh_token, REFRESH)
    except TokenError as err:
        raise unauthorized(str(err)) from None
    new_refresh, jti = tokens.refresh_token(claims.address, claims.roles, claims.session_id)
    with engine.begin() as conn:
        refused = store.rotate_refresh(conn, claims.session_id, claims.token_id, jti)
    if refused:
        raise unauthorized(refused)
    return _pair(tokens, claims.address, claims.roles, claims.session_id, new_refresh)


@router.post(
    "/logout",
    response_model=LoggedOut,
    responses=errors(401, 503),
    summary="End the caller's session: its refresh token stops working",
)
def logout(principal: Principal, engine: Engine) -> dict:
    with engine.begin() as conn:
        revoked = store.revoke_session(conn, principal.session_id, "logout")
    return {"session_id": principal.session_id, "revoked": revoked}


@router.get(
    "/me", response_model=Me, responses=errors(401), summary="Who the access token belongs to"
)
def me(principal: Principal) -> dict:
    return {
        "address": principal.address,
        "roles": list(principal.roles),
        "session_id": principal.session_id,
        "expires_at": principal.expires_at,
    }

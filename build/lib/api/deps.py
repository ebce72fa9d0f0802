"""What every route needs: the warehouse engine, paging, rows as plain values, and who is
calling (a verified access token)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth.store import LIVE_SESSION, SESSION_ENDED
from api.auth.tokens import ACCESS, Claims, TokenError, TokenIssuer
from api.chain import ApiChain
from api.errors import ApiError
from veriframe_core.settings import Settings

MAX_PAGE = 500


async def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_tokens(request: Request) -> TokenIssuer:
    return request.app.state.tokens


async def get_chain(request: Request) -> ApiChain:
    return request.app.state.chain


bearer = HTTPBearer(auto_error=False, description="an access token from /api/v1/auth")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Claims:
    """The caller of a verified access token; 401 without one. (Async: no thread hop for a
    check that reads nothing.)"""
    if credentials is None:
        raise unauthorized("authentication required: send Authorization: Bearer <access token>")
    try:
        return request.app.state.tokens.check(credentials.credentials, ACCESS)
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


Engine = Annotated[sa.Engine, Depends(get_engine)]
Pages = Annotated[Paging, Depends(paging)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Chain = Annotated[ApiChain, Depends(get_chain)]
Tokens = Annotated[TokenIssuer, Depends(get_tokens)]
Principal = Annotated[Claims, Depends(current_principal)]
WorkerPrincipal = Annotated[Claims, Depends(role("worker"))]


def plain(row: sa.Row) -> dict[str, Any]:
    """A row with NUMERIC values as decimal text (u256 and felts do not fit JSON numbers)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row._mapping.items()}


def fetch(engine: sa.Engine, query: sa.Select) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [plain(r) for r in conn.execute(query)]

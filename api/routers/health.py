"""Liveness and readiness: the database, and how far ingestion trails the chain."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Engine, SettingsDep
from api.schemas import Health, Service
from veriframe_core.chain.rpc import ChainRpcError, ChainUnavailable
from veriframe_core.chain.views import ChainReader
from veriframe_core.settings import Settings
from veriframe_core.warehouse.tables import chain_cursor

router = APIRouter(tags=["health"])
CHAIN_TIMEOUT_S = 2.0


def _database(engine: sa.Engine) -> tuple[bool, int | None]:
    """(reachable, cursor block) of the warehouse."""
    try:
        with engine.connect() as conn:
            return True, conn.execute(sa.select(sa.func.max(chain_cursor.c.block_number))).scalar()
    except sa.exc.SQLAlchemyError:
        return False, None


def _chain_head(settings: Settings) -> int | None:
    try:
        return ChainReader(settings.starknet_rpc_url, 0, CHAIN_TIMEOUT_S).head()
    except (ChainUnavailable, ChainRpcError):
        return None


def _ipfs(url: str | None) -> dict[str, Any]:
    """Reachability of the Kubo RPC API (`POST /api/v0/version`), when one is configured."""
    if url is None:
        return {"status": "not_configured", "url": None, "version": None}
    try:
        answer = httpx.post(f"{url.rstrip('/')}/api/v0/version", timeout=CHAIN_TIMEOUT_S)
        answer.raise_for_status()
        version = answer.json().get("Version")
    except (httpx.HTTPError, ValueError, AttributeError):
        return {"status": "unreachable", "url": url, "version": None}
    return {"status": "ok", "url": url, "version": version}


def _status(engine: sa.Engine, settings: Settings) -> tuple[dict[str, Any], bool]:
    """The health document, and whether the API is ready to serve workers."""
    database_ok, cursor = _database(engine)
    head = _chain_head(settings)
    ipfs = _ipfs(settings.ipfs_api_url)
    lag = head - cursor if head is not None and cursor is not None else None
    ready = database_ok and lag is not None and lag <= settings.api_ready_max_lag_blocks
    healthy = database_ok and head is not None and ipfs["status"] != "unreachable"
    document = {
        "status": "ok" if healthy else "degraded",
        "database": "ok" if database_ok else "unreachable",
        "ipfs": ipfs,
        "chain": {
            "rpc": "ok" if head is not None else "unreachable",
            "head": head,
            "cursor": cursor,
            "lag_blocks": lag,
            "max_lag_blocks": settings.api_ready_max_lag_blocks,
        },
    }
    return document, ready


@router.get("/", response_model=Service, summary="Where the API, its docs and health are")
def root() -> dict:
    return {"service": "veriframe-api", "api": "/api/v1", "docs": "/docs", "health": "/health"}


@router.get("/health", response_model=Health, summary="Database, chain and IPFS status")
def health(engine: Engine, settings: SettingsDep) -> dict:
    return _status(engine, settings)[0]


@router.get(
    "/ready",
    response_model=Health,
    responses={503: {"model": Health, "description": "not ready: database or ingestion lag"}},
    summary="200 when the warehouse is reachable and ingestion is current",
)
def ready(engine: Engine, settings: SettingsDep) -> JSONResponse:
    document, is_ready = _status(engine, settings)
    return JSONResponse(document, status_code=200 if is_ready else 503)

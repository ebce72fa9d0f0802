"""Liveness (`/health`: the process answers, nothing else is asked, so a slow database never
gets a healthy API restarted) and readiness (`/ready`: the warehouse, the chain's RPC node
and IPFS answer, and ingestion is current; else 503 naming what fails).

`/ready` also says whether Dagster's daemon is alive, from its heartbeats in Dagster's
storage (`dagster`, and `warnings` when it is down or stale): without it deliveries are not
recorded nor jobs settled, but the API serves workers and creators all the same, so it is
a warning, not a reason to take the API out of service (a 503)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import probes
from api.chain import ApiChain
from api.deps import Chain, DagsterStorage, Engine, IpfsHttp, SettingsDep
from api.schemas import Liveness, Readiness, Service
from veriframe_core.settings import Settings

router = APIRouter(tags=["health"])


def _ipfs(url: str | None, probe: probes.Probe[str] | None) -> dict[str, Any]:
    if probe is None:
        return {"status": "not_configured", "url": None, "version": None}
    return {"status": "ok" if probe.ok else "unreachable", "url": url, "version": probe.value}


def _daemon(heartbeats: probes.Probe[dict[str, float]], stale_s: float) -> tuple[dict, str | None]:
    """Dagster's daemon as `/ready` shows it, and the warning when it is not alive."""
    found: dict[str, Any] = {"status": "ok", "heartbeat_age_s": None, "stale_after_s": stale_s}
    if heartbeats.error is not None:
        found["status"] = "unreachable"
        return found, f"{heartbeats.error}: the daemon's state is unknown"
    if not heartbeats.value:
        found["status"] = "no_heartbeat"
        return found, "Dagster's daemon has never run on this instance"
    age = max(time.time() - max(heartbeats.value.values()), 0)
    found["heartbeat_age_s"] = round(age, 1)
    if age <= stale_s:
        return found, None
    found["status"] = "stale"
    return found, (
        f"Dagster's daemon's last heartbeat is {age:.0f} s old (at most {stale_s:.0f} s): "
        "it is down or frozen, so deliveries are not recorded nor jobs settled"
    )


async def readiness(
    engine: sa.Engine,
    dagster: sa.Engine,
    chain: ApiChain,
    ipfs: httpx.AsyncClient,
    settings: Settings,
) -> dict[str, Any]:
    """The readiness document: every part probed at once, the failing ones named."""
    seen, heartbeats = await asyncio.gather(
        probes.observe(engine, chain, ipfs, settings.ipfs_api_url, probes.read_cursor),
        probes.daemon_heartbeats(dagster),
    )
    cursor, head, ipfs = seen.warehouse, seen.head, seen.ipfs
    failing = {
        name: probe.error
        for name, probe in (("database", cursor), ("chain", head), ("ipfs", ipfs))
        if probe is not None and probe.error is not None
    }
    lag = probes.Lag.between(head.value, cursor.value) if head.value and cursor.value else None
    allowed = settings.api_ready_max_lag_blocks
    if cursor.ok and head.ok:
        if lag is None:
            failing["ingestion"] = "nothing ingested yet: run the chain sensor or `veriframe index`"
        elif lag.blocks > allowed:
            failing["ingestion"] = (
                f"ingestion trails the head by {lag.blocks} blocks (at most {allowed})"
            )
    daemon, trouble = _daemon(heartbeats, settings.dagster_daemon_stale_s)
    return {
        "status": "not_ready" if failing else "ok",
        "failing": failing,
        "warnings": {"dagster_daemon": trouble} if trouble else {},
        "database": "ok" if cursor.ok else "unreachable",
        "ipfs": _ipfs(settings.ipfs_api_url, ipfs),
        "chain": {
            "rpc": "ok" if head.ok else "unreachable",
            "head": head.value.number if head.value else None,
            "cursor": cursor.value.block if cursor.value else None,
            "lag_blocks": lag.blocks if lag else None,
            "lag_seconds": lag.seconds if lag else None,
            "max_lag_blocks": allowed,
        },
        "dagster": {"daemon": daemon},
    }


@router.get("/", response_model=Service, summary="Where the API, its docs and probes are")
async def root() -> dict:
    return {
        "service": "veriframe-api",
        "api": "/api/v1",
        "docs": "/docs",
        "health": "/health",
        "ready": "/ready",
        "metrics": "/metrics",
    }


@router.get("/health", response_model=Liveness, summary="200 while the process answers")
async def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready: the failing parts named"}},
    summary="200 when the warehouse, chain and IPFS answer and ingestion is current",
)
async def ready(
    engine: Engine, dagster: DagsterStorage, chain: Chain, ipfs: IpfsHttp, settings: SettingsDep
) -> JSONResponse:
    document = await readiness(engine, dagster, chain, ipfs, settings)
    return JSONResponse(document, status_code=503 if document["failing"] else 200)

"""The FastAPI application: routers under `/api/v1`; health, readiness and metrics at the
root; one error shape."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import kubo
from api.auth.tokens import TokenIssuer
from api.chain import ApiChain
from api.database import open_pool
from api.errors import install_error_handlers
from api.maintenance import run_maintenance
from api.metrics.requests import MeasureRequests, RequestMetrics
from api.protocol import routes as protocol
from api.protocol import verification_routes as verification
from api.protocol.offers import AvailableJobs
from api.realtime import ChangeFeed
from api.routers import assets, auth, events, health, jobs, metrics, network, outlook, workers
from api.routers.ws import router as ws_router
from veriframe_core.settings import Settings, get_settings
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.notify import Announcer
from veriframe_core.warehouse.urls import dagster_storage_url, resolve_database_urls

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, engine: sa.Engine | None = None) -> FastAPI:
    """The API over the warehouse at `engine` (default: the one the settings name)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        connections = settings.api_db_connections
        app.state.engine = engine or make_engine(
            resolve_database_urls(settings).warehouse, pool_size=connections, max_overflow=4
        )
        anyio.to_thread.current_default_thread_limiter().total_tokens = connections
        app.state.pool = await open_pool(app.state.engine.url, connections)
        app.state.dagster_engine = make_engine(  # its daemon's heartbeats, for /ready
            dagster_storage_url(settings, app.state.engine.url), pool_size=1, max_overflow=0
        )
        app.state.settings = settings
        app.state.tokens = TokenIssuer.from_settings(settings)
        app.state.chain = ApiChain(settings)
        await app.state.chain.open()
        # one client, kept (46 ms to make); no cap on its connections, or slow downloads
        # holding them all would starve uploads and /ready's probe
        app.state.ipfs = httpx.AsyncClient(
            timeout=kubo.TIMEOUT, limits=httpx.Limits(max_connections=None)
        )
        app.state.available = AvailableJobs(
            app.state.engine, settings.api_max_failures_per_job, settings.api_settings_grace_s
        )
        app.state.announcer = Announcer(app.state.engine).start()
        app.state.feed = ChangeFeed(app.state.engine, queue_size=settings.api_ws_queue_size)
        app.state.feed.listeners.append(app.state.available)
        app.state.feed.start()
        upkeep = asyncio.create_task(run_maintenance(app.state.engine, settings.api_lease_sweep_s))
        yield
        upkeep.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await upkeep
        await app.state.feed.stop()
        await asyncio.to_thread(app.state.announcer.stop)
        await app.state.chain.close()
        await app.state.ipfs.aclose()
        await app.state.pool.close()
        app.state.dagster_engine.dispose()
        if owned:
            app.state.engine.dispose()

    app = FastAPIOffline(  # /docs and /redoc served from the package, not a CDN
        title="VeriFrame API",
        version="1.0.0",
        description="Workers, jobs and contract events of the VeriFrame render network.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if settings.api_trusted_proxies:
        # Run uvicorn with proxy headers off (`veriframe api` and `up` do): its own middleware
        # would trust any local process's X-Forwarded-For before this one runs.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.api_trusted_proxies)
    registry = CollectorRegistry()  # per app: tests run several in one process
    app.state.metrics_registry = registry
    app.add_middleware(MeasureRequests, metrics=RequestMetrics(registry))  # outermost: all
    app.include_router(health.router)
    app.include_router(metrics.router)
    # the protocol before jobs: `/jobs/claimed` and `/jobs/available` are not `/jobs/{job_id}`
    modules = (auth, workers, protocol, verification, jobs, outlook, events, assets, network)
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(ws_router, prefix=API_PREFIX)
    return app

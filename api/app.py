"""The FastAPI application: routers under `/api/v1`, health at the root, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routers import events, health, jobs, workers
from veriframe_dagster.settings import Settings, get_settings
from veriframe_dagster.warehouse.engine import make_engine
from veriframe_dagster.warehouse.urls import resolve_database_urls

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, engine: sa.Engine | None = None) -> FastAPI:
    """The API over the warehouse at `engine` (default: the one the settings name)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = engine or make_engine(resolve_database_urls(settings).warehouse)
        app.state.settings = settings
        yield
        if owned:
            app.state.engine.dispose()

    app = FastAPI(
        title="VeriFrame API",
        version="1.0.0",
        description="Workers, jobs and contract events of the VeriFrame render network.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    for module in (workers, jobs, events):
        app.include_router(module.router, prefix=API_PREFIX)
    return app

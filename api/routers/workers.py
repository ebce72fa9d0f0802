"""Workers: the chain's truth (registered, verified, reputation) beside their off-chain profile."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from api.deps import Engine, Pages, fetch
from api.errors import not_found
from api.schemas import Address, Page, ReputationChange, Worker, WorkerStats
from veriframe_dagster.warehouse.tables import reputation_history, workers

router = APIRouter(prefix="/workers", tags=["workers"])
WORKER_COLUMNS = [workers.c[name] for name in Worker.model_fields]


@router.get("", response_model=Page[Worker], summary="List workers, best reputation first")
def list_workers(
    engine: Engine,
    pages: Pages,
    verified: bool | None = None,
    active: bool | None = None,
    min_reputation: Annotated[int, Query(ge=0, le=1000)] = 0,
) -> dict:
    query = sa.select(*WORKER_COLUMNS).where(workers.c.reputation >= min_reputation)
    if verified is not None:
        query = query.where(workers.c.verified == verified)
    if active is not None:
        query = query.where(workers.c.active == active)
    query = query.order_by(workers.c.reputation.desc(), workers.c.address)
    return pages.page(fetch(engine, pages.apply(query)))


@router.get("/stats/overview", response_model=WorkerStats, summary="Worker statistics")
def worker_stats(engine: Engine) -> dict:
    w = workers.c
    query = sa.select(
        sa.func.count().label("workers"),
        sa.func.count().filter(w.registered).label("registered"),
        sa.func.count().filter(w.verified).label("verified"),
        sa.func.count().filter(w.active & w.registered).label("active"),
        sa.func.avg(w.reputation).filter(w.registered).label("average_reputation"),
        sa.func.coalesce(sa.func.sum(w.jobs_completed), 0).label("jobs_completed"),
        sa.func.coalesce(sa.func.sum(w.jobs_failed), 0).label("jobs_failed"),
    )
    (row,) = fetch(engine, query)
    average = row["average_reputation"]
    return {**row, "average_reputation": None if average is None else round(float(average), 2)}


@router.get("/{address}", response_model=Worker, summary="One worker")
def get_worker(engine: Engine, address: Address) -> dict:
    rows = fetch(engine, sa.select(*WORKER_COLUMNS).where(workers.c.address == address))
    if not rows:
        raise not_found(f"worker {address}")
    return rows[0]


@router.get(
    "/{address}/reputation-history",
    response_model=Page[ReputationChange],
    summary="A worker's reputation changes, newest first",
)
def reputation_changes(engine: Engine, address: Address, pages: Pages) -> dict:
    h = reputation_history.c
    query = (
        sa.select(*(h[name] for name in ReputationChange.model_fields))
        .where(h.worker_address == address)
        .order_by(h.block_number.desc(), h.transaction_index.desc(), h.event_index.desc())
    )
    return pages.page(fetch(engine, pages.apply(query)))

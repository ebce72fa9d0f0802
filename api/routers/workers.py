"""Workers: the chain's truth (registered, verified, reputation) beside their off-chain profile."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from sqlalchemy.dialects.postgresql import insert

from api.auth.tokens import Claims
from api.deps import Engine, Offers, Pages, Principal, require_live_session
from api.errors import ApiError, errors, not_found
from api.protocol.offers import AvailableJobs
from api.rows import fetch, plain
from api.schemas import ReputationChange, Worker, WorkerStats
from veriframe_core.protocol import Address, Page, WorkerProfileRequest
from veriframe_core.warehouse.notify import notify_changes
from veriframe_core.warehouse.tables import reputation_history, workers

router = APIRouter(prefix="/workers", tags=["workers"], responses=errors(503))
WORKER_COLUMNS = [workers.c[name] for name in Worker.model_fields]


@router.get(
    "",
    response_model=Page[Worker],
    responses=errors(422),
    summary="List workers, best reputation first",
)
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


@router.get("/{address}", response_model=Worker, responses=errors(404, 422), summary="One worker")
def get_worker(engine: Engine, address: Address) -> dict:
    rows = fetch(engine, sa.select(*WORKER_COLUMNS).where(workers.c.address == address))
    if not rows:
        raise not_found(f"worker {address}")
    return rows[0]


@router.get(
    "/{address}/reputation-history",
    response_model=Page[ReputationChange],
    responses=errors(422),
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


def _save_profile(
    engine: sa.Engine,
    offers: AvailableJobs,
    principal: Claims,
    address: str,
    body: WorkerProfileRequest,
) -> dict:
    """Create or replace the off-chain profile; the chain columns stay the chain's. This
    process's offers forget the worker's facts at once, so that its next poll is matched
    against the new capabilities (other processes hear of it through the notification)."""
    if address != principal.address and "admin" not in principal.roles:
        raise ApiError(403, f"{principal.address} may not change the profile of {address}")
    values = {
        "capabilities": body.capabilities.model_dump(exclude_none=True),
        "hardware_specs": body.hardware_specs,
        "contact_info": body.contact_info,
        "active": body.active,
        "last_seen": sa.func.now(),
    }
    with engine.begin() as conn:
        require_live_session(conn, principal)
        statement = insert(workers).values(address=address, **values)
        conn.execute(statement.on_conflict_do_update(index_elements=["address"], set_=values))
        notify_changes(conn, source="api", workers=[address])
        (row,) = conn.execute(sa.select(*WORKER_COLUMNS).where(workers.c.address == address))
    offers.forget()
    return plain(row)


@router.post(
    "/register",
    response_model=Worker,
    responses=errors(401, 422),
    summary="Register or update your own off-chain profile (capabilities, contact)",
)
def register_profile(
    body: WorkerProfileRequest, engine: Engine, offers: Offers, principal: Principal
) -> dict:
    """On-chain `register_worker` and the owner's verification stay the source of truth for
    `registered`, `verified` and `reputation`; this stores what jobs can be matched against."""
    return _save_profile(engine, offers, principal, principal.address, body)


@router.put(
    "/{address}",
    response_model=Worker,
    responses=errors(401, 422, said={403: "not your address (and not an admin)"}),
    summary="Update a worker's off-chain profile (the worker itself, or an admin)",
)
def update_profile(
    address: Address,
    body: WorkerProfileRequest,
    engine: Engine,
    offers: Offers,
    principal: Principal,
) -> dict:
    return _save_profile(engine, offers, principal, address, body)

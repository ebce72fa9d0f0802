"""Contract events: the raw, decoded log every other table is folded from."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query

from api.deps import Engine, Pages
from api.errors import ApiError, errors
from api.rows import fetch
from api.schemas import Event, EventStats
from veriframe_core.protocol import Address, Page
from veriframe_core.warehouse.tables import contract_events

router = APIRouter(prefix="/events", tags=["events"], responses=errors(503))
EVENT_COLUMNS = [contract_events.c[name] for name in Event.model_fields]
Block = Annotated[int, Query(ge=0, lt=2**63)]


def chain_order(query: sa.Select) -> sa.Select:
    e = contract_events.c
    return query.order_by(e.block_number, e.transaction_index, e.event_index)


@router.get(
    "",
    response_model=Page[Event],
    responses=errors(400, 422),
    summary="List events in chain order",
)
def list_events(
    engine: Engine,
    pages: Pages,
    name: Annotated[
        str | None,
        Query(max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="event name"),
    ] = None,
    from_block: Block | None = None,
    to_block: Block | None = None,
    contract: Address | None = None,
) -> dict:
    if from_block is not None and to_block is not None and from_block > to_block:
        raise ApiError(400, f"from_block {from_block} is after to_block {to_block}")
    e = contract_events.c
    query = sa.select(*EVENT_COLUMNS)
    if name is not None:
        query = query.where(e.event_name == name)
    if from_block is not None:
        query = query.where(e.block_number >= from_block)
    if to_block is not None:
        query = query.where(e.block_number <= to_block)
    if contract is not None:
        query = query.where(e.contract_address == contract)
    return pages.page(fetch(engine, pages.apply(chain_order(query))))


@router.get("/summary/stats", response_model=EventStats, summary="Event counts by name")
def event_stats(engine: Engine) -> dict:
    e = contract_events.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                e.event_name,
                sa.func.count(),
                sa.func.min(e.block_number),
                sa.func.max(e.block_number),
            ).group_by(e.event_name)
        ).all()
    return {
        "events": sum(count for _, count, _, _ in rows),
        "by_name": {name: count for name, count, _, _ in rows},
        "first_block": min((first for _, _, first, _ in rows), default=None),
        "last_block": max((last for _, _, _, last in rows), default=None),
    }


@router.get(
    "/block/{block_number}",
    response_model=Page[Event],
    responses=errors(422),
    summary="Events of a block",
)
def block_events(
    engine: Engine, block_number: Annotated[int, Path(ge=0, lt=2**63)], pages: Pages
) -> dict:
    query = sa.select(*EVENT_COLUMNS).where(contract_events.c.block_number == block_number)
    return pages.page(fetch(engine, pages.apply(chain_order(query))))


@router.get(
    "/tx/{transaction_hash}",
    response_model=Page[Event],
    responses=errors(422),
    summary="Events of a transaction",
)
def transaction_events(engine: Engine, transaction_hash: Address, pages: Pages) -> dict:
    query = sa.select(*EVENT_COLUMNS).where(contract_events.c.transaction_hash == transaction_hash)
    return pages.page(fetch(engine, pages.apply(chain_order(query))))

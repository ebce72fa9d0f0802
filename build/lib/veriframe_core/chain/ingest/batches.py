"""What moves between the steps of a tick: the cursor, a batch read from the chain, the rows
it folds onto, the writes it makes, and the tick's report."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from veriframe_core.chain.rpc import BlockHeader, RawEvent

Cursor = tuple[int, str]  # (block number, normalised block hash)


@dataclass
class TickReport:
    """What one tick did, for logs and for the Dagster materialization metadata."""

    head: int = 0
    first_block: int | None = None
    last_block: int | None = None  # the cursor after the tick
    events: int = 0
    rows: Counter = field(default_factory=Counter)
    reorgs: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    caught_up: bool = False
    head_lag_blocks: int = 0
    head_lag_seconds: float = 0.0
    # rpc (reading), decode (decoding, folding, COPY text), db (writing); reading and
    # decoding the next batch overlap with writing the last, so they add up past wall time
    seconds: Counter = field(default_factory=Counter)


@dataclass
class Batch:
    """Events of whole blocks, read and checked, with what the events themselves leave out."""

    first: int
    end: BlockHeader
    events: list[RawEvent]
    headers: dict[int, BlockHeader]
    context: dict[int, dict[str, int]]  # by position in `events`


@dataclass
class Writes:
    """One batch made ready for Postgres: everything its transaction writes, as COPY lines
    (rendered before the previous batch's transaction ends, so the writer only waits on
    Postgres)."""

    cursor: Cursor | None  # the cursor the batch continues from
    end: Cursor
    chain_time: datetime
    first_block: int
    rows: Counter  # rows written per table
    events: str
    workers: str
    new_jobs: str  # created in this batch
    jobs: str  # created before
    history: str
    blocks: list[tuple[int, str, str, datetime]]
    job_ids: list[int]  # created or changed, announced on commit (warehouse.notify)
    worker_addresses: list[str]


@dataclass
class WorkingSet:
    """The chain columns of the rows recent batches touched, as they are after `cursor`.

    The next batch is folded onto these without reading them back (the previous batch may
    still be in its transaction). Only ingesters write these columns, under the contract's
    advisory lock and together with the cursor: while the stored cursor is `cursor`, the
    stored rows are these. Rows not held here are read from the warehouse.
    """

    cursor: Cursor | None = None
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any] | None] = field(default_factory=dict)


def lock_contract(conn: sa.Connection, contract: str) -> None:
    """Take the contract's advisory lock for this transaction: ingesters of one contract take
    turns."""
    key = zlib.crc32(contract.encode()) - 2**31
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

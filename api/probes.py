"""Probes of the parts the API depends on (the warehouse, the chain's RPC node, the IPFS
node), shared by `/ready` and `/metrics`, and of Dagster's daemon (its heartbeats, for
`/ready`). Each answers within PROBE_TIMEOUT_S and says in
one line what failed, so a dead part never hangs a probe's caller; the three run
concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio.to_thread
import httpx
import sqlalchemy as sa

from api.chain import ApiChain
from veriframe_core.chain.rpc import BlockHeader, ChainRpcError, ChainUnavailable

PROBE_TIMEOUT_S = 2.0
T = TypeVar("T")

CURSOR = sa.text(
    """
    SELECT c.block, extract(epoch FROM b.block_timestamp)::float8
    FROM (SELECT max(block_number) AS block FROM chain_cursor) c
    LEFT JOIN chain_blocks b ON b.block_number = c.block
    """
)


@dataclass(frozen=True)
class Probe(Generic[T]):
    """What a part answered, or why it did not (`error`, one line)."""

    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Cursor:
    """The last block ingestion finished, and its chain time (None once pruned)."""

    block: int | None
    timestamp: float | None


@dataclass(frozen=True)
class Lag:
    """How far ingestion trails the chain's head (0 when caught up)."""

    blocks: int
    seconds: float | None

    @classmethod
    def between(cls, head: BlockHeader, cursor: Cursor) -> Lag | None:
        if cursor.block is None:
            return None
        seconds = None if cursor.timestamp is None else max(head.timestamp - cursor.timestamp, 0)
        return cls(max(head.number - cursor.block, 0), seconds)


HEARTBEATS = sa.text(
    "SELECT daemon_type, (body::jsonb ->> 'timestamp')::float8 FROM daemon_heartbeats"
)
"""Dagster's daemons' latest heartbeats (unix time), read from the serialized heartbeat:
the `timestamp` column's time zone depends on the session that wrote it."""


def read_cursor(conn: sa.Connection) -> Cursor:
    block, timestamp = conn.execute(CURSOR).one()
    return Cursor(block, timestamp)


async def warehouse(
    engine: sa.Engine, read: Callable[[sa.Connection], T], name: str = "warehouse"
) -> Probe[T]:
    """`read` on one connection of the warehouse (or the database `name`d), in a worker
    thread."""

    def run() -> T:
        with engine.connect() as conn:
            return read(conn)

    try:
        with anyio.fail_after(PROBE_TIMEOUT_S):  # a database that hangs answers no probe
            return Probe(await anyio.to_thread.run_sync(run, abandon_on_cancel=True))
    except TimeoutError:
        return Probe(error=f"{name} did not answer within {PROBE_TIMEOUT_S:g} s")
    except sa.exc.SQLAlchemyError as err:
        cause = getattr(err, "orig", None) or err
        return Probe(error=f"{name} unreachable ({type(cause).__name__})")


async def daemon_heartbeats(engine: sa.Engine) -> Probe[dict[str, float]]:
    """When each of Dagster's daemons last said it was alive, from Dagster's storage: its own
    Daemons page counts a daemon healthy for 30 minutes after its last heartbeat."""
    return await warehouse(
        engine, lambda conn: dict(conn.execute(HEARTBEATS).tuples().all()), "Dagster's storage"
    )


async def chain_head(chain: ApiChain) -> Probe[BlockHeader]:
    try:
        return Probe(await chain.head(PROBE_TIMEOUT_S))
    except (ChainUnavailable, ChainRpcError) as err:
        return Probe(error=str(err))


async def ipfs_version(client: httpx.AsyncClient, url: str | None) -> Probe[str] | None:
    """The Kubo node's version (`POST /api/v0/version`); None when no node is configured."""
    if url is None:
        return None
    try:
        answer = await client.post(f"{url.rstrip('/')}/api/v0/version", timeout=PROBE_TIMEOUT_S)
        answer.raise_for_status()
        return Probe(str(answer.json()["Version"]))
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
        return Probe(error=f"IPFS node at {url} unreachable ({type(err).__name__})")


@dataclass(frozen=True)
class Observation(Generic[T]):
    """The three parts probed at once: what `read` found in the warehouse, the chain's head,
    and the IPFS node (None when none is configured)."""

    warehouse: Probe[T]
    head: Probe[BlockHeader]
    ipfs: Probe[str] | None


async def observe(
    engine: sa.Engine,
    chain: ApiChain,
    ipfs: httpx.AsyncClient,
    ipfs_url: str | None,
    read: Callable[[sa.Connection], T],
) -> Observation[T]:
    found, head, version = await asyncio.gather(
        warehouse(engine, read), chain_head(chain), ipfs_version(ipfs, ipfs_url)
    )
    return Observation(found, head, version)

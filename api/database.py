"""The worker protocol's Postgres access: asyncpg, on the event loop.

Claims, heartbeats and results are the API's hot writes. Through SQLAlchemy and psycopg2
each request hopped to a thread, pinged its pooled connection and went through the
threadpool's GIL contention: about 2 ms of API CPU per claim (bench/README.md). Here a
write is a few awaited round trips on a pooled asyncpg connection, its statements prepared
once per connection (asyncpg's statement cache). The rest of the API (reads, profiles,
auth) stays on the SQLAlchemy engine.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import URL

from veriframe_core.warehouse.notify import Announcer, payloads


def asyncpg_dsn(url: URL) -> str:
    """The libpq-style DSN asyncpg takes, of a SQLAlchemy URL (its driver dropped)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (a round trip per request): the protocol sets
    no session state, its advisory locks end with their transactions, and asyncpg still
    rolls back a transaction left open."""


async def _json_as_python(conn: asyncpg.Connection) -> None:
    """JSON values in and out as Python objects, as psycopg2 hands them over."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def open_pool(url: URL, size: int) -> asyncpg.Pool:
    """Up to `size` connections, opened when first needed (an idle API holds none)."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=0,
        max_size=size,
        init=_json_as_python,
        reset=_keep_session,
        server_settings={
            "application_name": "veriframe-api-protocol",
            # every statement here is a keyed lookup or the claim-next index scan, whose
            # generic plan is the custom one; Postgres otherwise re-plans the statements
            # with subqueries on every execution (~30 % of a claim's Postgres CPU). An
            # ANALYZE of their tables still invalidates the plans, which are then rebuilt.
            "plan_cache_mode": "force_generic_plan",
        },
    )


class Transaction:
    """One transaction of the worker protocol, and what it announces once committed."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn
        self.pending: list[str] = []

    def announce(
        self, *, jobs: Iterable[int] = (), workers: Iterable[str] = (), offered: Iterable[int] = ()
    ) -> None:
        """Announce these rows' change, and these jobs' verifications as claimable, after the
        commit (never after a rollback)."""
        self.pending.extend(payloads("api", jobs, workers, offered))


@asynccontextmanager
async def transaction(pool: asyncpg.Pool, announcer: Announcer) -> AsyncIterator[Transaction]:
    """A transaction on a pooled connection; its announcements go to `announcer` after the
    commit, and are dropped if it rolls back.

    Not `notify_changes` inside the transaction: a transaction that NOTIFYs holds Postgres's
    notification lock through its commit *and WAL flush*, so such transactions commit one at
    a time (bench/README.md: claims stalled at ~270/s on it). The price of announcing after
    the commit: a process dying in between loses the announcement (caches expire, websocket
    clients resync); what did not commit is still never announced."""
    async with pool.acquire() as conn:
        tx = Transaction(conn)
        async with conn.transaction():
            yield tx
    if tx.pending:
        announcer.announce(tx.pending)

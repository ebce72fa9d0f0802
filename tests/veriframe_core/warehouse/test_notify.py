"""Announcing after commit (the API's protocol transactions): what commits is announced, from
the announcer's own session; what rolls back never is."""

from __future__ import annotations

import asyncio
import select
import time

import psycopg2
import pytest

from api.database import open_pool, transaction
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.notify import CHANNEL, Announcer


def heard(listener, seconds: float) -> list[str]:
    deadline, found = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        if select.select([listener], [], [], 0.05)[0]:
            listener.poll()
            found += [n.payload for n in listener.notifies]
            listener.notifies.clear()
    return found


def test_announced_after_commit_and_never_after_a_rollback(warehouse_url: str) -> None:
    engine = make_engine(warehouse_url)
    listener = psycopg2.connect(
        engine.url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg2", "postgresql"
        )
    )
    listener.autocommit = True
    listener.cursor().execute(f"LISTEN {CHANNEL}")
    announcer = Announcer(engine).start()

    async def write() -> None:
        pool = await open_pool(engine.url, 2)
        try:
            with pytest.raises(RuntimeError):
                async with transaction(pool, announcer) as tx:
                    await tx.conn.execute("SELECT 1")
                    tx.announce(jobs=[7])
                    raise RuntimeError("the transaction fails")
            async with transaction(pool, announcer) as tx:
                tx.announce(jobs=[8], workers=["0x" + "0" * 63 + "1"])
        finally:
            await pool.close()

    try:
        asyncio.run(write())
        assert heard(listener, 1.0) == [
            '{"source":"api","jobs":[8],"workers":["0x' + "0" * 63 + '1"]}'
        ]
    finally:
        announcer.stop()
        listener.close()
        engine.dispose()

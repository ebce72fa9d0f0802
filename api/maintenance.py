"""Background upkeep of one API process: reopen jobs whose lease ran out (so a dead worker's
job comes back by itself, even when nobody tries to claim it) and forget stale login rows.
Every API process runs it; the statements are idempotent, so several never conflict."""

from __future__ import annotations

import asyncio
import logging
import time

import sqlalchemy as sa

from api.auth import store
from api.protocol import claims

log = logging.getLogger("veriframe.api")
FORGET_EVERY_S = 3600.0


def sweep_once(engine: sa.Engine, forget: bool = False) -> list[int]:
    """Reopen every job with an expired lease; returns their ids."""
    with engine.begin() as conn:
        reopened = claims.expire_leases(conn)
        if forget:
            store.forget_expired(conn)
    if reopened:
        log.info("Leases expired; reopened jobs %s", ", ".join(map(str, reopened)))
    return reopened


async def run_maintenance(engine: sa.Engine, period_s: float) -> None:
    last_forget = 0.0
    while True:
        forget = time.monotonic() - last_forget > FORGET_EVERY_S
        try:
            await asyncio.to_thread(sweep_once, engine, forget)
            if forget:
                last_forget = time.monotonic()
        except sa.exc.SQLAlchemyError as err:
            log.warning("Lease sweep failed (will retry in %.1f s): %s", period_s, err)
        await asyncio.sleep(period_s)

"""Background upkeep of one API process: reopen jobs whose lease ran out (so a dead worker's
job comes back by itself, even when nobody tries to claim it), tell waiting verifiers of
verifications whose verifier's lease ran out, and forget stale login rows. Every API process
runs it; the statements are idempotent, so several never conflict (a verifier may be told
twice, which costs it one look)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

import sqlalchemy as sa

from api.auth import store
from api.protocol import claims, verifying

log = logging.getLogger("veriframe.api")
FORGET_EVERY_S = 3600.0


def offer_lapsed(engine: sa.Engine, since: datetime | None) -> datetime:
    """Announce the verification tasks whose lease ran out after `since`; the next `since`."""
    with engine.begin() as conn:
        looked, job_ids = verifying.offer_lapsed(conn, since)
    if job_ids:
        log.info("Verifier leases expired; offered again: jobs %s", ", ".join(map(str, job_ids)))
    return looked


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
    lapsed_since: datetime | None = None
    while True:
        forget = time.monotonic() - last_forget > FORGET_EVERY_S
        try:
            await asyncio.to_thread(sweep_once, engine, forget)
            lapsed_since = await asyncio.to_thread(offer_lapsed, engine, lapsed_since)
            if forget:
                last_forget = time.monotonic()
        except sa.exc.SQLAlchemyError as err:
            log.warning("Lease sweep failed (will retry in %.1f s): %s", period_s, err)
        await asyncio.sleep(period_s)

"""Writing a batch: one Postgres transaction for its events, rows and blocks, and the cursor."""

from __future__ import annotations

import time

import sqlalchemy as sa

from veriframe_core.chain.ingest import store
from veriframe_core.chain.ingest.batches import TickReport, Writes, lock_contract
from veriframe_core.chain.ingest.results import verify_unverified_results
from veriframe_core.warehouse.notify import notify_changes


def write_batch(
    engine: sa.Engine, contract: str, reorg_window: int, writes: Writes, report: TickReport
) -> bool:
    """The batch's transaction (run in a worker thread); False if the cursor moved meanwhile
    (another ingester wrote first: nothing is written)."""
    started = time.perf_counter()
    with engine.begin() as conn:
        lock_contract(conn, contract)
        if store.get_cursor(conn, contract) != writes.cursor:
            return False
        store.insert_events(conn, writes.events)
        store.upsert_workers(conn, writes.workers)
        store.insert_jobs(conn, writes.new_jobs)
        store.upsert_jobs(conn, writes.jobs)
        store.insert_history(conn, writes.history)
        opened = verify_unverified_results(conn, writes.job_ids)
        store.upsert_blocks(conn, writes.blocks)
        expired, reopened = store.sweep_expiry(conn, writes.chain_time)
        store.set_cursor(conn, contract, *writes.end)
        store.prune_blocks(conn, writes.end[0] - reorg_window)
        notify_changes(
            conn,
            source="chain",
            jobs=[*writes.job_ids, *expired, *reopened],
            workers=writes.worker_addresses,
            offered=opened,
        )
    report.seconds["db"] += time.perf_counter() - started
    report.batches += 1
    report.events += writes.rows["contract_events"]
    report.rows.update(writes.rows)
    report.rows["jobs"] += len(expired)
    if report.first_block is None:
        report.first_block = writes.first_block
    report.last_block = writes.end[0]
    return True

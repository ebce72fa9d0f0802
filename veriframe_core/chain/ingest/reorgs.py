"""Reorgs: the cursor's block must still be on the chain, and nothing stored after it.

On a mismatch the common ancestor is found among the stored recent block hashes, everything
after it is deleted, and the rows it touched are rebuilt from their remaining events with
the same projection that forward ingestion uses.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.ingest import store
from veriframe_core.chain.ingest.batches import Cursor, TickReport, lock_contract
from veriframe_core.chain.ingest.projection import project
from veriframe_core.chain.rpc import BLOCK_NOT_FOUND, ChainRpcError, StarknetRpc
from veriframe_core.warehouse.notify import notify_changes

log = logging.getLogger("veriframe.ingest")


class ReorgGuard:
    """Keeps one contract's stored history on the chain the node serves."""

    def __init__(self, engine: sa.Engine, contract: str, start_block: int, reorg_window: int):
        self.engine = engine
        self.contract = contract
        self.start_block = start_block
        self.reorg_window = reorg_window

    async def verified_cursor(
        self, rpc: StarknetRpc, report: TickReport
    ) -> tuple[Cursor | None, bool]:
        """The cursor (None when nothing is ingested yet), after making sure nothing is
        stored past it and that its block is still on the chain (rolling back to the common
        ancestor if not); and whether anything was rolled back."""
        rolled_back = self._replay_after_cursor(report)
        while True:
            with self.engine.connect() as conn:
                cursor = store.get_cursor(conn, self.contract)
            if cursor is not None and await self._hash_of(rpc, cursor[0]) != cursor[1]:
                if not await self._handle_reorg(rpc, cursor, report):
                    continue  # another ingester moved the cursor meanwhile: look again
                rolled_back = True
                with self.engine.connect() as conn:
                    cursor = store.get_cursor(conn, self.contract)
            report.last_block = cursor[0] if cursor else None
            return cursor, rolled_back

    def _replay_after_cursor(self, report: TickReport) -> bool:
        """Events stored after the cursor (a cursor reset by hand, to re-run a range) are
        rolled back like a reorg, so the range is ingested again from the cursor."""
        with self.engine.begin() as conn:
            lock_contract(conn, self.contract)
            cursor = store.get_cursor(conn, self.contract)
            last = store.last_event_block(conn, self.contract)
            if last is None or (cursor is not None and last <= cursor[0]):
                return False
            fork = cursor[0] if cursor else self.start_block - 1
            rebuilt = self._rollback(conn, fork, cursor)
        report.reorgs.append({"reason": "events after the cursor", "fork_block": fork, **rebuilt})
        log.warning(
            "Chain ingestion: events up to block %d were stored after the cursor (block %s); "
            "rolled them back to ingest the range again",
            last,
            fork,
        )
        return True

    async def _handle_reorg(self, rpc: StarknetRpc, cursor: Cursor, report: TickReport) -> bool:
        """Roll back to the common ancestor; False if the cursor moved under us."""
        number = cursor[0]
        with self.engine.connect() as conn:
            stored = store.recent_blocks(conn, number, self.reorg_window)
        numbers = [n for n, _ in stored if n <= report.head]
        chain_hashes = await self._hashes_of(rpc, numbers)
        ancestor = next(((n, h) for n, h in stored if chain_hashes.get(n) == h), None)
        fork = ancestor[0] if ancestor else self.start_block - 1
        with self.engine.begin() as conn:
            lock_contract(conn, self.contract)
            if store.get_cursor(conn, self.contract) != cursor:
                return False
            rebuilt = self._rollback(conn, fork, ancestor)
        report.reorgs.append({"old_cursor": number, "fork_block": fork, **rebuilt})
        log.warning(
            "Chain reorg: block %d is no longer on the chain; rolled back to block %d "
            "(%d events removed, %d workers and %d jobs rebuilt)",
            number,
            fork,
            rebuilt["events_removed"],
            rebuilt["workers_rebuilt"],
            rebuilt["jobs_rebuilt"],
        )
        return True

    async def _hash_of(self, rpc: StarknetRpc, number: int) -> str | None:
        return (await self._hashes_of(rpc, [number])).get(number)

    async def _hashes_of(self, rpc: StarknetRpc, numbers: list[int]) -> dict[int, str]:
        """Current chain hashes of these blocks (blocks no longer on the chain are left out)."""
        try:
            headers = await rpc.headers(numbers)
        except ChainRpcError as err:
            if err.code != BLOCK_NOT_FOUND:
                raise
            headers = {}
            for n in numbers:  # the chain got shorter: look the survivors up one by one
                try:
                    headers.update(await rpc.headers([n]))
                except ChainRpcError as inner:
                    if inner.code != BLOCK_NOT_FOUND:
                        raise
        return {n: normalize_address(h.hash) for n, h in headers.items()}

    def _rollback(self, conn: sa.Connection, fork: int, ancestor: Cursor | None) -> dict[str, Any]:
        """Delete everything after `fork` and rebuild what it touched from remaining events.

        Says until when the rolled-back blocks went (chain time), so whoever derives days
        from the chain knows which ones changed even if the new branch is shorter."""
        rolled_back_until = store.newest_block_time(conn)
        workers, job_ids, removed = store.delete_events_after(conn, self.contract, fork)
        remaining = store.events_touching(conn, self.contract, workers, job_ids)
        chain_time = store.block_time(conn, fork) if ancestor else None
        rebuilt = project(remaining, {}, {})
        store.upsert_workers(
            conn, store.worker_lines(rebuilt.workers[w] for w in workers if w in rebuilt.workers)
        )
        store.delete_unregistered_workers(conn, [w for w in workers if w not in rebuilt.workers])
        store.upsert_jobs(
            conn, store.job_lines(rebuilt.jobs[j] for j in job_ids if rebuilt.jobs.get(j))
        )
        store.delete_jobs(conn, [j for j in job_ids if not rebuilt.jobs.get(j)])
        if ancestor is None:
            store.delete_cursor(conn, self.contract)
        else:
            store.set_cursor(conn, self.contract, *ancestor)
            if chain_time is not None:
                expired, reopened = store.sweep_expiry(conn, chain_time)
                job_ids |= {*expired, *reopened}
        notify_changes(conn, source="chain", jobs=sorted(job_ids), workers=sorted(workers))
        return {
            "events_removed": removed,
            "workers_rebuilt": len(workers),
            "jobs_rebuilt": len(job_ids),
            "rolled_back_until": rolled_back_until.isoformat() if rolled_back_until else None,
        }

"""The tick: read, fold and write batches from the cursor until caught up or out of time.

One tick (the chain sensor's, or `veriframe index --once`'s: the same code path):

1. make sure nothing is stored after the cursor and that the cursor's block is still on the
   chain (`reorgs`);
2. read the next batch of whole blocks up to `latest` (never `pre_confirmed`), and what its
   events leave out from the transactions that emitted them (`reading`, `calldata`);
3. decode, fold the events onto the current worker and job rows and render the COPY text
   (`folding`);
4. in one Postgres transaction: write the raw events, the rows and the blocks, and move the
   cursor (`writing`); meanwhile steps 2 and 3 already run for the next batch;
5. repeat until caught up or out of time budget; the next tick continues from the cursor.

A failed RPC or database call raises: the transaction is not committed, so the cursor does
not move and the next tick starts again from the last committed batch.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import sqlalchemy as sa

from veriframe_core.chain.events import EventCodec, event_codec
from veriframe_core.chain.ingest.batches import TickReport
from veriframe_core.chain.ingest.folding import BatchFolder
from veriframe_core.chain.ingest.reading import BatchReader, ChainMovedDuringFetch
from veriframe_core.chain.ingest.reorgs import ReorgGuard
from veriframe_core.chain.ingest.writing import write_batch
from veriframe_core.chain.rpc import StarknetRpc
from veriframe_core.chain.target import IngestTarget, resolve_target
from veriframe_core.settings import Settings

log = logging.getLogger("veriframe.ingest")


class ChainIngestor:
    """Ingests one contract's events into the warehouse at `engine`."""

    def __init__(
        self,
        engine: sa.Engine,
        target: IngestTarget,
        *,
        batch_events: int = 20_000,
        reorg_window: int = 1000,
        rpc_timeout_s: float = 30,
        working_set_jobs: int = 200_000,
    ):
        self.engine = engine
        self.target = target
        self.contract = target.contract_hex
        self.reorg_window = reorg_window
        self.rpc_timeout_s = rpc_timeout_s
        self.codec: EventCodec = event_codec("job_registry")
        self.reader = BatchReader(target.contract, self.codec, batch_events)
        self.folder = BatchFolder(engine, self.contract, self.codec, working_set_jobs)
        self.reorgs = ReorgGuard(engine, self.contract, target.start_block, reorg_window)

    @classmethod
    def from_settings(cls, engine: sa.Engine, settings: Settings) -> ChainIngestor:
        return cls(
            engine,
            resolve_target(settings),
            batch_events=settings.ingest_batch_events,
            reorg_window=settings.ingest_reorg_window,
            rpc_timeout_s=settings.starknet_rpc_timeout_s,
        )

    def head(self) -> int:
        """The node's latest block number: one RPC, what a sensor following the head polls
        between passes."""

        async def block_number() -> int:
            async with aiohttp.ClientSession() as session:
                return await StarknetRpc(
                    self.target.rpc_url, session, self.rpc_timeout_s
                ).block_number()

        return asyncio.run(block_number())

    def tick(self, budget_s: float = 20, *, until_caught_up: bool = False) -> TickReport:
        """Ingest until caught up with `latest` or `budget_s` is spent (whole batches only)."""
        return asyncio.run(self._tick(budget_s, until_caught_up))

    async def _tick(self, budget_s: float, until_caught_up: bool) -> TickReport:
        report = TickReport()
        deadline = time.monotonic() + budget_s
        async with aiohttp.ClientSession() as session:
            rpc = StarknetRpc(self.target.rpc_url, session, self.rpc_timeout_s)
            started = time.perf_counter()
            report.head = await rpc.block_number()
            report.seconds["rpc"] += time.perf_counter() - started
            cursor = await self._verified_cursor(rpc, report)
            writing: asyncio.Task[bool] | None = None
            launched = 0
            try:
                while True:
                    if launched and not until_caught_up and time.monotonic() > deadline:
                        break
                    next_block = cursor[0] + 1 if cursor is not None else self.target.start_block
                    if next_block > report.head:
                        report.caught_up = True
                        break
                    try:
                        batch = await self.reader.fetch(rpc, next_block, cursor, report)
                        writes = await self.folder.prepare(batch, cursor, report)
                    except ChainMovedDuringFetch as moved:
                        log.warning(
                            "Chain ingestion: %s; retrying from block %d", moved, next_block
                        )
                        await self._finish(writing)
                        writing = None
                        if time.monotonic() > deadline:
                            break
                        report.head = await rpc.block_number()
                        cursor = await self._verified_cursor(rpc, report)
                        continue
                    if not await self._finish(writing):
                        writing = None
                        cursor = await self._verified_cursor(rpc, report)  # another ingester
                        continue
                    writing = asyncio.create_task(
                        asyncio.to_thread(
                            write_batch,
                            self.engine,
                            self.contract,
                            self.reorg_window,
                            writes,
                            report,
                        )
                    )
                    launched += 1
                    cursor = writes.end
                await self._finish(writing)
            except BaseException:
                self.folder.forget()
                if writing is not None:  # let the transaction end before the error goes on
                    await asyncio.gather(writing, return_exceptions=True)
                raise
            await self._measure_lag(rpc, report)
        return report

    async def _verified_cursor(self, rpc: StarknetRpc, report: TickReport):
        cursor, rolled_back = await self.reorgs.verified_cursor(rpc, report)
        if rolled_back or self.folder.rows.cursor != cursor:
            self.folder.forget(cursor)
        return cursor

    async def _finish(self, writing: asyncio.Task[bool] | None) -> bool:
        """Wait for a batch's transaction; False if the cursor had moved (nothing written)."""
        if writing is None:
            return True
        if await writing:
            return True
        self.folder.forget()
        return False

    async def _measure_lag(self, rpc: StarknetRpc, report: TickReport) -> None:
        if report.last_block is None:
            report.head_lag_blocks = report.head - self.target.start_block + 1
            return
        report.head_lag_blocks = report.head - report.last_block
        if report.head_lag_blocks:
            headers = await rpc.headers([report.last_block, report.head])
            report.head_lag_seconds = float(
                headers[report.head].timestamp - headers[report.last_block].timestamp
            )

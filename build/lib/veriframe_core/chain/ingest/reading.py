"""Reading a batch: events of whole blocks from the cursor on, every block hash checked."""

from __future__ import annotations

import time

from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.events import EventCodec
from veriframe_core.chain.ingest.batches import Batch, Cursor, TickReport
from veriframe_core.chain.ingest.calldata import EventContext
from veriframe_core.chain.rpc import (
    BLOCK_NOT_FOUND,
    INVALID_CONTINUATION_TOKEN,
    ChainRpcError,
    RawEvent,
    StarknetRpc,
)


class ChainMovedDuringFetch(RuntimeError):
    """A reorg replaced blocks while a batch was being read; the batch is retried."""


class BatchReader:
    """Pages `starknet_getEvents` of one contract up to the head, a batch at a time."""

    def __init__(self, contract: int, codec: EventCodec, batch_events: int):
        self.contract = contract
        self.batch_events = batch_events
        self.context = EventContext(contract, codec)

    async def fetch(
        self, rpc: StarknetRpc, first: int, cursor: Cursor | None, report: TickReport
    ) -> Batch:
        """Read one batch; ChainMovedDuringFetch if a reorg touched what was being read."""
        started = time.perf_counter()
        try:
            return await self._read_batch(rpc, first, cursor, report)
        except ChainRpcError as err:
            if err.code in (BLOCK_NOT_FOUND, INVALID_CONTINUATION_TOKEN):
                raise ChainMovedDuringFetch(f"the node answered {err}") from None
            raise
        finally:
            report.seconds["rpc"] += time.perf_counter() - started

    async def _read_batch(
        self, rpc: StarknetRpc, first: int, cursor: Cursor | None, report: TickReport
    ) -> Batch:
        target = await rpc.header(report.head)
        events: list[RawEvent] = []
        end = report.head
        async for page in rpc.events(self.contract, first, report.head):
            events.extend(page)
            if (
                len(events) >= self.batch_events
                and events[0]["block_number"] != events[-1]["block_number"]
            ):
                # stop after the last block whose events are all here; ending on a block
                # with events lets the hash checks below vouch for the whole batch
                last = events[-1]["block_number"]
                events = [e for e in events if e["block_number"] < last]
                end = events[-1]["block_number"]
                break
        needed = {e["block_number"] for e in events} | {end}
        if cursor is not None:
            needed.add(cursor[0])  # links the batch to what is stored (or being stored)
        headers = await rpc.headers(sorted(needed))
        if cursor is not None and normalize_address(headers[cursor[0]].hash) != cursor[1]:
            raise ChainMovedDuringFetch(f"the cursor block {cursor[0]} was replaced")
        if end == report.head and headers[end].hash != target.hash:
            raise ChainMovedDuringFetch(f"block {end} changed while its events were read")
        seen: dict[tuple[int, str], bool] = {}
        for e in events:
            block = (e["block_number"], e["block_hash"])
            ok = seen.get(block)
            if ok is None:
                ok = seen[block] = headers[block[0]].hash == int(block[1], 16)
            if not ok:
                raise ChainMovedDuringFetch(f"block {block[0]} changed during the read")
        context = await self.context.read(rpc, events)
        return Batch(first, headers[end], events, headers, context)

"""Chain ingestion: JobRegistry events into the warehouse, transactional and reorg-aware.

One tick (the chain sensor's, or `veriframe index --once`'s: the same code path):

1. compare the cursor's block hash with the chain; on a mismatch find the common ancestor
   among the stored recent blocks, delete everything after it and rebuild the rows it
   touched from their remaining events;
2. page `starknet_getEvents` from the cursor up to `latest` (never `pre_confirmed`), cut at a
   block boundary after `batch_events` events, read the new jobs' asset CID and minimum
   reputation at the event's block (batched), and the submitted result CIDs from the
   submitting transactions;
3. in one Postgres transaction: write the raw events, fold them into workers, jobs and
   reputation history, record the blocks, and move the cursor;
4. repeat until caught up or out of time budget; the next tick continues from the cursor.

A failed RPC or database call raises: the transaction is not committed, so the cursor does
not move and the next tick starts again from the last committed batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from starknet_py.hash.selector import get_selector_from_name

from veriframe_dagster.chain import store
from veriframe_dagster.chain.addresses import normalize_address
from veriframe_dagster.chain.events import DecodedEvent, EventCodec, EventDecodeError, event_codec
from veriframe_dagster.chain.projection import StoredEvent, project, timestamp
from veriframe_dagster.chain.rpc import (
    BLOCK_NOT_FOUND,
    INVALID_CONTINUATION_TOKEN,
    BlockHeader,
    ChainRpcError,
    RawEvent,
    StarknetRpc,
)
from veriframe_dagster.settings import Settings

log = logging.getLogger("veriframe.ingest")

GET_ASSET_CID = get_selector_from_name("get_job_asset_cid")
GET_MIN_REPUTATION = get_selector_from_name("get_minimum_reputation_for_job")
SUBMIT_RESULT = get_selector_from_name("submit_result")
UNKNOWN_EVENT = "Unknown"  # stored name of an event the ABI cannot decode


def multicall(calldata: list[str]) -> list[tuple[int, int, list[int]]]:
    """The calls in a Cairo 1 account's `__execute__` calldata: `[n, (to, selector, len, *args)…]`.

    A plain loop (starknet-py's serializer costs ~4 ms per 1,000-call transaction, measured);
    anything that does not parse as that layout gives no calls, so the result CID of such a
    transaction stays unknown rather than wrong.
    """
    try:
        felts = [int(x, 16) for x in calldata]
        count, position, calls = felts[0], 1, []
        for _ in range(count):
            to, selector, length = felts[position : position + 3]
            args = felts[position + 3 : position + 3 + length]
            if len(args) != length:
                return []
            calls.append((to, selector, args))
            position += 3 + length
        return calls if position == len(felts) else []
    except (IndexError, ValueError):
        return []


class ChainMovedDuringFetch(RuntimeError):
    """A reorg replaced blocks while a batch was being read; the batch is retried."""


@dataclass(frozen=True)
class IngestTarget:
    """What to index and where from."""

    rpc_url: str
    contract: int
    start_block: int = 0

    @property
    def contract_hex(self) -> str:
        return normalize_address(self.contract)


def resolve_target(settings: Settings) -> IngestTarget:
    """The contract to index: from settings, or (unset) from devchain's chain file."""
    if settings.job_registry_address:
        return IngestTarget(
            settings.starknet_rpc_url,
            int(settings.job_registry_address, 16),
            settings.start_block,
        )
    chain_file: Path = settings.devchain_chain_file
    if not chain_file.exists():
        raise RuntimeError(
            f"JobRegistry address unknown: set VERIFRAME_JOB_REGISTRY_ADDRESS (and "
            f"VERIFRAME_STARKNET_RPC_URL) or start devchain (`veriframe devchain`), "
            f"which writes {chain_file}"
        )
    info = json.loads(chain_file.read_text())
    return IngestTarget(
        info["rpc_url"],
        int(info["job_registry_address"], 16),
        max(settings.start_block, info.get("start_block", 0)),
    )


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
    seconds: Counter = field(default_factory=Counter)  # rpc, decode, db


@dataclass
class _Batch:
    first: int
    end: BlockHeader
    events: list[RawEvent]
    headers: dict[int, BlockHeader]
    context: dict[int, dict[str, int]]  # by position in `events`


def _lock_key(contract: str) -> int:
    """A Postgres advisory lock key per contract: ingesters of one contract take turns."""
    return zlib.crc32(contract.encode()) - 2**31


class ChainIngestor:
    """Ingests one contract's events into the warehouse at `engine`."""

    def __init__(
        self,
        engine: sa.Engine,
        target: IngestTarget,
        *,
        batch_events: int = 5000,
        reorg_window: int = 1000,
        rpc_timeout_s: float = 30,
    ):
        self.engine = engine
        self.target = target
        self.contract = target.contract_hex
        self.batch_events = batch_events
        self.reorg_window = reorg_window
        self.rpc_timeout_s = rpc_timeout_s
        self.codec: EventCodec = event_codec("job_registry")

    @classmethod
    def from_settings(cls, engine: sa.Engine, settings: Settings) -> ChainIngestor:
        return cls(
            engine,
            resolve_target(settings),
            batch_events=settings.ingest_batch_events,
            reorg_window=settings.ingest_reorg_window,
            rpc_timeout_s=settings.starknet_rpc_timeout_s,
        )

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
            while True:
                if report.batches and not until_caught_up and time.monotonic() > deadline:
                    break
                cursor = await self._check_reorg(rpc, report)
                next_block = cursor[0] + 1 if cursor is not None else self.target.start_block
                if next_block > report.head:
                    report.caught_up = True
                    break
                try:
                    batch = await self._fetch(rpc, next_block, cursor, report)
                except ChainMovedDuringFetch as moved:
                    log.warning("Chain ingestion: %s; retrying from block %d", moved, next_block)
                    if time.monotonic() > deadline:
                        break
                    report.head = await rpc.block_number()
                    continue
                if self._apply(batch, cursor, report) and report.first_block is None:
                    report.first_block = next_block
            await self._measure_lag(rpc, report)
        return report

    # ------------------------------------------------------------------ reorgs
    async def _check_reorg(self, rpc: StarknetRpc, report: TickReport) -> tuple[int, str] | None:
        """The cursor (block, hash) after making sure it is still on the chain (rolling back
        to the common ancestor if not); None when nothing is ingested yet."""
        while True:
            with self.engine.connect() as conn:
                cursor = store.get_cursor(conn, self.contract)
            if cursor is None:
                return None
            if await self._hash_of(rpc, cursor[0]) == cursor[1]:
                report.last_block = cursor[0]
                return cursor
            if await self._handle_reorg(rpc, cursor, report):
                with self.engine.connect() as conn:
                    cursor = store.get_cursor(conn, self.contract)
                report.last_block = cursor[0] if cursor else None
                return cursor
            # another ingester moved the cursor meanwhile: look again

    async def _handle_reorg(
        self, rpc: StarknetRpc, cursor: tuple[int, str], report: TickReport
    ) -> bool:
        """Roll back to the common ancestor; False if the cursor moved under us."""
        number = cursor[0]
        with self.engine.connect() as conn:
            stored = store.recent_blocks(conn, number, self.reorg_window)
        numbers = [n for n, _ in stored if n <= report.head]
        chain_hashes = await self._hashes_of(rpc, numbers)
        ancestor = next(((n, h) for n, h in stored if chain_hashes.get(n) == h), None)
        fork = ancestor[0] if ancestor else self.target.start_block - 1
        with self.engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(self.contract))))
            if store.get_cursor(conn, self.contract) != cursor:
                return False
            rebuilt = self._rollback(conn, fork, ancestor)
        reorg = {"old_cursor": number, "fork_block": fork, **rebuilt}
        report.reorgs.append(reorg)
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

    def _rollback(
        self, conn: sa.Connection, fork: int, ancestor: tuple[int, str] | None
    ) -> dict[str, int]:
        """Delete everything after `fork` and rebuild what it touched from remaining events."""
        workers, job_ids, removed = store.delete_events_after(conn, self.contract, fork)
        remaining = store.events_touching(conn, self.contract, workers, job_ids)
        chain_time = store.block_time(conn, fork) if ancestor else None
        rebuilt = project(remaining, {}, {})
        store.upsert_workers(conn, [rebuilt.workers[w] for w in workers if w in rebuilt.workers])
        store.delete_unregistered_workers(conn, [w for w in workers if w not in rebuilt.workers])
        store.upsert_jobs(conn, [rebuilt.jobs[j] for j in job_ids if rebuilt.jobs.get(j)])
        store.delete_jobs(conn, [j for j in job_ids if not rebuilt.jobs.get(j)])
        if ancestor is None:
            conn.execute(
                sa.text("DELETE FROM chain_cursor WHERE contract_address = :c"),
                {"c": self.contract},
            )
        else:
            store.set_cursor(conn, self.contract, *ancestor)
            if chain_time is not None:
                store.sweep_expiry(conn, chain_time)
        return {
            "events_removed": removed,
            "workers_rebuilt": len(workers),
            "jobs_rebuilt": len(job_ids),
        }

    # ------------------------------------------------------------------ reading
    async def _fetch(
        self, rpc: StarknetRpc, first: int, cursor: tuple[int, str] | None, report: TickReport
    ) -> _Batch:
        """Read one batch; ChainMovedDuringFetch if a reorg touched what was being read."""
        try:
            return await self._read_batch(rpc, first, cursor, report)
        except ChainRpcError as err:
            if err.code in (BLOCK_NOT_FOUND, INVALID_CONTINUATION_TOKEN):
                raise ChainMovedDuringFetch(f"the node answered {err}") from None
            raise

    async def _read_batch(
        self, rpc: StarknetRpc, first: int, cursor: tuple[int, str] | None, report: TickReport
    ) -> _Batch:
        started = time.perf_counter()
        target = await rpc.header(report.head)
        events: list[RawEvent] = []
        end = report.head
        async for page in rpc.events(self.target.contract, first, report.head):
            events.extend(page)
            if (
                len(events) >= self.batch_events
                and events[0].block_number != events[-1].block_number
            ):
                # stop after the last block whose events are all here; ending on a block
                # with events lets the hash checks below vouch for the whole batch
                events = [e for e in events if e.block_number < events[-1].block_number]
                end = events[-1].block_number
                break
        needed = {e.block_number for e in events} | {end}
        if cursor is not None:
            needed.add(cursor[0])
        headers = await rpc.headers(sorted(needed))
        if cursor is not None and normalize_address(headers[cursor[0]].hash) != cursor[1]:
            raise ChainMovedDuringFetch(f"the cursor block {cursor[0]} was replaced")
        if end == report.head and headers[end].hash != target.hash:
            raise ChainMovedDuringFetch(f"block {end} changed while its events were read")
        for e in events:
            if headers[e.block_number].hash != e.block_hash:
                raise ChainMovedDuringFetch(f"block {e.block_number} changed during the read")
        context = await self._context(rpc, events)
        report.seconds["rpc"] += time.perf_counter() - started
        return _Batch(first, headers[end], events, headers, context)

    async def _context(self, rpc: StarknetRpc, events: list[RawEvent]) -> dict[int, dict]:
        """Chain reads the events need: new jobs' asset CID and minimum reputation (at the
        event's block) and submitted result CIDs (from the submitting transaction)."""
        created = self.codec.selector("JobCreated")
        submitted = self.codec.selector("ResultSubmitted")
        jobs = [(i, e) for i, e in enumerate(events) if e.keys and e.keys[0] == created]
        calls = []
        for _, e in jobs:
            job_id = e.keys[1]
            calls.append((self.target.contract, GET_ASSET_CID, [job_id], e.block_hash))
            calls.append((self.target.contract, GET_MIN_REPUTATION, [job_id], e.block_hash))
        subs = [(i, e) for i, e in enumerate(events) if e.keys and e.keys[0] == submitted]
        tx_hashes = list(dict.fromkeys(e.transaction_hash for _, e in subs))  # each tx once
        results, txs = await asyncio.gather(rpc.calls(calls), rpc.transactions(tx_hashes))
        context: dict[int, dict] = {}
        for n, (i, _) in enumerate(jobs):
            (part1, part2), (min_rep,) = results[2 * n], results[2 * n + 1]
            context[i] = {
                "asset_cid_part1": part1,
                "asset_cid_part2": part2,
                "min_reputation": min_rep,
            }
        results_by_job: dict[int, dict[str, int]] = {}
        for tx in txs:
            results_by_job.update(self._submitted_results(tx))
        for i, e in subs:
            context[i] = results_by_job.get(e.keys[1], {})
        return context

    def _submitted_results(self, tx: dict) -> dict[int, dict[str, int]]:
        """The result CIDs that `submit_result` calls to our contract in `tx` carried, by job."""
        found = {}
        for to, selector, args in multicall(tx.get("calldata", [])):
            if (to, selector) == (self.target.contract, SUBMIT_RESULT) and len(args) == 3:
                found[args[0]] = {"result_cid_part1": args[1], "result_cid_part2": args[2]}
        return found

    # ------------------------------------------------------------------ writing
    def _apply(self, batch: _Batch, cursor: tuple[int, str] | None, report: TickReport) -> bool:
        started = time.perf_counter()
        rows, stored = [], []
        for i, raw in enumerate(batch.events):
            try:
                decoded = self.codec.decode(raw.keys, raw.data)
                fields = self.codec.to_json(decoded)
            except EventDecodeError as err:
                # kept raw (never lost), but not applied: the ABI does not know it
                log.warning(
                    "Chain ingestion: event %s/%d in block %d not decoded: %s",
                    hex(raw.transaction_hash),
                    raw.event_index,
                    raw.block_number,
                    err,
                )
                decoded, fields = DecodedEvent(UNKNOWN_EVENT, {}), {}
            header = batch.headers[raw.block_number]
            event = StoredEvent(
                event_name=decoded.name,
                decoded=fields,
                context=batch.context.get(i, {}),
                block_number=raw.block_number,
                block_hash=normalize_address(raw.block_hash),
                block_timestamp=timestamp(header.timestamp),
                transaction_hash=normalize_address(raw.transaction_hash),
                transaction_index=raw.transaction_index,
                event_index=raw.event_index,
            )
            stored.append(event)
            rows.append(
                {
                    "contract_address": self.contract,
                    "event_name": event.event_name,
                    "block_number": event.block_number,
                    "block_hash": event.block_hash,
                    "block_timestamp": event.block_timestamp,
                    "transaction_hash": event.transaction_hash,
                    "transaction_index": event.transaction_index,
                    "event_index": event.event_index,
                    "job_id": event.job_id,
                    "worker_address": event.worker,
                    "keys": [hex(k) for k in raw.keys],
                    "data": [hex(d) for d in raw.data],
                    "decoded": fields,
                    "context": event.context,
                }
            )
        report.seconds["decode"] += time.perf_counter() - started
        started = time.perf_counter()
        end = batch.end
        with self.engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(self.contract))))
            if store.get_cursor(conn, self.contract) != cursor:
                return False
            new_keys = store.insert_events(conn, rows)
            fresh = [
                e for e in stored if (e.block_hash, e.transaction_index, e.event_index) in new_keys
            ]
            touched_workers = {e.worker for e in fresh if e.worker}
            touched_jobs = {e.job_id for e in fresh if e.job_id is not None}
            chain_time = timestamp(end.timestamp)
            result = project(
                fresh,
                store.load_workers(conn, touched_workers),
                store.load_jobs(conn, touched_jobs),
            )
            changed_workers = [result.workers[w] for w in touched_workers if w in result.workers]
            changed_jobs = [j for k, j in result.jobs.items() if k in touched_jobs and j]
            store.upsert_workers(conn, changed_workers)
            store.upsert_jobs(conn, changed_jobs)
            store.insert_history(conn, result.history)
            store.upsert_blocks(
                conn,
                [
                    (
                        h.number,
                        normalize_address(h.hash),
                        normalize_address(h.parent_hash),
                        timestamp(h.timestamp),
                    )
                    for h in batch.headers.values()
                ],
            )
            expired = store.sweep_expiry(conn, chain_time)
            store.set_cursor(conn, self.contract, end.number, normalize_address(end.hash))
            store.prune_blocks(conn, end.number - self.reorg_window)
        report.seconds["db"] += time.perf_counter() - started
        report.batches += 1
        report.events += len(fresh)
        report.rows.update(
            {
                "contract_events": len(fresh),
                "workers": len(changed_workers),
                "jobs": len(changed_jobs) + expired,
                "reputation_history": len(result.history),
            }
        )
        report.last_block = end.number
        return True

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

"""Chain ingestion: JobRegistry events into the warehouse, transactional and reorg-aware.

One tick (the chain sensor's, or `veriframe index --once`'s: the same code path):

1. make sure nothing is stored after the cursor (a reset cursor replays its range) and that
   the cursor's block is still on the chain; on a mismatch find the common ancestor among the
   stored recent blocks, delete everything after it and rebuild the rows it touched from
   their remaining events;
2. page `starknet_getEvents` from the cursor up to `latest` (never `pre_confirmed`), cut at a
   block boundary after `batch_events` events, check every block hash against the headers
   (and the cursor's block against the chain), and read what the events leave out: new jobs'
   asset CID and minimum reputation and submitted result CIDs, from the calls of the
   transactions that emitted them (one fetch per transaction; view calls at the event's
   block when a transaction does not show them plainly);
3. decode, fold the events onto the current worker and job rows and render the COPY text;
4. in one Postgres transaction: write the raw events, the rows and the blocks, and move the
   cursor; meanwhile step 2 and 3 already run for the next batch;
5. repeat until caught up or out of time budget; the next tick continues from the cursor.

A failed RPC or database call raises: the transaction is not committed, so the cursor does
not move and the next tick starts again from the last committed batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from starknet_py.hash.selector import get_selector_from_name

from veriframe_dagster.chain import store
from veriframe_dagster.chain.addresses import normalize_address
from veriframe_dagster.chain.events import EventCodec, EventDecodeError, event_codec
from veriframe_dagster.chain.projection import (
    DEFAULT_MIN_REPUTATION,
    JOB_EVENTS,
    WORKER_EVENTS,
    StoredEvent,
    project,
    timestamp,
)
from veriframe_dagster.chain.rpc import (
    BLOCK_NOT_FOUND,
    INVALID_CONTINUATION_TOKEN,
    BlockHeader,
    ChainRpcError,
    RawEvent,
    StarknetRpc,
)
from veriframe_dagster.settings import Settings
from veriframe_dagster.warehouse.notify import notify_changes

log = logging.getLogger("veriframe.ingest")

GET_ASSET_CID = get_selector_from_name("get_job_asset_cid")
GET_MIN_REPUTATION = get_selector_from_name("get_minimum_reputation_for_job")
CREATE_JOB = get_selector_from_name("create_job")
CREATE_JOB_WITH_REQUIREMENTS = get_selector_from_name("create_job_with_requirements")
SUBMIT_RESULT = get_selector_from_name("submit_result")
UNKNOWN_EVENT = "Unknown"  # stored name of an event the ABI cannot decode
NULL = store.COPY_NULL

Cursor = tuple[int, str]  # (block number, normalised block hash)


def multicall(calldata: list[str]) -> list[tuple[int, int, list[str]]]:
    """The calls in a Cairo 1 account's `__execute__` calldata: `[n, (to, selector, len, *args)…]`,
    arguments left as hex (most are never looked at).

    A plain loop (starknet-py's serializer costs ~4 ms per 1,000-call transaction, measured);
    anything that does not parse as that layout gives no calls, so what the ingestion wanted
    from it is read some other way or stays unknown, never wrong.
    """
    try:
        count, position, calls = int(calldata[0], 16), 1, []
        for _ in range(count):
            to, selector, length = (int(x, 16) for x in calldata[position : position + 3])
            args = calldata[position + 3 : position + 3 + length]
            if len(args) != length:
                return []
            calls.append((to, selector, args))
            position += 3 + length
        return calls if position == len(calldata) else []
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
    # rpc (reading), decode (decoding, folding, COPY text), db (writing); reading and
    # decoding the next batch overlap with writing the last, so they add up past wall time
    seconds: Counter = field(default_factory=Counter)


@dataclass
class _Batch:
    """Events of whole blocks, read and checked, with what the events themselves leave out."""

    first: int
    end: BlockHeader
    events: list[RawEvent]
    headers: dict[int, BlockHeader]
    context: dict[int, dict[str, int]]  # by position in `events`


@dataclass
class _Writes:
    """One batch made ready for Postgres: everything its transaction writes, as COPY lines
    (rendered before the previous batch's transaction ends, so the writer only waits on
    Postgres)."""

    cursor: Cursor | None  # the cursor the batch continues from
    end: Cursor
    chain_time: datetime
    first_block: int
    rows: Counter  # rows written per table
    events: str
    workers: str
    new_jobs: str  # created in this batch
    jobs: str  # created before
    history: str
    blocks: list[tuple[int, str, str, datetime]]
    job_ids: list[int]  # created or changed, announced on commit (warehouse.notify)
    worker_addresses: list[str]


@dataclass
class _WorkingSet:
    """The chain columns of the rows recent batches touched, as they are after `cursor`.

    The next batch is folded onto these without reading them back (the previous batch may
    still be in its transaction). Only ingesters write these columns, under the contract's
    advisory lock and together with the cursor: while the stored cursor is `cursor`, the
    stored rows are these. Rows not held here are read from the warehouse.
    """

    cursor: Cursor | None = None
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any] | None] = field(default_factory=dict)


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
        batch_events: int = 20_000,
        reorg_window: int = 1000,
        rpc_timeout_s: float = 30,
        working_set_jobs: int = 200_000,
    ):
        self.engine = engine
        self.target = target
        self.contract = target.contract_hex
        self.batch_events = batch_events
        self.reorg_window = reorg_window
        self.rpc_timeout_s = rpc_timeout_s
        self.working_set_jobs = working_set_jobs
        self.codec: EventCodec = event_codec("job_registry")
        self._selectors = {
            name: self.codec.selector(name) for name in ("JobCreated", "ResultSubmitted")
        }
        self._rows = _WorkingSet()

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
                        batch = await self._fetch(rpc, next_block, cursor, report)
                        writes = await self._prepare(batch, cursor, report)
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
                    writing = asyncio.create_task(asyncio.to_thread(self._write, writes, report))
                    launched += 1
                    cursor = writes.end
                await self._finish(writing)
            except BaseException:
                self._rows = _WorkingSet()
                if writing is not None:  # let the transaction end before the error goes on
                    await asyncio.gather(writing, return_exceptions=True)
                raise
            await self._measure_lag(rpc, report)
        return report

    async def _finish(self, writing: asyncio.Task[bool] | None) -> bool:
        """Wait for a batch's transaction; False if the cursor had moved (nothing written)."""
        if writing is None:
            return True
        if await writing:
            return True
        self._rows = _WorkingSet()
        return False

    # ------------------------------------------------------------------ reorgs
    async def _verified_cursor(self, rpc: StarknetRpc, report: TickReport) -> Cursor | None:
        """The cursor, after making sure nothing is stored past it and that its block is still
        on the chain (rolling back to the common ancestor if not); None when nothing is
        ingested yet."""
        self._replay_after_cursor(report)
        while True:
            with self.engine.connect() as conn:
                cursor = store.get_cursor(conn, self.contract)
            if cursor is not None and await self._hash_of(rpc, cursor[0]) != cursor[1]:
                if not await self._handle_reorg(rpc, cursor, report):
                    continue  # another ingester moved the cursor meanwhile: look again
                with self.engine.connect() as conn:
                    cursor = store.get_cursor(conn, self.contract)
            report.last_block = cursor[0] if cursor else None
            if self._rows.cursor != cursor:
                self._rows = _WorkingSet(cursor)
            return cursor

    def _replay_after_cursor(self, report: TickReport) -> None:
        """Events stored after the cursor (a cursor reset by hand, to re-run a range) are
        rolled back like a reorg, so the range is ingested again from the cursor."""
        with self.engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(self.contract))))
            cursor = store.get_cursor(conn, self.contract)
            last = store.last_event_block(conn, self.contract)
            if last is None or (cursor is not None and last <= cursor[0]):
                return
            fork = cursor[0] if cursor else self.target.start_block - 1
            rebuilt = self._rollback(conn, fork, cursor)
        self._rows = _WorkingSet()
        report.reorgs.append({"reason": "events after the cursor", "fork_block": fork, **rebuilt})
        log.warning(
            "Chain ingestion: events up to block %d were stored after the cursor (block %s); "
            "rolled them back to ingest the range again",
            last,
            fork,
        )

    async def _handle_reorg(self, rpc: StarknetRpc, cursor: Cursor, report: TickReport) -> bool:
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
        self._rows = _WorkingSet()
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

    def _rollback(self, conn: sa.Connection, fork: int, ancestor: Cursor | None) -> dict[str, int]:
        """Delete everything after `fork` and rebuild what it touched from remaining events."""
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
            conn.execute(
                sa.text("DELETE FROM chain_cursor WHERE contract_address = :c"),
                {"c": self.contract},
            )
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
        }

    # ------------------------------------------------------------------ reading
    async def _fetch(
        self, rpc: StarknetRpc, first: int, cursor: Cursor | None, report: TickReport
    ) -> _Batch:
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
    ) -> _Batch:
        target = await rpc.header(report.head)
        events: list[RawEvent] = []
        end = report.head
        async for page in rpc.events(self.target.contract, first, report.head):
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
        context = await self._context(rpc, events)
        return _Batch(first, headers[end], events, headers, context)

    async def _context(self, rpc: StarknetRpc, events: list[RawEvent]) -> dict[int, dict]:
        """What the events leave out, by event position: a new job's asset CID and minimum
        reputation, a submission's result CID.

        Read from the calls of the transactions that emitted them (each fetched once): the
        i-th `JobCreated` of a transaction is its i-th `create_job*` call to the contract,
        accepted only when the transaction's sender, reward and deadline agree with the
        event. A job whose transaction does not show that plainly (another contract called
        `create_job`, an account with another calldata layout) is read with the view calls
        `get_job_asset_cid` and `get_minimum_reputation_for_job` at the event's block.
        """
        created, submitted = self._selectors["JobCreated"], self._selectors["ResultSubmitted"]
        jobs_by_tx: dict[str, list[int]] = defaultdict(list)
        subs: list[int] = []
        for i, e in enumerate(events):
            selector = int(e["keys"][0], 16) if e["keys"] else None
            if selector == created:
                jobs_by_tx[e["transaction_hash"]].append(i)
            elif selector == submitted:
                subs.append(i)
        sub_txs = [events[i]["transaction_hash"] for i in subs]
        tx_hashes = list(dict.fromkeys([*jobs_by_tx, *sub_txs]))
        txs = dict(zip(tx_hashes, await rpc.transactions(tx_hashes), strict=True))
        calls = {h: multicall(tx.get("calldata", [])) for h, tx in txs.items()}
        context: dict[int, dict] = {}
        unresolved: list[int] = []
        for tx_hash, positions in jobs_by_tx.items():
            found = self._created_jobs(txs[tx_hash], calls[tx_hash], [events[i] for i in positions])
            if found is None:
                unresolved.extend(positions)
            else:
                context.update(zip(positions, found, strict=True))
        context.update(await self._created_jobs_by_view(rpc, events, unresolved))
        results: dict[int, dict[str, int]] = {}
        for tx_hash in dict.fromkeys(sub_txs):
            for to, selector, args in calls[tx_hash]:
                if (to, selector) == (self.target.contract, SUBMIT_RESULT) and len(args) == 3:
                    job_id, part1, part2 = (int(x, 16) for x in args)
                    results[job_id] = {"result_cid_part1": part1, "result_cid_part2": part2}
        for i in subs:
            context[i] = results.get(int(events[i]["keys"][1], 16), {})
        return context

    def _created_jobs(
        self, tx: dict, calls: list[tuple[int, int, list[int]]], events: list[RawEvent]
    ) -> list[dict[str, int]] | None:
        """The asset CID and minimum reputation of each `JobCreated` in `events` (one
        transaction's, in order) from its `create_job*` calls; None if they do not match."""
        creates = [
            (selector, args)
            for to, selector, args in calls
            if to == self.target.contract
            and (selector, len(args)) in ((CREATE_JOB, 5), (CREATE_JOB_WITH_REQUIREMENTS, 6))
        ]
        if len(creates) != len(events) or not tx.get("sender_address"):
            return None
        sender = int(tx["sender_address"], 16)
        found = []
        for (selector, args), event in zip(creates, events, strict=True):
            keys, data = event["keys"], event["data"]
            if len(keys) != 3 or int(keys[2], 16) != sender or len(data) != 3:
                return None
            values = [int(x, 16) for x in args]
            if values[2:5] != [int(x, 16) for x in data]:  # reward (u256) and deadline
                return None
            found.append(
                {
                    "asset_cid_part1": values[0],
                    "asset_cid_part2": values[1],
                    # the contract reads a stored 0 as the default (its view answers 400)
                    "min_reputation": (values[5] if selector == CREATE_JOB_WITH_REQUIREMENTS else 0)
                    or DEFAULT_MIN_REPUTATION,
                }
            )
        return found

    async def _created_jobs_by_view(
        self, rpc: StarknetRpc, events: list[RawEvent], positions: list[int]
    ) -> dict[int, dict[str, int]]:
        """New jobs' asset CID and minimum reputation from the contract's views at the
        event's block (batched)."""
        calls = []
        for i in positions:
            job_id, at = int(events[i]["keys"][1], 16), int(events[i]["block_hash"], 16)
            calls.append((self.target.contract, GET_ASSET_CID, [job_id], at))
            calls.append((self.target.contract, GET_MIN_REPUTATION, [job_id], at))
        results = await rpc.calls(calls) if calls else []
        return {
            i: {
                "asset_cid_part1": results[2 * n][0],
                "asset_cid_part2": results[2 * n][1],
                "min_reputation": results[2 * n + 1][0],
            }
            for n, i in enumerate(positions)
        }

    # ------------------------------------------------------------------ folding
    async def _prepare(self, batch: _Batch, cursor: Cursor | None, report: TickReport) -> _Writes:
        """Decode the batch, fold it onto the working set and render what its transaction
        writes. Rows the working set lacks are read from the warehouse first."""
        started = time.perf_counter()
        stored, events_text = self._decode(batch)
        jobs = {e.job_id for e in stored if e.job_id is not None and e.event_name in JOB_EVENTS}
        created = {e.job_id for e in stored if e.event_name == "JobCreated"}
        workers = {e.worker for e in stored if e.worker and e.event_name in WORKER_EVENTS}
        rows = self._rows
        missing_jobs = jobs - created - rows.jobs.keys()
        missing_workers = workers - rows.workers.keys()
        if missing_jobs or missing_workers:
            report.seconds["decode"] += time.perf_counter() - started
            loaded = await asyncio.to_thread(self._load_rows, missing_jobs, missing_workers)
            started = time.perf_counter()
            rows.jobs.update(dict.fromkeys(missing_jobs) | loaded[0])
            rows.workers.update(loaded[1])
        folded = project(stored, rows.workers, rows.jobs)
        end = batch.end
        rows.cursor = (end.number, normalize_address(end.hash))
        if len(rows.jobs) > self.working_set_jobs:  # keep the batch's own rows only
            rows.jobs = {j: rows.jobs[j] for j in jobs}
        changed_workers = [folded.workers[w] for w in workers if w in folded.workers]
        changed_jobs = [job for j in jobs - created if (job := folded.jobs.get(j))]
        writes = _Writes(
            cursor=cursor,
            end=rows.cursor,
            chain_time=timestamp(end.timestamp),
            first_block=batch.first,
            rows=Counter(
                contract_events=len(stored),
                workers=len(changed_workers),
                jobs=len(created) + len(changed_jobs),
                reputation_history=len(folded.history),
            ),
            events=events_text,
            workers=store.worker_lines(changed_workers),
            new_jobs=store.job_lines(folded.jobs[j] for j in created),
            jobs=store.job_lines(changed_jobs),
            history=store.history_lines(folded.history),
            blocks=[
                (
                    h.number,
                    normalize_address(h.hash),
                    normalize_address(h.parent_hash),
                    timestamp(h.timestamp),
                )
                for h in batch.headers.values()
            ],
            job_ids=[*created, *(job["job_id"] for job in changed_jobs)],
            worker_addresses=[worker["address"] for worker in changed_workers],
        )
        report.seconds["decode"] += time.perf_counter() - started
        return writes

    def _load_rows(
        self, job_ids: set[int], addresses: set[str]
    ) -> tuple[dict[int, dict], dict[str, dict]]:
        with self.engine.connect() as conn:
            return store.load_jobs(conn, job_ids), store.load_workers(conn, addresses)

    def _decode(self, batch: _Batch) -> tuple[list[StoredEvent], str]:
        """The batch's events in warehouse form, and their `contract_events` COPY lines."""
        blocks = {
            n: (normalize_address(h.hash), timestamp(h.timestamp)) for n, h in batch.headers.items()
        }
        block_times = {n: t.isoformat() for n, (_, t) in blocks.items()}
        tx_hashes: dict[str, str] = {}
        contract, codec, context = self.contract, self.codec, batch.context
        as_json = store.json_copy_text
        stored, lines = [], []
        for i, raw in enumerate(batch.events):
            keys, data = raw["keys"], raw["data"]
            try:
                decoded = codec.decode([int(k, 16) for k in keys], [int(d, 16) for d in data])
                name, fields = decoded.name, codec.to_json(decoded)
            except EventDecodeError as err:
                # kept raw (never lost), but not applied: the ABI does not know it
                log.warning(
                    "Chain ingestion: event %s/%d in block %d not decoded: %s",
                    raw["transaction_hash"],
                    raw["event_index"],
                    raw["block_number"],
                    err,
                )
                name, fields = UNKNOWN_EVENT, {}
            number = raw["block_number"]
            block_hash, block_time = blocks[number]
            tx = tx_hashes.get(raw["transaction_hash"])
            if tx is None:
                tx = tx_hashes[raw["transaction_hash"]] = normalize_address(raw["transaction_hash"])
            event = StoredEvent(
                name,
                fields,
                context.get(i, {}),
                number,
                block_hash,
                block_time,
                tx,
                raw["transaction_index"],
                raw["event_index"],
            )
            stored.append(event)
            job_id, worker = event.job_id, event.worker
            lines.append(
                f"{contract}\t{name}\t{number}\t{block_hash}\t{block_times[number]}\t{tx}\t"
                f"{event.transaction_index}\t{event.event_index}\t"
                f"{NULL if job_id is None else job_id}\t{worker or NULL}\t"
                f"{as_json(keys)}\t{as_json(data)}\t{as_json(fields)}\t{as_json(event.context)}\n"
            )
        return stored, "".join(lines)

    # ------------------------------------------------------------------ writing
    def _write(self, writes: _Writes, report: TickReport) -> bool:
        """The batch's transaction (in a worker thread); False if the cursor moved meanwhile."""
        started = time.perf_counter()
        with self.engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(self.contract))))
            if store.get_cursor(conn, self.contract) != writes.cursor:
                return False
            store.insert_events(conn, writes.events)
            store.upsert_workers(conn, writes.workers)
            store.insert_jobs(conn, writes.new_jobs)
            store.upsert_jobs(conn, writes.jobs)
            store.insert_history(conn, writes.history)
            store.upsert_blocks(conn, writes.blocks)
            expired, reopened = store.sweep_expiry(conn, writes.chain_time)
            store.set_cursor(conn, self.contract, *writes.end)
            store.prune_blocks(conn, writes.end[0] - self.reorg_window)
            notify_changes(
                conn,
                source="chain",
                jobs=[*writes.job_ids, *expired, *reopened],
                workers=writes.worker_addresses,
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

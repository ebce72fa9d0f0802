"""Folding a batch: decode its events, apply them to the rows they touch, render the COPY text
its transaction writes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import sqlalchemy as sa

from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.events import EventCodec, EventDecodeError
from veriframe_core.chain.ingest import store
from veriframe_core.chain.ingest.batches import Batch, Cursor, TickReport, WorkingSet, Writes
from veriframe_core.chain.ingest.projection import (
    JOB_EVENTS,
    WORKER_EVENTS,
    StoredEvent,
    project,
    timestamp,
)

log = logging.getLogger("veriframe.ingest")

UNKNOWN_EVENT = "Unknown"  # stored name of an event the ABI cannot decode


class BatchFolder:
    """Folds one contract's batches onto the working set of the rows recent batches touched."""

    def __init__(self, engine: sa.Engine, contract: str, codec: EventCodec, working_set_jobs: int):
        self.engine = engine
        self.contract = contract
        self.codec = codec
        self.working_set_jobs = working_set_jobs
        self.rows = WorkingSet()

    def forget(self, cursor: Cursor | None = None) -> None:
        """Drop the working set: the stored rows are read again from `cursor` on."""
        self.rows = WorkingSet(cursor)

    async def prepare(self, batch: Batch, cursor: Cursor | None, report: TickReport) -> Writes:
        """Decode the batch, fold it onto the working set and render what its transaction
        writes. Rows the working set lacks are read from the warehouse first."""
        started = time.perf_counter()
        stored, events_text = self.decode(batch)
        jobs = {e.job_id for e in stored if e.job_id is not None and e.event_name in JOB_EVENTS}
        created = {e.job_id for e in stored if e.event_name == "JobCreated"}
        workers = {e.worker for e in stored if e.worker and e.event_name in WORKER_EVENTS}
        rows = self.rows
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
        writes = Writes(
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

    def decode(self, batch: Batch) -> tuple[list[StoredEvent], str]:
        """The batch's events in warehouse form, and their `contract_events` COPY lines."""
        blocks = {
            n: (normalize_address(h.hash), timestamp(h.timestamp)) for n, h in batch.headers.items()
        }
        block_times = {n: t.isoformat() for n, (_, t) in blocks.items()}
        tx_hashes: dict[str, str] = {}
        contract, codec, context = self.contract, self.codec, batch.context
        as_json, null, line = store.json_copy_text, store.COPY_NULL, store.EventLine
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
                line(
                    contract_address=contract,
                    event_name=name,
                    block_number=str(number),
                    block_hash=block_hash,
                    block_timestamp=block_times[number],
                    transaction_hash=tx,
                    transaction_index=str(event.transaction_index),
                    event_index=str(event.event_index),
                    job_id=null if job_id is None else str(job_id),
                    worker_address=worker or null,
                    keys=as_json(keys),
                    data=as_json(data),
                    decoded=as_json(fields),
                    context=as_json(event.context),
                ).text()
            )
        return stored, "".join(lines)

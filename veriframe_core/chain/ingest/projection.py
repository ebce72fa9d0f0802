"""Fold JobRegistry events into worker and job rows: the contract's rules, replayed.

Pure functions over events in their warehouse form (`contract_events` rows: `decoded` with
addresses as normalised hex and numbers as ints). Forward ingestion folds a batch onto the
current rows; after a reorg the same functions rebuild the touched rows from their remaining
events, so both paths agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from veriframe_core.chain import rules
from veriframe_core.chain.cids import CidEncodingError, felts_to_cid

WORKER_EVENTS = (
    "WorkerRegistered",
    "WorkerVerified",
    "ReputationUpdated",
    "ReputationSlashed",
    "JobFinalized",
)
JOB_EVENTS = ("JobCreated", "ResultSubmitted", "JobFinalized", "ReputationUpdated")

WORKER_CHAIN_COLUMNS = (
    "registered",
    "info_cid",
    "registered_at",
    "verified",
    "verified_at",
    "verified_by",
    "reputation",
    "jobs_completed",
    "jobs_failed",
    "total_earnings",
    "updated_block",
    "updated_tx",
)
JOB_CHAIN_COLUMNS = (
    "creator_address",
    "asset_cid_part1",
    "asset_cid_part2",
    "asset_cid",
    "reward_amount",
    "deadline",
    "min_reputation",
    "status",
    "worker_address",
    "result_cid_part1",
    "result_cid_part2",
    "result_cid",
    "quality_score",
    "created_at",
    "submitted_at",
    "finalized_at",
    "created_block",
    "created_tx",
    "submitted_block",
    "submitted_tx",
    "finalized_block",
    "finalized_tx",
    "updated_block",
    "updated_tx",
)


class StoredEvent(NamedTuple):
    """One event as the warehouse keeps it (a `contract_events` row); a tuple because a
    backfill makes hundreds of thousands of them."""

    event_name: str
    decoded: dict[str, Any]
    context: dict[str, Any]
    block_number: int
    block_hash: str
    block_timestamp: datetime
    transaction_hash: str
    transaction_index: int
    event_index: int

    @property
    def job_id(self) -> int | None:
        return self.decoded.get("job_id")

    @property
    def worker(self) -> str | None:
        return self.decoded.get("worker")


def timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def cid_or_none(part1: int | None, part2: int | None) -> str | None:
    """The CID text, or None when the parts are missing or not printable ASCII."""
    if part1 is None:
        return None
    try:
        return felts_to_cid(part1, part2 or 0)
    except CidEncodingError:
        return None


def empty_worker(address: str) -> dict[str, Any]:
    return {
        "address": address,
        "registered": False,
        "info_cid": None,
        "registered_at": None,
        "verified": False,
        "verified_at": None,
        "verified_by": None,
        "reputation": 0,
        "jobs_completed": 0,
        "jobs_failed": 0,
        "total_earnings": 0,
        "updated_block": None,
        "updated_tx": None,
    }


def fold_worker(
    worker: dict[str, Any], event: StoredEvent, job_creator: str | None = None
) -> dict[str, Any] | None:
    """Apply one event to a worker row (in place); returns the reputation history row, if any."""
    d = event.decoded
    old = worker["reputation"]
    history: dict[str, Any] | None = None
    name = event.event_name
    if name == "WorkerRegistered":
        worker.update(
            registered=True,
            info_cid=d["info_cid"],
            registered_at=timestamp(d["registration_time"]),
            verified=False,
            reputation=rules.START_REPUTATION,
            jobs_completed=0,
            jobs_failed=0,
        )
    elif name == "WorkerVerified":
        new = rules.reputation_after_verification(old, d["verified"])
        if d["verified"]:
            worker.update(verified=True, verified_at=event.block_timestamp)
        else:
            worker.update(verified=False)
        worker.update(reputation=new, verified_by=d["verifier"])
        history = _history(event, worker, old, new, "verified" if d["verified"] else "unverified")
        history["changed_by"] = d["verifier"]
    elif name == "ReputationUpdated":
        score = d["quality_score"]
        counter = "jobs_completed" if rules.counts_as_completed(score) else "jobs_failed"
        worker[counter] += 1
        worker["reputation"] = d["new_reputation"]
        history = _history(event, worker, d["old_reputation"], d["new_reputation"], "rating")
        history.update(job_id=d["job_id"], quality_score=score, changed_by=job_creator)
    elif name == "ReputationSlashed":
        worker["jobs_failed"] += 1
        worker["reputation"] = d["new_reputation"]
        history = _history(event, worker, d["old_reputation"], d["new_reputation"], "slash")
    elif name == "JobFinalized":
        worker["total_earnings"] += d["reward_amount"]
    else:
        return None
    worker.update(updated_block=event.block_number, updated_tx=event.transaction_hash)
    return history


def _history(
    event: StoredEvent, worker: dict[str, Any], old: int, new: int, reason: str
) -> dict[str, Any]:
    return {
        "block_hash": event.block_hash,
        "transaction_index": event.transaction_index,
        "event_index": event.event_index,
        "worker_address": worker["address"],
        "job_id": None,
        "old_reputation": old,
        "new_reputation": new,
        "change_amount": new - old,
        "reason": reason,
        "quality_score": None,
        "changed_by": None,
        "block_number": event.block_number,
        "transaction_hash": event.transaction_hash,
        "changed_at": event.block_timestamp,
    }


def fold_job(job: dict[str, Any] | None, event: StoredEvent) -> dict[str, Any] | None:
    """Apply one event to a job row; returns the new row (None: the job does not exist)."""
    d = event.decoded
    name = event.event_name
    if name == "JobCreated":
        ctx = event.context
        job = {
            "job_id": d["job_id"],
            "creator_address": d["creator"],
            "asset_cid_part1": ctx["asset_cid_part1"],
            "asset_cid_part2": ctx["asset_cid_part2"],
            "asset_cid": cid_or_none(ctx["asset_cid_part1"], ctx["asset_cid_part2"]),
            "reward_amount": d["reward_amount"],
            "deadline": timestamp(d["deadline"]),
            "min_reputation": ctx["min_reputation"],
            "status": "open",
            "worker_address": None,
            "result_cid_part1": None,
            "result_cid_part2": None,
            "result_cid": None,
            "quality_score": None,
            "created_at": event.block_timestamp,
            "submitted_at": None,
            "finalized_at": None,
            "created_block": event.block_number,
            "created_tx": event.transaction_hash,
            "submitted_block": None,
            "submitted_tx": None,
            "finalized_block": None,
            "finalized_tx": None,
        }
    elif job is None:
        return None  # an event about a job created before the start block
    elif name == "ResultSubmitted":
        part1 = event.context.get("result_cid_part1")
        part2 = event.context.get("result_cid_part2")
        job.update(
            status="submitted",
            worker_address=d["worker"],
            result_cid_part1=part1,
            result_cid_part2=part2,
            result_cid=cid_or_none(part1, part2),
            submitted_at=event.block_timestamp,
            submitted_block=event.block_number,
            submitted_tx=event.transaction_hash,
        )
    elif name == "JobFinalized":
        job.update(
            status="finalized",
            finalized_at=event.block_timestamp,
            finalized_block=event.block_number,
            finalized_tx=event.transaction_hash,
        )
    elif name == "ReputationUpdated":
        job["quality_score"] = d["quality_score"]
    else:
        return job
    job.update(updated_block=event.block_number, updated_tx=event.transaction_hash)
    return job


@dataclass
class Projection:
    """The rows a run of events produces: workers, jobs, reputation history."""

    workers: dict[str, dict[str, Any]]
    jobs: dict[int, dict[str, Any] | None]
    history: list[dict[str, Any]]


def project(
    events: Iterable[StoredEvent],
    workers: dict[str, dict[str, Any]],
    jobs: dict[int, dict[str, Any] | None],
) -> Projection:
    """Fold `events` (in chain order) onto the given current rows.

    `workers` and `jobs` must hold every row the events touch (missing rows start empty).
    Expiry is time, not an event: `store.sweep_expiry` applies it to every job in the same
    transaction.
    """
    history: list[dict[str, Any]] = []
    for event in events:
        job_id = event.job_id
        if job_id is not None and event.event_name in JOB_EVENTS:
            jobs[job_id] = fold_job(jobs.get(job_id), event)
        address = event.worker
        if address is not None and event.event_name in WORKER_EVENTS:
            worker = workers.setdefault(address, empty_worker(address))
            creator = (jobs.get(job_id) or {}).get("creator_address") if job_id else None
            row = fold_worker(worker, event, creator)
            if row is not None:
                history.append(row)
    return Projection(workers, jobs, history)

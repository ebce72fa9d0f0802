"""Reading the chain for the checks: the head, block headers, and contract views at a block.

The checks compare the warehouse with the chain *at the warehouse's cursor block* (views
by block hash), so a check never fails just because the chain moved on since the last
tick. Outputs are decoded simply: a bool is a felt 0/1, u16/u32 and addresses are ints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from starknet_py.hash.selector import get_selector_from_name

from veriframe_core.chain.rpc import BlockHeader, StarknetRpc

T = TypeVar("T")


@dataclass(frozen=True)
class WorkerStatus:
    """`get_worker_status(worker)`: (verified, reputation, jobs_completed, jobs_failed)."""

    verified: bool
    reputation: int
    jobs_completed: int
    jobs_failed: int

    @property
    def registered(self) -> bool:
        """A registered worker has a reputation above 0."""
        return self.reputation > 0


@dataclass(frozen=True)
class JobState:
    """`get_job_worker(job_id)` (0 = none) and `is_job_completed(job_id)`."""

    worker: int
    completed: bool


SELECTORS = {
    name: get_selector_from_name(name)
    for name in ("get_worker_status", "get_job_worker", "is_job_completed", "get_job_counter")
}


class ChainReader:
    """Synchronous reads for the checks over one node and one JobRegistry contract."""

    def __init__(self, rpc_url: str, contract: int, timeout_s: float = 30):
        self.rpc_url = rpc_url
        self.contract = contract
        self.timeout_s = timeout_s

    def _run(self, work: Callable[[StarknetRpc], Awaitable[T]]) -> T:
        async def go() -> T:
            async with aiohttp.ClientSession() as session:
                return await work(StarknetRpc(self.rpc_url, session, self.timeout_s))

        return asyncio.run(go())

    def head(self) -> int:
        return self._run(lambda rpc: rpc.block_number())

    def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        return self._run(lambda rpc: rpc.headers(sorted(set(numbers))))

    def _views(self, calls: list[tuple[str, list[int]]], block_hash: str) -> list[list[int]]:
        at = int(block_hash, 16)
        batch = [(self.contract, SELECTORS[fn], args, at) for fn, args in calls]
        return self._run(lambda rpc: rpc.calls(batch))

    def worker_statuses(self, workers: Sequence[str], block_hash: str) -> list[WorkerStatus]:
        """`get_worker_status` of each worker at the block."""
        results = self._views([("get_worker_status", [int(w, 16)]) for w in workers], block_hash)
        return [WorkerStatus(bool(v), r, c, f) for v, r, c, f in results]

    def job_states(self, job_ids: Sequence[int], block_hash: str) -> list[JobState]:
        """`get_job_worker` and `is_job_completed` of each job at the block."""
        calls = [
            (fn, [job_id]) for job_id in job_ids for fn in ("get_job_worker", "is_job_completed")
        ]
        results = self._views(calls, block_hash)
        return [
            JobState(worker=results[2 * i][0], completed=bool(results[2 * i + 1][0]))
            for i in range(len(job_ids))
        ]

    def job_counter(self, block_hash: str) -> int:
        """`get_job_counter` at the block: the highest job id created so far."""
        return self._views([("get_job_counter", [])], block_hash)[0][0]

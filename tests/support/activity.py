"""JobRegistry activity driven through starknet-py: the history every chain test ingests."""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.chain import Driver
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.chain.events import event_codec

CIDS = [
    "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
    "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
]
REWARD = 3 * 10**18
"""The reward of `create_job`'s single jobs."""


class Activity:
    """Creators, workers, jobs, results, payouts and ratings on one devchain.

    `creators` and `workers` are slices of the chain's accounts (account 0 is the owner).
    """

    def __init__(
        self, driver: Driver, *, creators: slice = slice(1, 4), workers: slice = slice(4, 10)
    ):
        self.d = driver
        self.creators = driver.accounts[creators]
        self.workers = driver.accounts[workers]
        self.jobs_made = 0
        self.submitted: list[tuple[int, Any, Any]] = []  # (job, worker, creator) to settle

    def setup_workers(self) -> None:
        """Every worker registered, all but the last verified; creators approve the registry."""
        d = self.d
        for i, worker in enumerate(self.workers):
            d.send(worker, d.reg("register_worker", 0x1000 + i))
        d.send(d.owner, *(d.reg("verify_worker", w.address, True) for w in self.workers[:-1]))
        for creator in self.creators:
            d.send(creator, d.call_of(d.token, "approve", d.registry.address, 10**30))

    def create_jobs(self, creator: Any, count: int, ttl: int = 60) -> list[int]:
        """`count` jobs in one transaction: CIDs alternate, every third has a minimum of 600."""
        d = self.d
        deadline = d.now() + ttl
        calls = []
        for i in range(count):
            cid = cid_to_felts(CIDS[(self.jobs_made + i) % 2])
            if i % 3 == 2:
                calls.append(d.reg("create_job_with_requirements", *cid, 10**18 + i, deadline, 600))
            else:
                calls.append(d.reg("create_job", *cid, 2**70 + i, deadline))
        receipt = d.send(creator, *calls)
        self.jobs_made += count
        created = event_codec("job_registry").selector("JobCreated")
        return [e.keys[1] for e in receipt.events if e.keys[0] == created]

    def create_job(self, creator: Any = None, ttl: int = 3600) -> int:
        """One plain job of `REWARD` (by the first creator unless told)."""
        d = self.d
        deadline = d.now() + ttl
        call = d.reg("create_job", *cid_to_felts(CIDS[0]), REWARD, deadline)
        d.send(creator or self.creators[0], call)
        self.jobs_made += 1
        return d.view(d.registry, "get_job_counter")

    def submit(self, worker: Any, job: int, creator: Any = None) -> None:
        """`worker` submits a result for `job`; with its `creator`, `settle` pays and rates it."""
        self.d.send(worker, self.d.reg("submit_result", job, *cid_to_felts(CIDS[job % 2])))
        if creator is not None:
            self.submitted.append((job, worker, creator))

    def settle(self, scores: list[int]) -> None:
        """Pass the deadlines, finalize every submitted job and rate it (cycling `scores`)."""
        d = self.d
        d.rpc("devchain_increaseTime", {"seconds": 120})
        for (job, worker, creator), score in zip(self.submitted, itertools.cycle(scores)):
            d.send(
                creator,
                d.reg("finalize_job", job),
                d.reg("update_worker_reputation", worker.address, job, score),
            )
        self.submitted.clear()

    def finish_and_rate(self, worker: Any, score: int) -> int:
        """A job done by `worker`, paid after its deadline and rated `score`."""
        d, creator = self.d, self.creators[-1]
        job_id = self.create_job(creator, ttl=30)
        self.submit(worker, job_id)
        d.rpc("devchain_increaseTime", {"seconds": 31})
        d.send(
            creator,
            d.reg("finalize_job", job_id),
            d.reg("update_worker_reputation", worker.address, job_id, score),
        )
        return job_id

    def full_round(self) -> None:
        """Jobs from every creator, results from workers, settlement with every rating band,
        a slash and an unverification."""
        d = self.d
        for n, creator in enumerate(self.creators):
            jobs = self.create_jobs(creator, 4)
            for k, job in enumerate(jobs[:3]):
                rotation = self.workers[n + k :] + self.workers[: n + k]
                eligible = [
                    w for w in rotation if d.view(d.registry, "is_worker_eligible", w.address, job)
                ]
                if eligible:
                    self.submit(eligible[0], job, creator)
        self.settle([95, 80, 65, 50, 10])
        d.send(
            d.owner,
            d.reg("slash_worker_reputation", self.workers[0].address, 25),
            d.reg("verify_worker", self.workers[1].address, False),
        )

    def head(self) -> int:
        return self.d.head()

"""A JobRegistry history over ten UTC days, driven through devchain with the clock moved, and
the ledger of what it did (what the tests compute the expected tables from).

Days D0 (today; tomorrow when the chain starts after 22:00) … D9; activity on D0, D1, D2, D5
and D9, nothing in between (those days carry the state forward). Every rating band (≥90,
75–89, 60–74, 40–59 = no event, <40), slashes, a verification withdrawn, a job that expires,
a worker registered on D1, a job left submitted. Render attempts (completed, failed, expired
— one lapsing 2 s before midnight and swept after it —, a voluntary release; devices, frame
sizes) are recorded as the API records them, stamped on the chain's days; so are verdicts (a
forged delivery rejected and an honest one verified on D2; a result of D5 that reached the
chain without a delivery, rejected on D9) and sanctions (D9: one failed, two sent).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from starknet_py.net.account.account import Account

from tests.support.chain import Driver
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.warehouse.tables import RELEASED_PREFIX

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
ONE = 10**18
DAY_OFFSETS = (0, 1, 2, 5, 9)
DAYS = 10  # D0..D9
LEASE_S = 600
LATEST_START_HOUR = 22  # D0's activity takes a chain hour; later, D0 is the next day


@dataclass
class Job:
    job_id: int
    creator: str
    reward: int
    created_at: dt.datetime
    created_tx: str
    deadline: dt.datetime
    worker: str | None = None
    submitted_at: dt.datetime | None = None
    finalized_at: dt.datetime | None = None


@dataclass
class Change:
    """A reputation change the history made: its day, worker, reason and block."""

    day: dt.date
    worker: str
    reason: str
    block: int


@dataclass
class OnChainVerdict:
    """A result that reached the chain without a delivery, verified and rejected."""

    job_id: int
    worker: str
    opened_at: dt.datetime
    decided_at: dt.datetime


@dataclass
class Sanction:
    """An action the operator's account took against a cheat, and its outcome."""

    job_id: int
    worker: str
    action: str
    outcome: str
    at: dt.datetime


@dataclass
class Ledger:
    """What the history did, by chain time."""

    days: list[dt.date] = field(default_factory=list)
    day_end_block: dict[dt.date, int] = field(default_factory=dict)
    registered: dict[str, dt.datetime] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    rejected_on_chain: list[OnChainVerdict] = field(default_factory=list)
    sanctions: list[Sanction] = field(default_factory=list)
    probe_job: int = 0  # a job of the default minimum reputation: eligibility is asked on it
    rating_to_drop: str = ""  # transaction hash of the last rating (the reorg test drops it)
    rated_job: int = 0  # the job that rating paid and rated


class History:
    """Runs the history on `driver` and keeps the ledger."""

    def __init__(self, driver: Driver):
        self.d = driver
        self.owner = driver.accounts[0]
        self.creators = driver.accounts[1:3]
        self.workers = driver.accounts[3:9]
        self.ledger = Ledger()
        self.start = dt.datetime.fromtimestamp(driver.now(), dt.UTC)
        if self.start.hour >= LATEST_START_HOUR:  # D0 would end before its activity does
            self.start = dt.datetime.combine(
                self.start.date() + dt.timedelta(days=1), dt.time(), dt.UTC
            )

    # ------------------------------------------------------------ chain helpers
    def address(self, account: Account) -> str:
        return normalize_address(account.address)

    def block_time(self, number: int) -> dt.datetime:
        block = self.d.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": number}})
        return dt.datetime.fromtimestamp(block["timestamp"], dt.UTC)

    def send(self, account: Account, *calls: Any) -> Any:
        """Send without fee estimation (a round trip less per transaction); must succeed."""
        receipt = self.d.send_unestimated(account, *calls)
        assert receipt.execution_status.name == "SUCCEEDED", receipt.revert_reason
        return receipt

    def set_day(self, offset: int, hour: int) -> None:
        day = self.start.date() + dt.timedelta(days=offset)
        moment = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)
        self.d.rpc("devchain_setTime", {"timestamp": int(moment.timestamp())})

    def wait(self, seconds: int) -> None:
        self.d.rpc("devchain_increaseTime", {"seconds": seconds})

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.d.now(), dt.UTC)

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.d.now(), dt.UTC).date()

    # ------------------------------------------------------------ actions
    def create(self, creator: Account, reward: int, ttl_s: int) -> int:
        deadline = self.d.now() + ttl_s
        call = self.d.reg("create_job", *cid_to_felts(CID), reward, deadline)
        receipt = self.send(creator, call)
        job_id = self.d.view(self.d.registry, "get_job_counter")
        self.ledger.jobs[job_id] = Job(
            job_id,
            self.address(creator),
            reward,
            self.block_time(receipt.block_number),
            normalize_address(receipt.transaction_hash),
            dt.datetime.fromtimestamp(deadline, dt.UTC),
        )
        return job_id

    def submit(self, worker: Account, job_id: int) -> None:
        receipt = self.send(worker, self.d.reg("submit_result", job_id, *cid_to_felts(CID)))
        job = self.ledger.jobs[job_id]
        job.worker, job.submitted_at = self.address(worker), self.block_time(receipt.block_number)

    def finalize_and_rate(self, job_id: int, score: int) -> str:
        job = self.ledger.jobs[job_id]
        creator = next(c for c in self.creators if self.address(c) == job.creator)
        receipt = self.send(
            creator,
            self.d.reg("finalize_job", job_id),
            self.d.reg("update_worker_reputation", int(job.worker, 16), job_id, score),
        )
        job.finalized_at = self.block_time(receipt.block_number)
        if not 40 <= score < 60:
            self.changed(job.worker, "rating", receipt.block_number)
        return normalize_address(receipt.transaction_hash)

    def changed(self, worker: str, reason: str, block: int) -> None:
        day = self.block_time(block).date()
        self.ledger.changes.append(Change(day, worker, reason, block))

    def register(self, *workers: Account) -> None:
        for i, worker in enumerate(workers):
            receipt = self.send(worker, self.d.reg("register_worker", 0x1000 + i))
            self.ledger.registered[self.address(worker)] = self.block_time(receipt.block_number)

    def verify(self, verified: bool, *workers: Account) -> None:
        calls = [self.d.reg("verify_worker", w.address, verified) for w in workers]
        receipt = self.send(self.owner, *calls)
        for worker in workers:
            reason = "verified" if verified else "unverified"
            self.changed(self.address(worker), reason, receipt.block_number)

    def slash(self, worker: Account, amount: int) -> None:
        receipt = self.send(
            self.owner, self.d.reg("slash_worker_reputation", worker.address, amount)
        )
        self.changed(self.address(worker), "slash", receipt.block_number)

    def attempt(
        self,
        worker: Account,
        job_id: int,
        state: str,
        claim_after_s: float,
        took_s: float,
        result: dict[str, Any] | None = None,
        failure_reason: str | None = None,
        swept_after_s: float = 0,
        verdict_after_s: float = 0,
    ) -> None:
        """A render attempt as the API records it, at chain times (claimed `claim_after_s`
        after the job's creation, ended `took_s` later; an expired lease swept
        `swept_after_s` after it lapsed; a verified or rejected delivery decided
        `verdict_after_s` after it ended)."""
        job = self.ledger.jobs[job_id]
        claimed = job.created_at + dt.timedelta(seconds=claim_after_s)
        lapsed = claimed + dt.timedelta(seconds=took_s)
        ended = lapsed + dt.timedelta(seconds=swept_after_s)
        previous = sum(1 for a in self.ledger.attempts if a["job_id"] == job_id)
        self.ledger.attempts.append(
            {
                "job_id": job_id,
                "created_tx": job.created_tx,
                "attempt": previous + 1,
                "worker_address": self.address(worker),
                "state": state,
                "claimed_at": claimed,
                "lease_expires_at": lapsed
                if state == "expired"
                else claimed + dt.timedelta(seconds=600),
                "ended_at": ended,
                "decided_at": ended + dt.timedelta(seconds=verdict_after_s),
                "result": result,
                "failure_reason": failure_reason,
            }
        )

    def since_created(self, job_id: int) -> float:
        """Seconds from the job's creation to the chain's now."""
        return self.d.now() - self.ledger.jobs[job_id].created_at.timestamp()

    def end_day(self) -> None:
        day = self.today()
        self.ledger.days.append(day)
        self.ledger.day_end_block[day] = self.d.head()

    # ------------------------------------------------------------ the history
    def run(self) -> Ledger:
        d, (c1, c2), w = self.d, self.creators, self.workers
        if self.start > self.now():
            self.d.rpc("devchain_setTime", {"timestamp": int(self.start.timestamp())})
        for creator in self.creators:
            self.send(creator, d.call_of(d.token, "approve", d.registry.address, 10**30))
        self.ledger.probe_job = self.create(c1, ONE, 30 * 86400)
        # D0: five workers, verified; a job each with every rating band; a job that expires
        self.register(*w[:5])
        self.verify(True, *w[:5])
        rewards = [2**70 + 1, 2**64 + 3, 3 * ONE, 2**64 - 1, 7 * ONE]
        jobs = [self.create(c1, reward, 3600) for reward in rewards]
        expiring = self.create(c2, 5 * ONE, 3600)
        for worker, job in zip(w[:5], jobs, strict=True):
            self.submit(worker, job)
        devices = [("OPTIX", 1920, 1080, 12.5), ("CUDA", 3840, 2160, 41.0), ("CPU", 640, 480, 95.0)]
        devices += [("HIP", 1280, 720, 30.0), ("CPU", 320, 240, 8.0)]
        for k, (worker, job) in enumerate(zip(w[:5], jobs, strict=True)):
            device, width, height, seconds = devices[k]
            result = {"device": device, "width": width, "height": height, "render_time_s": seconds}
            self.attempt(worker, job, "completed", 20 + 10 * k, seconds, result)
        self.attempt(w[3], expiring, "failed", 90, 15)
        self.attempt(w[3], expiring, "expired", 400, 600)
        self.wait(3700)
        for job, score in zip(jobs, [95, 80, 65, 50, 10], strict=True):
            self.finalize_and_rate(job, score)
        self.end_day()
        # D1: a worker joins; a slash below the default minimum; a failing and a top rating
        self.set_day(1, 6)
        self.register(w[5])
        self.verify(True, w[5])
        self.slash(w[4], 300)
        probe = self.ledger.probe_job
        j8, j9 = self.create(c2, 11 * ONE, 1800), self.create(c2, 2**79 + 7, 1800)
        self.attempt(w[0], j8, "expired", 5, 600)
        self.attempt(w[0], j8, "completed", 700, 20.0, {"device": "CUDA", "render_time_s": 20.0})
        self.attempt(w[5], j9, "completed", 12, 60.0, {"device": "METAL", "render_time_s": 60.0})
        for _ in range(3):
            self.attempt(w[1], probe, "failed", self.since_created(probe) + 60, 30)
        self.submit(w[0], j8)
        self.submit(w[5], j9)
        self.wait(1900)
        self.finalize_and_rate(j8, 30)
        self.finalize_and_rate(j9, 92)
        # a lease lapsing 2 s before midnight, swept after it: an expiry of D1, not D2
        midnight = dt.datetime.combine(self.today() + dt.timedelta(days=1), dt.time(), dt.UTC)
        claimed = midnight - dt.timedelta(seconds=2 + LEASE_S)
        after_s = (claimed - self.ledger.jobs[probe].created_at).total_seconds()
        self.attempt(w[4], probe, "expired", after_s, LEASE_S, swept_after_s=7)
        self.end_day()
        # D2: a verification withdrawn; a 75-89 rating
        self.set_day(2, 12)
        self.verify(False, w[1])
        j10 = self.create(c1, 4 * ONE, 1800)
        # a forged delivery, rejected by verification, then the honest one, verified
        forged = {"device": "CPU", "render_time_s": 5.0}
        self.attempt(w[5], j10, "rejected", 20, 5.0, forged, verdict_after_s=12)
        honest = {"device": "CPU", "render_time_s": 80.0}
        self.attempt(w[2], j10, "verified", 45, 80.0, honest, verdict_after_s=9)
        # a claim given back (the agent stopped): no lease expiry, no failure
        since = self.since_created(probe)
        self.attempt(w[4], probe, "expired", since, 30, failure_reason=f"{RELEASED_PREFIX}SIGTERM")
        self.submit(w[2], j10)
        self.wait(1900)
        self.finalize_and_rate(j10, 78)
        self.end_day()
        # D5: a slash, a failing rating
        self.set_day(5, 9)
        self.slash(w[0], 25)
        j11 = self.create(c1, 6 * ONE, 1800)
        self.attempt(w[3], j11, "completed", 300, 25.0, {"device": "HIP", "render_time_s": 25.0})
        self.submit(w[3], j11)
        self.wait(1900)
        self.finalize_and_rate(j11, 20)
        self.end_day()
        # D9: a top rating (the reorg test drops it), a job left submitted
        self.set_day(9, 10)
        j12 = self.create(c2, 9 * ONE, 1800)
        self.attempt(w[2], j12, "completed", 33, 70.0, {"device": "CPU", "render_time_s": 70.0})
        self.submit(w[2], j12)
        self.wait(1900)
        self.ledger.rating_to_drop = self.finalize_and_rate(j12, 99)
        self.ledger.rated_job = j12
        j13 = self.create(c1, 8 * ONE, 10 * 86400)
        self.attempt(w[5], j13, "completed", 8, 15.0, {"device": "METAL", "render_time_s": 15.0})
        self.submit(w[5], j13)
        # w[3]'s result of D5 on chain without a delivery, rejected today; its sanctions (a
        # slash that failed, then the slash and the unverification sent)
        cheat, decided = self.address(w[3]), self.now() + dt.timedelta(seconds=40)
        submitted = self.ledger.jobs[j11].submitted_at
        assert submitted is not None
        self.ledger.rejected_on_chain.append(OnChainVerdict(j11, cheat, submitted, decided))
        sent = [("slash_worker_reputation", "failed"), ("slash_worker_reputation", "sent")]
        for k, (action, outcome) in enumerate([*sent, ("verify_worker", "sent")]):
            at = decided + dt.timedelta(seconds=5 + k)
            self.ledger.sanctions.append(Sanction(j11, cheat, action, outcome, at))
        self.end_day()
        self.ledger.days = [self.start.date() + dt.timedelta(days=n) for n in range(DAYS)]
        return self.ledger


ATTEMPT = sa.text(
    "INSERT INTO job_attempts (job_id, created_tx, attempt, worker_address, state, claimed_at, "
    "lease_expires_at, ended_at, result, failure_reason) VALUES (:job_id, :created_tx, "
    ":attempt, :worker_address, :state, :claimed_at, :lease_expires_at, :ended_at, "
    "CAST(:result AS jsonb), :failure_reason) RETURNING id"
)
VERIFICATION = sa.text(
    "INSERT INTO verifications (job_id, attempt_id, attempt, worker_address, result_cid, source, "
    "state, windows, seeds, created_at, finished_at) VALUES (:job_id, :attempt_id, :attempt, "
    ":worker, :cid, :source, :state, '[]', '[]', :opened_at, :decided_at) RETURNING id"
)
SANCTION = sa.text(
    "INSERT INTO sanctions (worker_address, verification_id, job_id, cause, action, outcome, "
    "created_at) VALUES (:worker, :verification, :job_id, 'forged result on chain', :action, "
    ":outcome, :at)"
)


def record_attempts(engine: sa.Engine, attempts: list[dict[str, Any]]) -> None:
    """Write the attempts into `job_attempts` as the API's claim protocol leaves them, with
    the verification of each decided delivery (opened at the delivery, decided after)."""
    with engine.begin() as conn:
        for a in attempts:
            result = json.dumps(a["result"]) if a["result"] else None
            attempt_id = conn.execute(ATTEMPT, {"failure_reason": None, **a, "result": result})
            if a["state"] in ("verified", "rejected"):
                conn.execute(
                    VERIFICATION,
                    {
                        "job_id": a["job_id"],
                        "attempt_id": attempt_id.scalar(),
                        "attempt": a["attempt"],
                        "worker": a["worker_address"],
                        "cid": CID,
                        "source": "delivery",
                        "state": a["state"],
                        "opened_at": a["ended_at"],
                        "decided_at": a["decided_at"],
                    },
                )


def record_api_rows(engine: sa.Engine, ledger: Ledger) -> None:
    """What the API and the platform's runs would have written: the attempts and their
    verifications, the results rejected on chain, and the sanctions."""
    record_attempts(engine, ledger.attempts)
    with engine.begin() as conn:
        found = {}
        for v in ledger.rejected_on_chain:
            found[v.job_id, v.worker] = conn.execute(
                VERIFICATION,
                {
                    "job_id": v.job_id,
                    "attempt_id": None,
                    "attempt": None,
                    "worker": v.worker,
                    "cid": CID,
                    "source": "chain",
                    "state": "rejected",
                    "opened_at": v.opened_at,
                    "decided_at": v.decided_at,
                },
            ).scalar()
        for s in ledger.sanctions:
            conn.execute(SANCTION, {**asdict(s), "verification": found[s.job_id, s.worker]})

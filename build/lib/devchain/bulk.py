"""`devchain_bulkLoad`: a realistic JobRegistry history, fast, made of real transactions.

Why: the backfill benchmark needs hundreds of thousands of events, and sending them with
starknet-py over HTTP (fee estimation, a 160 ms signature and a round trip per transaction)
manages about 700 events/s. This loader plays a marketplace instead: the owner, creators and
workers (the predeployed dev accounts, whose keys devchain knows) act in turns, block after
block. Each turn is an INVOKE v3 multicall built as starknet-py builds it (Cairo 1 calldata,
the account's nonce, resource bounds that cover the gas), signed for real, and handed to
`Chain.add_invoke` — the path `starknet_addInvokeTransaction` takes — so every transaction
is validated, executed, journaled and queryable like one sent over HTTP. Only the HTTP round
trips and fee estimation are skipped.

The loader keeps its own model of the contract (reputations, counters, eligibility, jobs,
balances) so every call it makes obeys the rules; a transaction that reverts unexpectedly
stops the load (the model would be wrong from there on). The only reverts are deliberate: a
worker now and then loses a race for a job that another worker has just taken.

Deterministic: the same seed and start time give the same transactions, hashes and events.
A load runs inside the RPC call, so devchain answers nothing else until it is done (about a
minute per 200,000 events on two cores); big loads hash and sign in two signer processes.
"""

from __future__ import annotations

import base64
import multiprocessing
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import ResourceBounds, ResourceBoundsMapping

from devchain.chain import L1_DATA_GAS_PRICE, L1_GAS_PRICE, L2_GAS_PRICE, Chain, hash_key
from devchain.contracts.job_registry import u256_felts
from devchain.errors import RpcError
from devchain.signing import invoke_v3, sign_batch
from veriframe_core.chain import rules
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.chain.events import event_codec

SELECTOR = {
    name: get_selector_from_name(name)
    for name in (
        "approve",
        "create_job",
        "create_job_with_requirements",
        "submit_result",
        "finalize_job",
        "register_worker",
        "verify_worker",
        "update_worker_reputation",
        "slash_worker_reputation",
        "pause",
        "unpause",
    )
}
PARALLEL_FROM_EVENTS = 20_000  # below this, signing in-process beats starting signers
MAX_IN_FLIGHT = 16  # blocks built ahead of execution while signers hash them

# (weight, value) tables: what the marketplace looks like
MIN_REPUTATIONS = [
    (5, 0), (10, 300), (10, 400), (20, 500), (10, 550), (20, 600),
    (10, 650), (8, 700), (4, 800), (2, 900), (1, 1000),
]  # fmt: skip
DEADLINES_S = [
    (5, 900), (15, 1800), (25, 3600), (25, 7200), (15, 14400), (10, 28800), (5, 43200),
]  # fmt: skip
# rating bands by worker quality: >=90, 75-89, 60-74, 40-59 (no event), <40
RATING_BANDS = [(90, 100), (75, 89), (60, 74), (40, 59), (1, 39)]
QUALITY_BAND_WEIGHTS = {
    "good": [55, 30, 8, 5, 2],
    "fair": [25, 30, 20, 15, 10],
    "poor": [5, 10, 15, 25, 45],
}
EDGE_REWARDS = [2**64 - 1, 2**64, 2**64 + 1, 3 * 2**64 + 12345]  # u256 limbs both ways
WANTED = 0.88  # share of jobs some worker takes; the rest expire
RATED = 0.93  # share of finalized jobs the creator rates
CREATOR_SHARE = 0.35  # of the turns in a block
FALLBACK_FINALIZE_S = 4 * 3600  # a creator finalizes jobs its worker left unfinalized
RACE_PER_BLOCK = 0.02  # chance of a deliberate lost race (a reverted submit_result)
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

Call = tuple[int, int, list[int]]  # to, selector, arguments


@dataclass(frozen=True)
class LoadPlan:
    """What to load. `events` counts JobRegistry events (what an indexer of it ingests)."""

    events: int
    seed: int = 0
    txs_per_block: int = 5  # the average; turns per block vary around it
    max_calls_per_tx: int = 250
    block_time_s: int = 120
    start_time: int | None = None  # default: the chain's clock
    signers: int | None = None  # signing processes; None: 2 for big loads, 0 (inline) else

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LoadPlan:
        """A plan from devchain_bulkLoad's params, checked."""
        known = set(cls.__dataclass_fields__)
        unknown = set(params) - known
        if unknown:
            raise RpcError.invalid_params(f"unknown bulkLoad parameters {sorted(unknown)}")
        if not isinstance(params.get("events"), int) or not 1 <= params["events"] <= 10**7:
            raise RpcError.invalid_params("events must be an integer in [1, 10000000]")
        for name in ("seed", "txs_per_block", "max_calls_per_tx", "block_time_s", "start_time"):
            if params.get(name) is not None and not isinstance(params[name], int):
                raise RpcError.invalid_params(f"{name} must be an integer")
        signers = params.get("signers")
        if signers is not None and (not isinstance(signers, int) or not 0 <= signers <= 8):
            raise RpcError.invalid_params("signers must be an integer in [0, 8]")
        plan = cls(**params)
        if plan.txs_per_block < 1 or plan.max_calls_per_tx < 8 or plan.block_time_s < 1:
            raise RpcError.invalid_params(
                "txs_per_block >= 1, max_calls_per_tx >= 8 and block_time_s >= 1 are required"
            )
        return plan


@dataclass
class _Worker:
    address: int
    quality: str
    registered: bool = False
    verified: bool = False
    ever_verified: bool = False
    reputation: int = 0
    completed: int = 0
    failed: int = 0
    submitted: list[int] = field(default_factory=list)  # job ids not finalized yet

    def eligible(self, min_reputation: int) -> bool:
        """The contract's is_worker_eligible."""
        return rules.is_worker_eligible(
            registered=self.registered,
            verified=self.verified,
            reputation=self.reputation,
            jobs_completed=self.completed,
            jobs_failed=self.failed,
            min_reputation=min_reputation,
        )


@dataclass
class _Job:
    job_id: int
    creator: int
    reward: int
    deadline: int
    min_reputation: int  # effective: 0 is read back as 400
    wanted: bool
    rate: bool
    worker: int = 0
    completed_in: int | None = None  # block
    rated: bool = False


@dataclass
class _Tx:
    sender: int
    calls: list[Call]
    expect_revert: bool = False
    nonce: int = 0
    calldata: list[int] = field(default_factory=list)
    bounds: ResourceBoundsMapping | None = None


def cid_v0(digest: bytes) -> str:
    """A CIDv0 (`Qm…`, 46 characters): base58btc of the sha2-256 multihash."""
    number = int.from_bytes(b"\x12\x20" + digest, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = B58[rest] + out
    return out


def cid_v1(digest: bytes) -> str:
    """A CIDv1 (`bafy…`, 59 characters): base32 of dag-pb + the sha2-256 multihash."""
    raw = b"\x01\x70\x12\x20" + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def _weighted(rng: random.Random, table: list[tuple[int, int]]) -> int:
    return rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]


def _multicall(calls: list[Call]) -> list[int]:
    """Cairo 1 account calldata: [n, to, selector, len(args), *args, ...]."""
    out = [len(calls)]
    for to, selector, args in calls:
        out += [to, selector, len(args), *args]
    return out


def _bounds(calls: list[Call], calldata_len: int) -> ResourceBoundsMapping:
    """Bounds that cover what devchain charges (gas per step, per felt and per write) with
    starknet-py's margins (1.5× amounts and prices)."""
    steps = 2 + 20 * len(calls)  # a create_job, the heaviest call, takes 14 steps
    l2_gas = 50_000 + 20_000 * steps + 100 * calldata_len
    l1_data_gas = 128 + 64 * 14 * len(calls)
    return ResourceBoundsMapping(
        l1_gas=ResourceBounds(max_amount=0, max_price_per_unit=L1_GAS_PRICE * 3 // 2),
        l2_gas=ResourceBounds(max_amount=l2_gas * 3 // 2, max_price_per_unit=L2_GAS_PRICE * 3 // 2),
        l1_data_gas=ResourceBounds(
            max_amount=l1_data_gas * 3 // 2, max_price_per_unit=L1_DATA_GAS_PRICE * 3 // 2
        ),
    )


def _tx_json(tx: _Tx, signature: tuple[int, int]) -> dict[str, Any]:
    """The broadcasted INVOKE v3 as starknet-py sends it (same fields, same order)."""
    assert tx.bounds is not None
    return {
        "signature": [hex(signature[0]), hex(signature[1])],
        "version": "0x3",
        "tip": "0x0",
        "nonce_data_availability_mode": "L1",
        "fee_data_availability_mode": "L1",
        "paymaster_data": [],
        "resource_bounds": {
            name: {
                "max_amount": hex(getattr(tx.bounds, name).max_amount),
                "max_price_per_unit": hex(getattr(tx.bounds, name).max_price_per_unit),
            }
            for name in ("l1_gas", "l2_gas", "l1_data_gas")
        },
        "calldata": [hex(x) for x in tx.calldata],
        "sender_address": hex(tx.sender),
        "nonce": hex(tx.nonce),
        "account_deployment_data": [],
        "type": "INVOKE",
    }


class _Loader:
    """The marketplace: its model of the contract and the turns its actors take."""

    def __init__(self, chain: Chain, plan: LoadPlan):
        self.chain = chain
        self.plan = plan
        self.rng = random.Random(plan.seed)
        info = chain.info
        self.registry = int(info["job_registry_address"], 16)
        self.token = int(info["token_address"], 16)
        self.keys = {int(a["address"], 16): int(a["private_key"], 16) for a in info["accounts"]}
        state = chain.state_at(None)
        if state.read((self.registry, "paused")):
            raise RpcError.invalid_params("the JobRegistry is paused; unpause it first")
        self.owner = state.read((self.registry, "owner"))
        if self.owner not in self.keys:
            raise RpcError.invalid_params("the JobRegistry owner is not a dev account")
        others = [a for a in self.keys if a != self.owner]
        if len(others) < 3:
            raise RpcError.invalid_params("bulkLoad needs at least 4 accounts (--accounts)")
        n_creators = max(1, len(others) // 5)
        self.creators = others[:n_creators]
        self.nonces = {a: state.read((a, "__nonce__")) for a in self.keys}
        self.balances = {a: state.read((self.token, "balances", a)) for a in self.creators}
        self.job_counter = state.read((self.registry, "job_counter"))
        self.workers: dict[int, _Worker] = {}
        for address in others[n_creators:]:
            quality = self.rng.choices(["good", "fair", "poor"], weights=[65, 25, 10])[0]
            reg = (self.registry, "worker_registration_time", address)
            worker = _Worker(address, quality, registered=bool(state.read(reg)))
            if worker.registered:
                worker.verified = bool(state.read((self.registry, "worker_verified", address)))
                worker.ever_verified = worker.verified
                worker.reputation = state.read((self.registry, "worker_reputation", address))
                worker.completed = state.read((self.registry, "worker_jobs_completed", address))
                worker.failed = state.read((self.registry, "worker_jobs_failed", address))
            self.workers[address] = worker
        self.jobs: dict[int, _Job] = {}
        self.creator_jobs: dict[int, list[int]] = {c: [] for c in self.creators}  # unfinished
        self.pool: list[int] = []  # wanted jobs nobody took yet, oldest first
        self.to_verify: list[int] = []  # registered, waiting for the owner's first look
        self.held: list[int] = []  # the owner did not verify these at first look
        self.recent_taken: list[int] = []
        self.edge_rewards = list(EDGE_REWARDS)
        self.expected: Counter[str] = Counter()  # events the model predicts
        self.ratings: Counter[int] = Counter()  # by band (its lowest score)
        self.paused_at: int | None = None
        self.paused_once = False
        self.registry_names = set(event_codec("job_registry").names)
        self.block = 0
        self.now = 0

    # ------------------------------------------------------------------ turns
    def block_turns(self, first: bool) -> Iterator[Callable[[], _Tx | None]]:
        """The turns of one block, in execution order; each builds its transaction when run
        (after the earlier ones were applied to the model)."""
        rng = self.rng
        if first:  # the network's opening: most workers sign up at once
            newcomers = [w for w in self.workers.values() if not w.registered]
            for worker in rng.sample(newcomers, k=len(newcomers) * 6 // 10):
                yield lambda w=worker: self.worker_turn(w)
            return
        if self.paused_at is not None:  # maintenance is over: unpause first
            self.paused_at = None
            yield lambda: self.owner_tx([(self.registry, SELECTOR["unpause"], [])], "Unpaused")
        k = self.plan.txs_per_block
        count = rng.randint(max(1, k // 2), k + k // 2)
        turns: list[Callable[[], _Tx | None]] = []
        if self.to_verify or self.block % 5 == 0:
            turns.append(self.owner_turn)
        while len(turns) < count:
            if rng.random() < CREATOR_SHARE:
                creator = rng.choice(self.creators)
                turns.append(lambda c=creator: self.creator_turn(c))
            else:
                worker = rng.choice(list(self.workers.values()))
                turns.append(lambda w=worker: self.worker_turn(w))
        if self.recent_taken and rng.random() < RACE_PER_BLOCK:
            turns.append(self.lost_race)
        rng.shuffle(turns)
        yield from turns

    def owner_tx(self, calls: list[Call], event: str) -> _Tx:
        self.expected[event] += len(calls)
        return _Tx(self.owner, calls)

    def owner_turn(self) -> _Tx | None:
        """Verify newcomers (most at once, some later), unverify and re-verify a few, slash."""
        rng, calls = self.rng, []
        room = self.plan.max_calls_per_tx - 3  # the three optional calls below
        for address in self.to_verify:
            if rng.random() < 0.9 and len(calls) < room:
                calls.append(self.verify(self.workers[address], True))
            else:
                self.held.append(address)
        self.to_verify = []
        for address in list(self.held):
            if rng.random() < 0.05 and len(calls) < room:
                self.held.remove(address)
                calls.append(self.verify(self.workers[address], True))
        poor = [w for w in self.workers.values() if w.verified and w.quality == "poor"]
        if poor and rng.random() < 0.15:
            calls.append(self.verify(rng.choice(poor), False))
        lapsed = [w for w in self.workers.values() if w.ever_verified and not w.verified]
        if lapsed and rng.random() < 0.2:
            calls.append(self.verify(rng.choice(lapsed), True))
        registered = [w for w in self.workers.values() if w.registered]
        if registered and rng.random() < 0.6:
            target = rng.choice(poor) if poor and rng.random() < 0.6 else rng.choice(registered)
            calls.append(self.slash(target, rng.randint(10, 120)))
        return _Tx(self.owner, calls) if calls else None

    def creator_turn(self, creator: int) -> _Tx | None:
        """Finalize what idle workers left, rate finished jobs, then post new jobs."""
        rng, cap, calls = self.rng, self.plan.max_calls_per_tx, []
        unfinished = []
        for job_id in self.creator_jobs[creator]:
            job = self.jobs[job_id]
            late = job.worker and job.deadline + FALLBACK_FINALIZE_S <= self.now
            if late and job.completed_in is None and len(calls) < cap // 4:
                calls.append(self.finalize(job))
            done_before = job.completed_in is not None and job.completed_in < self.block
            if done_before and job.rate and not job.rated and len(calls) < cap // 2:
                calls.append(self.rate(job))
            finished = job.rated or (job.completed_in is not None and not job.rate)
            expired = not job.worker and job.deadline <= self.now
            if not (finished or expired):
                unfinished.append(job_id)
        self.creator_jobs[creator] = unfinished
        room = cap - len(calls) - 1
        rewards = [self.reward() for _ in range(min(room, rng.randint(20, 100)))]
        while rewards and sum(rewards) > self.balances[creator]:
            rewards.pop()
        if rewards:
            calls.append(self.approve(sum(rewards)))
            calls += [self.create(creator, reward) for reward in rewards]
        return _Tx(creator, calls) if calls else None

    def worker_turn(self, worker: _Worker) -> _Tx | None:
        """Sign up, or finalize own jobs past their deadline and take new ones."""
        if not worker.registered:
            return _Tx(worker.address, [self.register(worker)])
        rng, cap, calls = self.rng, self.plan.max_calls_per_tx, []
        for job_id in list(worker.submitted):
            job = self.jobs[job_id]
            if job.deadline <= self.now and len(calls) < cap // 2:
                calls.append(self.finalize(job))
        want = min(cap - len(calls), rng.randint(10, 60))
        kept = []
        for job_id in self.pool:
            job = self.jobs[job_id]
            if job.deadline <= self.now:
                continue  # nobody took it in time: it expires
            if want and worker.eligible(job.min_reputation):
                calls.append(self.submit(worker, job))
                want -= 1
            else:
                kept.append(job_id)
        self.pool = kept
        return _Tx(worker.address, calls) if calls else None

    def lost_race(self) -> _Tx | None:
        """A worker submits for a job another worker has just taken: a deliberate revert."""
        job = self.jobs.get(self.rng.choice(self.recent_taken))
        candidates = [w for w in self.workers.values() if w.address != (job and job.worker)]
        if job is None or not candidates:
            return None
        worker = self.rng.choice(candidates)
        part1, part2 = cid_to_felts(cid_v0(self.rng.randbytes(32)))
        call = (self.registry, SELECTOR["submit_result"], [job.job_id, part1, part2])
        return _Tx(worker.address, [call], expect_revert=True)

    def maybe_pause(self) -> _Tx | None:
        """Once, at half the load: maintenance (Paused now, Unpaused first thing next block)."""
        if self.paused_once or self.registry_expected() < self.plan.events / 2:
            return None
        self.paused_once = True
        self.paused_at = self.block
        return self.owner_tx([(self.registry, SELECTOR["pause"], [])], "Paused")

    # ------------------------------------------------------------------ calls (+ model)
    def reward(self) -> int:
        rng = self.rng
        if self.edge_rewards and rng.random() < 0.001:
            return self.edge_rewards.pop(0)
        if rng.random() < 0.01:  # a bounty
            return rng.randint(100, 1000) * 10**18
        return int(10 ** rng.uniform(15, 19.7)) // 10**12 * 10**12

    def approve(self, amount: int) -> Call:
        self.expected["Approval"] += 1
        return (self.token, SELECTOR["approve"], [self.registry, *u256_felts(amount)])

    def create(self, creator: int, reward: int) -> Call:
        rng = self.rng
        self.job_counter += 1
        self.balances[creator] -= reward
        digest = rng.randbytes(32)
        cid = cid_v0(digest) if rng.random() < 0.5 else cid_v1(digest)
        part1, part2 = cid_to_felts(cid)
        deadline = self.now + _weighted(rng, DEADLINES_S)
        args = [part1, part2, *u256_felts(reward), deadline]
        if rng.random() < 0.5:
            function, min_reputation = "create_job", rules.DEFAULT_MIN_REPUTATION
        else:
            function, min_reputation = (
                "create_job_with_requirements",
                _weighted(rng, MIN_REPUTATIONS),
            )
            args.append(min_reputation)
        job = _Job(
            job_id=self.job_counter,
            creator=creator,
            reward=reward,
            deadline=deadline,
            min_reputation=rules.min_reputation_of(min_reputation),
            wanted=rng.random() < WANTED,
            rate=rng.random() < RATED,
        )
        self.jobs[job.job_id] = job
        self.creator_jobs[creator].append(job.job_id)
        if job.wanted:
            self.pool.append(job.job_id)
        self.expected.update(["Transfer", "JobCreated"])
        return (self.registry, SELECTOR[function], args)

    def submit(self, worker: _Worker, job: _Job) -> Call:
        job.worker = worker.address
        worker.submitted.append(job.job_id)
        self.recent_taken = [*self.recent_taken[-49:], job.job_id]
        cid = cid_v1(self.rng.randbytes(32)) if self.rng.random() < 0.5 else None
        part1, part2 = cid_to_felts(cid or cid_v0(self.rng.randbytes(32)))
        self.expected["ResultSubmitted"] += 1
        return (self.registry, SELECTOR["submit_result"], [job.job_id, part1, part2])

    def finalize(self, job: _Job) -> Call:
        job.completed_in = self.block
        self.workers[job.worker].submitted.remove(job.job_id)
        self.expected.update(["Transfer", "JobFinalized"])
        return (self.registry, SELECTOR["finalize_job"], [job.job_id])

    def rate(self, job: _Job) -> Call:
        worker = self.workers[job.worker]
        band = self.rng.choices(RATING_BANDS, weights=QUALITY_BAND_WEIGHTS[worker.quality])[0]
        score = self.rng.randint(*band)
        job.rated = True
        outcome = rules.rating_outcome(worker.reputation, score)
        if outcome is not None:
            worker.reputation, counter = outcome
            if counter == "jobs_completed":
                worker.completed += 1
            else:
                worker.failed += 1
            self.expected["ReputationUpdated"] += 1
        self.ratings[band[0]] += 1
        args = [job.worker, job.job_id, score]
        return (self.registry, SELECTOR["update_worker_reputation"], args)

    def register(self, worker: _Worker) -> Call:
        worker.registered, worker.verified = True, False
        worker.reputation, worker.completed, worker.failed = rules.START_REPUTATION, 0, 0
        self.to_verify.append(worker.address)
        info_cid = cid_to_felts(cid_v0(self.rng.randbytes(32)))[0]
        self.expected["WorkerRegistered"] += 1
        return (self.registry, SELECTOR["register_worker"], [info_cid])

    def verify(self, worker: _Worker, status: bool) -> Call:
        worker.reputation = rules.reputation_after_verification(worker.reputation, status)
        if status:
            worker.ever_verified = True
        worker.verified = status
        self.expected["WorkerVerified"] += 1
        return (self.registry, SELECTOR["verify_worker"], [worker.address, int(status)])

    def slash(self, worker: _Worker, amount: int) -> Call:
        worker.reputation = rules.reputation_after_slash(worker.reputation, amount)
        worker.failed += 1
        self.expected["ReputationSlashed"] += 1
        return (self.registry, SELECTOR["slash_worker_reputation"], [worker.address, amount])

    def registry_expected(self) -> int:
        """JobRegistry events the transactions built so far will emit."""
        return sum(n for name, n in self.expected.items() if name in self.registry_names)

    # ------------------------------------------------------------------ transactions
    def seal(self, tx: _Tx) -> _Tx:
        """Give the transaction its nonce, calldata and bounds (the model is already applied)."""
        tx.nonce = self.nonces[tx.sender]
        self.nonces[tx.sender] += 1
        tx.calldata = _multicall(tx.calls)
        tx.bounds = _bounds(tx.calls, len(tx.calldata))
        return tx


@dataclass
class _Progress:
    """What was loaded so far, counted from the receipts."""

    events: Counter = field(default_factory=Counter)
    transactions: int = 0
    reverted: int = 0
    calls: int = 0
    blocks: int = 0


def bulk_load(chain: Chain, plan: LoadPlan) -> dict[str, Any]:
    """Load a marketplace history of at least `plan.events` JobRegistry events; returns the
    counts per event name, blocks and transactions made, and the seconds it took."""
    started = time.perf_counter()
    if chain.pending is not None and chain.pending.transactions:
        chain.mine()
    loader = _Loader(chain, plan)
    names = {
        (address, event_codec(contract).selector(name)): name
        for address, contract in ((loader.registry, "job_registry"), (loader.token, "erc20"))
        for name in event_codec(contract).names  # type: ignore[arg-type]
    }
    clock = plan.start_time
    if clock is None:
        clock = max(chain.now(), chain.latest.timestamp)
    clock = max(clock, chain.latest.timestamp)
    first_block = chain.latest.number + 1
    progress = _Progress()
    signers = plan.signers
    if signers is None:
        signers = 2 if plan.events >= PARALLEL_FROM_EVENTS else 0
    pool = (
        ProcessPoolExecutor(signers, mp_context=multiprocessing.get_context("spawn"))
        if signers
        else None
    )
    automine, chain.automine = chain.automine, False
    try:
        # blocks built and being signed; executed in order once signed, so that building
        # (here) and hashing (in the signers) overlap
        in_flight: deque[tuple[int, list[_Tx], list[Future]]] = deque()
        while loader.registry_expected() < plan.events:
            if loader.block > 50 + plan.events:  # no progress: a bug, not a long load
                raise RuntimeError("bulkLoad made no progress")
            timestamp = clock + loader.block * plan.block_time_s
            timestamp += loader.rng.randrange(plan.block_time_s // 2 + 1)
            loader.now = timestamp
            txs = [loader.seal(tx) for tx in _run_turns(loader)]
            in_flight.append((timestamp, txs, _sign(loader, txs, pool)))
            loader.block += 1
            while in_flight and (
                len(in_flight) > MAX_IN_FLIGHT or all(f.done() for f in in_flight[0][2])
            ):
                _execute(chain, loader, progress, names, *in_flight.popleft())
        while in_flight:
            _execute(chain, loader, progress, names, *in_flight.popleft())
        chain.set_time(chain.latest.timestamp)  # the clock goes on from the last block
    finally:
        chain.automine = automine
        chain.known_hashes.clear()  # a failed load leaves no hashes behind
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    predicted = {k: v for k, v in loader.expected.items() if v}
    if predicted != {k: v for k, v in progress.events.items() if v}:
        raise RuntimeError(f"bulkLoad: events {dict(progress.events)} != model {predicted}")
    seconds = time.perf_counter() - started
    registry_events = sum(n for k, n in progress.events.items() if k in loader.registry_names)
    return {
        "events": dict(sorted(progress.events.items())),
        "registry_events": registry_events,
        "token_events": sum(progress.events.values()) - registry_events,
        "ratings_by_band": {f"{lo}-{hi}": loader.ratings[lo] for lo, hi in RATING_BANDS},
        "jobs_created": progress.events["JobCreated"],
        "job_counter": loader.job_counter,
        "transactions": progress.transactions,
        "reverted": progress.reverted,
        "calls": progress.calls,
        "blocks": progress.blocks,
        "first_block": first_block,
        "last_block": chain.latest.number,
        "seconds": round(seconds, 3),
        "events_per_s": round(registry_events / seconds) if seconds else 0,
        "signers": signers,
    }


def _run_turns(loader: _Loader) -> Iterator[_Tx]:
    for turn in loader.block_turns(first=loader.block == 0):
        tx = turn()
        if tx is not None:
            yield tx
    pause = loader.maybe_pause()
    if pause is not None:
        yield pause


def _sign(loader: _Loader, txs: list[_Tx], pool: ProcessPoolExecutor | None) -> list[Future]:
    """Hash and sign a block's transactions: in the signer processes (two halves), or here."""
    jobs = [(tx.sender, loader.keys[tx.sender], tx.nonce, tx.calldata, tx.bounds) for tx in txs]
    chain_id = loader.chain.chain_id
    if pool is None:
        done: Future = Future()
        done.set_result(sign_batch(chain_id, jobs))  # type: ignore[arg-type]
        return [done]
    half = (len(jobs) + 1) // 2
    return [pool.submit(sign_batch, chain_id, part) for part in (jobs[:half], jobs[half:])]


def _execute(
    chain: Chain,
    loader: _Loader,
    progress: _Progress,
    names: dict[tuple[int, int], str],
    timestamp: int,
    txs: list[_Tx],
    futures: list[Future],
) -> None:
    """Send one block's transactions through `Chain.add_invoke` and seal the block."""
    chain.set_time(timestamp)
    chain.pending_block().timestamp = timestamp
    signed = [result for future in futures for result in future.result()]
    for tx, (tx_hash, r, s) in zip(txs, signed, strict=True):
        invoke = invoke_v3(tx.sender, tx.nonce, tx.calldata, tx.bounds)  # type: ignore[arg-type]
        chain.known_hashes[hash_key(invoke, chain.chain_id)] = tx_hash
        if chain.add_invoke(_tx_json(tx, (r, s))) != tx_hash:
            raise RuntimeError("bulkLoad: devchain hashed a transaction differently")
        receipt = chain.pending_block().transactions[-1].receipt
        if receipt.succeeded == tx.expect_revert:
            what = "did not revert" if tx.expect_revert else f"reverted: {receipt.revert_reason}"
            raise RuntimeError(f"bulkLoad: transaction {tx_hash:#x} {what}")
        progress.transactions += 1
        progress.calls += len(tx.calls)
        progress.reverted += not receipt.succeeded
        for from_address, keys, _ in receipt.events:
            progress.events[names[(from_address, keys[0])]] += 1
    chain.mine()
    progress.blocks += 1

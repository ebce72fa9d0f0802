"""A realistic JobRegistry history, fast, made of real transactions: the load that the
backfill benchmark (bench/chain_backfill.py) and the devchain tests ingest or check.

Why: the backfill benchmark needs hundreds of thousands of events, and sending them with
starknet-py over HTTP (fee estimation, a 160 ms signature and a round trip per transaction)
manages about 700 events/s. This loader plays a marketplace instead: the owner, creators and
workers (devchain's predeployed dev accounts, whose keys `devchain_info` gives) act in turns,
block after block. Each turn is an INVOKE v3 multicall built as starknet-py builds it (Cairo 1
calldata, the account's nonce, resource bounds that cover the gas), signed for real, and sent
with its block through `devchain_addBlocks`, so every transaction is validated, executed,
journaled and queryable like one sent with `starknet_addInvokeTransaction`. Only the round
trip per transaction, fee estimation and devchain hashing each transaction again are skipped.

The loader keeps its own model of the contract (reputations, counters, eligibility, jobs,
balances), started from the chain's views, so every call it makes obeys the rules; a
transaction that reverts unexpectedly stops the load (the model would be wrong from there
on). The only reverts are deliberate: a worker now and then loses a race for a job that
another worker has just taken.

Deterministic: the same seed and start time give the same transactions, hashes and events.
Big loads hash and sign in two signer processes while this one builds the next blocks and
devchain executes the previous ones (about a minute per 200,000 events on two cores).
"""

from __future__ import annotations

import base64
import multiprocessing
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.client_models import ResourceBounds, ResourceBoundsMapping

from devchain.chain import L1_DATA_GAS_PRICE, L1_GAS_PRICE, L2_GAS_PRICE
from devchain.contracts.job_registry import u256_felts
from tests.support.fast_signing import sign_batch
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
BLOCKS_PER_CALL = 8  # signed blocks sent to devchain in one devchain_addBlocks

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
Rpc = Callable[[str, dict[str, Any]], Any]  # one JSON-RPC call: method, params -> result


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

    def __post_init__(self) -> None:
        if not 1 <= self.events <= 10**7:
            raise ValueError("events must be in [1, 10000000]")
        if self.signers is not None and not 0 <= self.signers <= 8:
            raise ValueError("signers must be in [0, 8]")
        if self.txs_per_block < 1 or self.max_calls_per_tx < 8 or self.block_time_s < 1:
            raise ValueError(
                "txs_per_block >= 1, max_calls_per_tx >= 8 and block_time_s >= 1 are required"
            )


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

    def __init__(self, rpc: Rpc, plan: LoadPlan):
        self.plan = plan
        self.rng = random.Random(plan.seed)
        info = rpc("devchain_info", {})
        self.chain_id = int(info["chain_id"], 16)
        self.registry = int(info["job_registry_address"], 16)
        self.token = int(info["token_address"], 16)
        self.keys = {int(a["address"], 16): int(a["private_key"], 16) for a in info["accounts"]}
        view = _Views(rpc, self.registry, self.token)
        if view.registry("is_paused")[0]:
            raise ValueError("the JobRegistry is paused; unpause it first")
        (self.owner,) = view.registry("owner")
        if self.owner not in self.keys:
            raise ValueError("the JobRegistry owner is not a dev account")
        others = [a for a in self.keys if a != self.owner]
        if len(others) < 3:
            raise ValueError("a load needs at least 4 dev accounts (devchain --accounts)")
        n_creators = max(1, len(others) // 5)
        self.creators = others[:n_creators]
        self.nonces = {a: view.nonce(a) for a in self.keys}
        self.balances = {a: view.balance(a) for a in self.creators}
        (self.job_counter,) = view.registry("get_job_counter")
        self.workers: dict[int, _Worker] = {}
        for address in others[n_creators:]:
            quality = self.rng.choices(["good", "fair", "poor"], weights=[65, 25, 10])[0]
            verified, reputation, completed, failed = view.registry("get_worker_status", address)
            worker = _Worker(address, quality, registered=reputation > 0)  # never below 1 once
            if worker.registered:
                worker.verified = worker.ever_verified = bool(verified)
                worker.reputation, worker.completed, worker.failed = reputation, completed, failed
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
    first_block: int = 0
    last_block: int = 0


def load_history(rpc: Rpc, plan: LoadPlan) -> dict[str, Any]:
    """Load a marketplace history of at least `plan.events` JobRegistry events through `rpc`;
    returns the counts per event name, blocks and transactions made, and the seconds it took."""
    started = time.perf_counter()
    loader = _Loader(rpc, plan)
    names = {
        (address, event_codec(contract).selector(name)): name
        for address, contract in ((loader.registry, "job_registry"), (loader.token, "erc20"))
        for name in event_codec(contract).names  # type: ignore[arg-type]
    }
    latest = rpc("starknet_getBlockWithTxHashes", {"block_id": "latest"})["timestamp"]
    clock = plan.start_time
    if clock is None:  # the pre-confirmed block's time: the chain's clock
        clock = rpc("starknet_getBlockWithTxHashes", {"block_id": "pre_confirmed"})["timestamp"]
    clock = max(clock, latest)
    signers = plan.signers
    if signers is None:
        signers = 2 if plan.events >= PARALLEL_FROM_EVENTS else 0
    pool = (
        ProcessPoolExecutor(signers, mp_context=multiprocessing.get_context("spawn"))
        if signers
        else None
    )
    sender = _Sender(rpc, names)
    try:
        # blocks built and being signed; sent in order once signed, so that building (here),
        # hashing (in the signers) and executing (in devchain) overlap
        in_flight: deque[tuple[int, list[_Tx], list[Future]]] = deque()
        while loader.registry_expected() < plan.events:
            if loader.block > 50 + plan.events:  # no progress: a bug, not a long load
                raise RuntimeError("the load made no progress")
            timestamp = clock + loader.block * plan.block_time_s
            timestamp += loader.rng.randrange(plan.block_time_s // 2 + 1)
            loader.now = timestamp
            txs = [loader.seal(tx) for tx in _run_turns(loader)]
            in_flight.append((timestamp, txs, _sign(loader, txs, pool)))
            loader.block += 1
            while in_flight and (
                len(in_flight) > MAX_IN_FLIGHT or all(f.done() for f in in_flight[0][2])
            ):
                sender.add(*in_flight.popleft())
        while in_flight:
            sender.add(*in_flight.popleft())
        sender.finish()
    finally:
        sender.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    progress = sender.progress
    predicted = {k: v for k, v in loader.expected.items() if v}
    if predicted != {k: v for k, v in progress.events.items() if v}:
        raise RuntimeError(f"the load's events {dict(progress.events)} != model {predicted}")
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
        "first_block": progress.first_block,
        "last_block": progress.last_block,
        "seconds": round(seconds, 3),
        "events_per_s": round(registry_events / seconds) if seconds else 0,
        "signers": signers,
    }


def over_http(url: str) -> Rpc:
    """JSON-RPC calls to devchain at `url`, with no client timeout (big loads take minutes)."""
    client = httpx.Client(timeout=None, headers={"content-type": "application/json"})

    def call(method: str, params: dict[str, Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = orjson.loads(client.post(url, content=orjson.dumps(body)).content)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    return call


class _Views:
    """The JobRegistry's and the token's views, and nonces, at the pre-confirmed block."""

    def __init__(self, rpc: Rpc, registry: int, token: int):
        self.rpc, self.registry_address, self.token = rpc, registry, token

    def registry(self, function: str, *args: int) -> list[int]:
        return self._call(self.registry_address, function, *args)

    def balance(self, account: int) -> int:
        low, high = self._call(self.token, "balance_of", account)
        return low + (high << 128)

    def nonce(self, account: int) -> int:
        return int(self.rpc("starknet_getNonce", {"contract_address": hex(account)}), 16)

    def _call(self, to: int, function: str, *args: int) -> list[int]:
        request = {
            "contract_address": hex(to),
            "entry_point_selector": hex(get_selector_from_name(function)),
            "calldata": [hex(a) for a in args],
        }
        return [int(x, 16) for x in self.rpc("starknet_call", {"request": request})]


class _Sender:
    """Sends signed blocks to devchain in batches, one call under way while the next blocks
    are built, and counts what the receipts say."""

    def __init__(self, rpc: Rpc, names: dict[tuple[int, int], str]):
        self.rpc, self.names = rpc, names
        self.progress = _Progress()
        self._thread = ThreadPoolExecutor(1)
        self._blocks: list[dict[str, Any]] = []
        self._txs: list[list[_Tx]] = []
        self._under_way: tuple[Future, list[list[_Tx]]] | None = None  # the call, its blocks

    def add(self, timestamp: int, txs: list[_Tx], futures: list[Future]) -> None:
        signed = [result for future in futures for result in future.result()]
        payload = [
            {"transaction_hash": hex(tx_hash), "transaction": _tx_json(tx, (r, s))}
            for tx, (tx_hash, r, s) in zip(txs, signed, strict=True)
        ]
        self._blocks.append({"timestamp": timestamp, "transactions": payload})
        self._txs.append(txs)
        if len(self._blocks) >= BLOCKS_PER_CALL:
            self._send()

    def finish(self) -> None:
        if self._blocks:
            self._send()
        self._wait()

    def close(self) -> None:
        self._thread.shutdown(cancel_futures=True)

    def _send(self) -> None:
        self._wait()
        call = self._thread.submit(self.rpc, "devchain_addBlocks", {"blocks": self._blocks})
        self._under_way = (call, self._txs)
        self._blocks, self._txs = [], []

    def _wait(self) -> None:
        if self._under_way is None:
            return
        call, sent = self._under_way
        self._under_way = None
        for block, txs in zip(call.result()["blocks"], sent, strict=True):
            self._count(block, txs)

    def _count(self, block: dict[str, Any], txs: list[_Tx]) -> None:
        progress = self.progress
        for tx, outcome in zip(txs, block["transactions"], strict=True):
            if outcome["succeeded"] == tx.expect_revert:
                reason = outcome["revert_reason"]
                what = "did not revert" if tx.expect_revert else f"reverted: {reason}"
                raise RuntimeError(f"transaction {outcome['transaction_hash']} {what}")
            progress.transactions += 1
            progress.calls += len(tx.calls)
            progress.reverted += not outcome["succeeded"]
            for address, key in outcome["events"]:
                progress.events[self.names[(int(address, 16), int(key, 16))]] += 1
        progress.blocks += 1
        progress.first_block = progress.first_block or block["block_number"]
        progress.last_block = block["block_number"]


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
    if pool is None:
        done: Future = Future()
        done.set_result(sign_batch(loader.chain_id, jobs))  # type: ignore[arg-type]
        return [done]
    half = (len(jobs) + 1) // 2
    return [pool.submit(sign_batch, loader.chain_id, part) for part in (jobs[:half], jobs[half:])]

"""Fixtures for ingestion tests: a devchain with activity, fresh warehouses, table snapshots."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from devchain.process import DevchainProcess, free_port
from tests.devchain.conftest import Driver
from veriframe_dagster.chain.addresses import normalize_address
from veriframe_dagster.chain.cids import cid_to_felts, felts_to_cid
from veriframe_dagster.chain.events import event_codec
from veriframe_dagster.chain.ingest import ChainIngestor, IngestTarget
from veriframe_dagster.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.warehouse.engine import make_engine
from veriframe_dagster.warehouse.migrate import upgrade_warehouse

CIDS = [
    "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
    "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
]
_db_names = itertools.count()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    node = DevchainProcess(tmp_path_factory.mktemp("chain") / "state", free_port(), accounts=16)
    info = node.start()
    yield Driver(info)
    node.stop()


def fresh_warehouse(embedded_pg: EmbeddedPostgres) -> sa.Engine:
    """A new, migrated warehouse database on the test server."""
    name = f"ingest_{next(_db_names)}"
    embedded_pg.ensure_database(name)
    url = embedded_pg.url(name)
    upgrade_warehouse(url)
    return make_engine(url)


@pytest.fixture
def new_warehouse(embedded_pg: EmbeddedPostgres) -> Iterator[Callable[[], sa.Engine]]:
    """A factory of fresh, migrated warehouse databases (engines disposed afterwards)."""
    engines: list[sa.Engine] = []

    def make() -> sa.Engine:
        engines.append(fresh_warehouse(embedded_pg))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def ingestor(engine: sa.Engine, driver: Driver, url: str | None = None, **kwargs) -> ChainIngestor:
    target = IngestTarget(url or driver.url, driver.registry.address, 0)
    return ChainIngestor(engine, target, **{"batch_events": 13, **kwargs})


SNAPSHOT_EXCLUDE = {
    "contract_events": {"id", "ingested_at"},
    "reputation_history": {"id"},
    "chain_cursor": {"updated_at"},
}
SNAPSHOT_ORDER = {
    "contract_events": "block_number, transaction_index, event_index",
    "reputation_history": "block_number, transaction_index, event_index",
    "workers": "address",
    "jobs": "job_id",
    "chain_cursor": "contract_address",
}


def snapshot(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Every derived table's rows (minus surrogate ids and ingestion times), in a stable order."""
    out = {}
    with engine.connect() as conn:
        for table, order in SNAPSHOT_ORDER.items():
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}")).mappings()
            out[table] = [
                {k: v for k, v in row.items() if k not in SNAPSHOT_EXCLUDE.get(table, ())}
                for row in rows
            ]
    return out


def assert_tables_match_contract(
    driver: Driver, engine: sa.Engine, *, result_cids: bool = True
) -> None:
    """Every job and every worker row equals what the contract's views say, field by field
    (and, with `result_cids`, submitted jobs carry the result CID the worker sent)."""
    with engine.connect() as conn:
        jobs = {int(r.job_id): r for r in conn.execute(sa.text("SELECT * FROM jobs"))}
        workers = {r.address: r for r in conn.execute(sa.text("SELECT * FROM workers"))}
    counter = driver.view(driver.registry, "get_job_counter")
    assert sorted(jobs) == list(range(1, counter + 1))
    for job_id, row in jobs.items():

        def view(fn: str, job_id: int = job_id) -> Any:
            return driver.view(driver.registry, fn, job_id)

        assert row.creator_address == normalize_address(view("get_job_creator"))
        assert int(row.reward_amount) == view("get_job_reward")
        part1, part2 = view("get_job_asset_cid")
        assert (int(row.asset_cid_part1), int(row.asset_cid_part2)) == (part1, part2)
        assert row.asset_cid == felts_to_cid(part1, part2)
        assert row.deadline == datetime.fromtimestamp(view("get_job_deadline"), tz=UTC)
        assert row.min_reputation == view("get_minimum_reputation_for_job")
        worker = view("get_job_worker")
        assert row.worker_address == (normalize_address(worker) if worker else None)
        assert (row.status == "finalized") == view("is_job_completed")
        if row.status == "submitted" and result_cids:
            assert row.result_cid in CIDS
    for account in driver.accounts:
        address = normalize_address(account.address)
        verified, reputation, completed, failed = driver.view(
            driver.registry, "get_worker_status", account.address
        )
        row = workers.get(address)
        if row is None:
            assert reputation == 0, f"worker {address} missing from the warehouse"
            continue
        assert (row.verified, row.reputation, row.jobs_completed, row.jobs_failed) == (
            verified,
            reputation,
            completed,
            failed,
        ), address


class Activity:
    """Drives realistic JobRegistry activity: creators, workers, results, payouts, ratings."""

    def __init__(self, driver: Driver):
        self.d = driver
        self.creators = driver.accounts[1:4]
        self.workers = driver.accounts[4:10]
        self.jobs_made = 0
        self.submitted: list[tuple[int, Any, Any]] = []  # (job, worker, creator)

    def setup_workers(self) -> None:
        d = self.d
        for i, worker in enumerate(self.workers):
            d.send(worker, d.reg("register_worker", 0x1000 + i))
        d.send(d.owner, *(d.reg("verify_worker", w.address, True) for w in self.workers[:-1]))
        for creator in self.creators:
            d.send(creator, d.call_of(d.token, "approve", d.registry.address, 10**30))

    def create_jobs(self, creator, count: int, ttl: int = 60) -> list[int]:
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
        codec = event_codec("job_registry")
        created = codec.selector("JobCreated")
        return [e.keys[1] for e in receipt.events if e.keys[0] == created]

    def submit(self, worker, job: int, creator) -> None:
        self.d.send(worker, self.d.reg("submit_result", job, *cid_to_felts(CIDS[job % 2])))
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

    def full_round(self) -> None:
        """Jobs from every creator, results from workers, settlement with every rating band."""
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


def chain_event_count(driver: Driver) -> int:
    """How many registry events the chain holds up to `latest` (following every page)."""
    count, token = 0, None
    while True:
        flt = {
            "chunk_size": 1024,
            "from_block": {"block_number": 0},
            "to_block": "latest",
            "keys": [],
            "address": hex(driver.registry.address),
        }
        if token:
            flt["continuation_token"] = token
        result = driver.rpc("starknet_getEvents", {"filter": flt})
        count += len(result["events"])
        token = result.get("continuation_token")
        if not token:
            return count

"""Fixtures for the Dagster definitions: one devchain with JobRegistry activity for the
package, a fresh migrated warehouse per test, and definitions built for both."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from devchain.process import DevchainProcess, free_port
from tests.devchain.conftest import Driver
from veriframe_dagster.chain.cids import cid_to_felts
from veriframe_dagster.definitions import build_definitions
from veriframe_dagster.settings import Settings
from veriframe_dagster.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.warehouse.engine import make_engine
from veriframe_dagster.warehouse.migrate import upgrade_warehouse

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
REWARD = 3 * 10**18
_databases = itertools.count()


class Activity:
    """JobRegistry activity through starknet-py: workers, jobs, results, payouts, ratings."""

    def __init__(self, driver: Driver):
        self.d = driver
        self.creators = driver.accounts[1:3]
        self.workers = driver.accounts[3:7]

    def setup(self) -> None:
        """Four registered workers (three verified); creators approve the registry."""
        d = self.d
        for i, worker in enumerate(self.workers):
            d.send(worker, d.reg("register_worker", 0xC1D0 + i))
        d.send(d.owner, *(d.reg("verify_worker", w.address, True) for w in self.workers[:3]))
        for creator in self.creators:
            d.send(creator, d.call_of(d.token, "approve", d.registry.address, 10**30))

    def create_job(self, creator: Any = None, ttl: int = 3600) -> int:
        d = self.d
        deadline = d.now() + ttl
        d.send(
            creator or self.creators[0], d.reg("create_job", *cid_to_felts(CID), REWARD, deadline)
        )
        return d.view(d.registry, "get_job_counter")

    def submit(self, worker: Any, job_id: int) -> None:
        self.d.send(worker, self.d.reg("submit_result", job_id, *cid_to_felts(CID)))

    def finish_and_rate(self, worker: Any, score: int) -> int:
        """A job done by `worker`, paid after its deadline and rated `score`."""
        d, creator = self.d, self.creators[1]
        job_id = self.create_job(creator, ttl=30)
        self.submit(worker, job_id)
        d.rpc("devchain_increaseTime", {"seconds": 31})
        d.send(
            creator,
            d.reg("finalize_job", job_id),
            d.reg("update_worker_reputation", worker.address, job_id, score),
        )
        return job_id

    def head(self) -> int:
        return self.d.rpc("starknet_blockNumber")


@pytest.fixture(scope="package")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    node = DevchainProcess(tmp_path_factory.mktemp("defs_chain") / "state", free_port())
    info = node.start()
    yield Driver(info)
    node.stop()


@pytest.fixture(scope="package")
def activity(chain: Driver) -> Activity:
    """The chain with a mix of every kind of event: jobs open, submitted, finalized and
    rated, a slashed worker."""
    act = Activity(chain)
    act.setup()
    for _ in range(3):
        act.create_job()
    act.submit(act.workers[0], act.create_job())
    act.finish_and_rate(act.workers[1], 95)
    act.finish_and_rate(act.workers[2], 20)
    chain.send(chain.owner, chain.reg("slash_worker_reputation", act.workers[0].address, 50))
    return act


@pytest.fixture
def warehouse_url(embedded_pg: EmbeddedPostgres) -> str:
    """A fresh, migrated warehouse database for this test."""
    name = f"defs_{next(_databases)}"
    embedded_pg.ensure_database(name)
    url = embedded_pg.url(name)
    upgrade_warehouse(url)
    return url


@pytest.fixture
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


def settings_for(chain: Driver, warehouse_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings pointing the definitions at this chain and warehouse (no follow by default)."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": warehouse_url,
        "starknet_rpc_url": chain.url,
        "job_registry_address": hex(chain.registry.address),
        "start_block": 0,
        "ingest_batch_events": 7,
        "chain_sensor_follow_s": 0,
        "chain_spot_check_size": 100,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def defs_for(chain: Driver, warehouse_url: str, tmp_path: Path):
    """Definitions for this chain and warehouse, with optional settings overrides."""

    def build(**overrides: Any) -> dg.Definitions:
        return build_definitions(settings_for(chain, warehouse_url, tmp_path, **overrides))

    return build

"""RPC failures, timeouts and a killed indexer: loud failures, no lost or doubled data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.activity import Activity
from tests.support.chain import Driver, chain_event_count
from tests.support.warehouse import assert_tables_match_contract, ingestor, snapshot
from tests.veriframe_core.chain.ingest.faulty_proxy import FaultyProxy
from veriframe_core.chain.rpc import ChainRpcError, ChainUnavailable


@pytest.fixture(scope="module")
def busy_chain(chain: Driver) -> Driver:
    activity = Activity(chain)
    activity.setup_workers()
    activity.full_round()
    activity.full_round()
    return chain


@pytest.fixture
def proxy(busy_chain: Driver) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(busy_chain.url).start()
    yield proxy
    proxy.stop()


def new_job_with_result(chain: Driver) -> None:
    activity = Activity(chain)
    (job,) = activity.create_jobs(chain.accounts[1], 1, ttl=10**6)
    for worker in activity.workers:
        if chain.view(chain.registry, "is_worker_eligible", worker.address, job):
            activity.submit(worker, job, chain.accounts[1])
            return
    raise AssertionError("no eligible worker left on the test chain")


def cursor_of(engine: sa.Engine) -> tuple | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT block_number, block_hash FROM chain_cursor")).first()
    return tuple(row) if row else None


@pytest.mark.parametrize(
    ("fault", "method", "error"),
    [
        ("http_500", "starknet_getEvents", ChainUnavailable),
        ("rpc_error", "starknet_getEvents", ChainRpcError),
        ("rpc_error", "starknet_getTransactionByHash", ChainRpcError),
        ("hang", "starknet_getBlockWithTxHashes", ChainUnavailable),
    ],
)
def test_rpc_failures_fail_the_tick_and_keep_the_cursor(
    busy_chain: Driver, proxy: FaultyProxy, new_warehouse, fault: str, method: str, error
) -> None:
    engine = new_warehouse()
    ingestor(engine, busy_chain, url=proxy.url, batch_events=20).tick(60)  # some progress
    before, cursor = snapshot(engine), cursor_of(engine)
    getattr(proxy.faults, fault).add(method)
    new_job_with_result(busy_chain)  # its events need getTransactionByHash
    with pytest.raises(error):
        ingestor(engine, busy_chain, url=proxy.url, rpc_timeout_s=1).tick(60, until_caught_up=True)
    assert cursor_of(engine) == cursor
    assert snapshot(engine) == before
    proxy.faults.clear()
    ingestor(engine, busy_chain, url=proxy.url).tick(60, until_caught_up=True)
    fresh = new_warehouse()
    ingestor(fresh, busy_chain).tick(60, until_caught_up=True)
    assert snapshot(engine) == snapshot(fresh)


def test_jobs_whose_transaction_cannot_be_read_fall_back_to_view_calls(
    busy_chain: Driver, proxy: FaultyProxy, new_warehouse, monkeypatch
) -> None:
    """An account with another calldata layout: asset CIDs and minimum reputations come from
    the views at the event's block, and a failing view call fails the tick."""
    from veriframe_core.chain.ingest import calldata

    monkeypatch.setattr(calldata, "multicall", lambda calldata: [])
    engine = new_warehouse()
    proxy.faults.rpc_error.add("starknet_call")
    with pytest.raises(ChainRpcError):
        ingestor(engine, busy_chain, url=proxy.url).tick(60, until_caught_up=True)
    assert cursor_of(engine) is None
    proxy.faults.clear()
    ingestor(engine, busy_chain, url=proxy.url).tick(60, until_caught_up=True)
    assert_tables_match_contract(busy_chain, engine, result_cids=False)


def test_node_down_is_a_clear_error(busy_chain: Driver, new_warehouse) -> None:
    engine = new_warehouse()
    with pytest.raises(ChainUnavailable, match="not reachable"):
        ingestor(engine, busy_chain, url="http://127.0.0.1:9/rpc").tick(5)
    assert cursor_of(engine) is None


def test_killed_indexer_resumes_without_duplicates_or_gaps(
    busy_chain: Driver, proxy: FaultyProxy, new_warehouse, embedded_pg, tmp_path: Path
) -> None:
    engine = new_warehouse()
    proxy.faults.delay_s["starknet_getEvents"] = 0.3  # slow pages: the kill lands mid-run
    env = {
        **os.environ,
        "VERIFRAME_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "VERIFRAME_STARKNET_RPC_URL": proxy.url,
        "VERIFRAME_JOB_REGISTRY_ADDRESS": hex(busy_chain.registry.address),
        "VERIFRAME_INGEST_BATCH_EVENTS": "10",
        "VERIFRAME_DATA_DIR": str(tmp_path),
    }
    argv = [sys.executable, "-m", "veriframe.cli", "index", "--once"]
    indexer = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while cursor_of(engine) is None:
        assert indexer.poll() is None, indexer.stderr.read().decode()
        assert time.monotonic() < deadline, "the indexer never committed a batch"
        time.sleep(0.02)
    indexer.send_signal(signal.SIGKILL)
    indexer.wait(10)
    head = busy_chain.rpc("starknet_blockNumber")
    assert cursor_of(engine)[0] < head, "the indexer finished before it was killed"

    proxy.faults.clear()
    finished = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    with engine.connect() as conn:
        duplicates = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT transaction_hash, event_index FROM contract_events "
                "GROUP BY 1, 2 HAVING count(*) > 1) d"
            )
        ).scalar()
    assert duplicates == 0
    assert len(snapshot(engine)["contract_events"]) == chain_event_count(busy_chain)
    fresh = new_warehouse()
    ingestor(fresh, busy_chain).tick(60, until_caught_up=True)
    assert snapshot(engine) == snapshot(fresh)

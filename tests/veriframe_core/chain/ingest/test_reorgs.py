"""Reorganisations: the warehouse ends equal to a fresh index of the new chain."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.activity import Activity
from tests.support.chain import Driver, chain_event_count
from tests.support.warehouse import assert_tables_match_contract, ingestor, snapshot


@pytest.fixture(scope="module")
def activity(chain: Driver) -> Activity:
    activity = Activity(chain)
    activity.setup_workers()
    return activity


def busy_blocks(activity: Activity, count: int) -> None:
    """`count` blocks, each with transactions from several senders (so order matters)."""
    d = activity.d
    d.rpc("devchain_setAutoMine", {"enabled": False})
    try:
        open_jobs: list[tuple[int, object]] = []
        for n in range(count):
            for creator in activity.creators[:2]:
                for job in activity.create_jobs(creator, 1 + n % 2, ttl=10**6):
                    open_jobs.append((job, creator))
            if open_jobs:
                job, creator = open_jobs.pop(0)
                activity.submit(activity.workers[n % 3], job, creator)
            d.rpc("devchain_mine")
    finally:
        d.rpc("devchain_setAutoMine", {"enabled": True})


@pytest.mark.parametrize("depth", [1, 3, 10])
def test_reorg_ends_equal_to_a_fresh_index(
    chain: Driver, activity: Activity, new_warehouse, depth: int
) -> None:
    busy_blocks(activity, depth + 2)
    live = new_warehouse()
    ingestor(live, chain).tick(60, until_caught_up=True)
    head = chain.rpc("starknet_blockNumber")
    head_time = chain.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": head}})[
        "timestamp"
    ]
    fork = head - depth
    first_replaced = chain.rpc(
        "starknet_getBlockWithTxHashes", {"block_id": {"block_number": fork + 1}}
    )
    dropped = first_replaced["transactions"][0]
    result = chain.rpc("devchain_reorg", {"depth": depth, "drop": [dropped], "reorder": True})
    assert result["fork_block_number"] == fork and dropped in result["dropped"]

    report = ingestor(live, chain).tick(60, until_caught_up=True)
    assert len(report.reorgs) == 1
    assert report.reorgs[0]["old_cursor"] == head
    assert report.reorgs[0]["fork_block"] <= fork
    assert report.reorgs[0]["events_removed"] > 0
    rolled_back_until = dt.datetime.fromisoformat(report.reorgs[0]["rolled_back_until"])
    assert rolled_back_until.timestamp() == head_time  # the old branch's head

    fresh = new_warehouse()
    ingestor(fresh, chain, batch_events=1000).tick(60, until_caught_up=True)
    assert snapshot(live) == snapshot(fresh)
    assert len(snapshot(live)["contract_events"]) == chain_event_count(chain)
    assert_tables_match_contract(chain, live)


def test_reorg_deeper_than_the_window_reindexes_from_the_start(
    chain: Driver, activity: Activity, new_warehouse
) -> None:
    busy_blocks(activity, 6)
    live = new_warehouse()
    ingestor(live, chain, reorg_window=2).tick(60, until_caught_up=True)
    chain.rpc("devchain_reorg", {"depth": 5, "reorder": True})
    report = ingestor(live, chain, reorg_window=2).tick(60, until_caught_up=True)
    (reorg,) = report.reorgs
    assert reorg["fork_block"] == -1  # no stored hash matched: back to the start block
    fresh = new_warehouse()
    ingestor(fresh, chain).tick(60, until_caught_up=True)
    assert snapshot(live) == snapshot(fresh)

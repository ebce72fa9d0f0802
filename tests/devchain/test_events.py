"""starknet_getEvents: paging, filters, continuation tokens and reorgs, through starknet-py."""

from __future__ import annotations

import asyncio

import pytest
from starknet_py.net.client_errors import ClientError

from tests.support.chain import Driver, RpcFailure
from veriframe_core.chain.events import event_codec

JOBS_PER_TX = 260  # each create_job emits Transfer + JobCreated


def fetch_all(driver: Driver, chunk_size: int, **filters) -> list[tuple]:
    async def go():
        return await driver.client.get_events(
            from_block_number=0,
            to_block_number="latest",
            chunk_size=chunk_size,
            follow_continuation_token=True,
            **filters,
        )

    chunk = asyncio.run(go())
    assert chunk.continuation_token is None
    return [
        (
            e.block_number,
            e.block_hash,
            e.transaction_hash,
            e.transaction_index,
            e.event_index,
            e.from_address,
            tuple(e.keys),
            tuple(e.data),
        )
        for e in chunk.events
    ]


@pytest.fixture(scope="module")
def loaded(driver: Driver) -> Driver:
    """Two creators' multicalls, mined into shared blocks: over 1,000 events."""
    driver.rpc("devchain_setAutoMine", {"enabled": False})
    deadline = driver.now() + 10**6
    for creator in driver.accounts[1:3]:
        calls = [driver.call_of(driver.token, "approve", driver.registry.address, 10**24)]
        calls += [driver.reg("create_job", i + 1, 0, 10**15, deadline) for i in range(JOBS_PER_TX)]
        driver.send(creator, *calls)
        driver.rpc("devchain_mine")
    for account in driver.accounts[3:6]:
        driver.send(account, driver.reg("register_worker", 0x77))
    driver.rpc("devchain_setAutoMine", {"enabled": True})
    return driver


def test_pages_of_any_size_give_the_same_events(loaded: Driver) -> None:
    reference = fetch_all(loaded, 1000)
    assert len(reference) >= 1000
    positions = [(e[0], e[3], e[4]) for e in reference]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for size in (1, 7, 100):
        assert fetch_all(loaded, size) == reference


def test_address_and_key_filters(loaded: Driver) -> None:
    everything = fetch_all(loaded, 1000)
    registry, token = loaded.registry.address, loaded.token.address
    by_registry = fetch_all(loaded, 100, address=registry)
    assert by_registry == [e for e in everything if e[5] == registry]
    assert fetch_all(loaded, 7, address=token) == [e for e in everything if e[5] == token]
    codec = event_codec("job_registry")
    created = codec.selector("JobCreated")
    registered = codec.selector("WorkerRegistered")
    jobs = fetch_all(loaded, 100, address=registry, keys=[[created]])
    assert len(jobs) == 2 * JOBS_PER_TX and all(e[6][0] == created for e in jobs)
    either = fetch_all(loaded, 33, keys=[[created, registered]])
    assert either == [e for e in everything if e[6][0] in (created, registered)]
    creator = loaded.accounts[2].address
    by_creator = fetch_all(loaded, 50, keys=[[created], [], [creator]])
    assert len(by_creator) == JOBS_PER_TX and {e[6][2] for e in by_creator} == {creator}
    assert fetch_all(loaded, 10, keys=[[created], [], [], [0x1]]) == []  # key past the end


def test_address_list_filter(loaded: Driver) -> None:
    everything = fetch_all(loaded, 1000)
    both = loaded.rpc(
        "starknet_getEvents",
        {
            "filter": {
                "chunk_size": 1000,
                "from_block": {"block_number": 0},
                "to_block": "latest",
                "keys": [],
                "address": [hex(loaded.registry.address), hex(loaded.token.address)],
            }
        },
    )
    assert len(both["events"]) == min(1000, len(everything))


def test_bad_tokens_and_oversized_pages_are_errors(loaded: Driver) -> None:
    base = {"from_block": {"block_number": 0}, "to_block": "latest", "keys": []}
    for token in ("nonsense", "1-2-deadbeef", "999999-0-00000000", ""):
        with pytest.raises(RpcFailure) as err:
            loaded.rpc(
                "starknet_getEvents",
                {"filter": {**base, "chunk_size": 10, "continuation_token": token}},
            )
        assert err.value.code == 33
    with pytest.raises(RpcFailure) as err:
        loaded.rpc("starknet_getEvents", {"filter": {**base, "chunk_size": 1025}})
    assert err.value.code == 31
    with pytest.raises(RpcFailure) as err:
        loaded.rpc(
            "starknet_getEvents",
            {"filter": {**base, "chunk_size": 10, "to_block": {"block_number": 10**6}}},
        )
    assert err.value.code == 24

    async def starknet_py_sees_33():
        return await loaded.client.get_events(
            from_block_number=0,
            to_block_number="latest",
            chunk_size=5,
            continuation_token="0-1-00000000",
        )

    with pytest.raises(ClientError) as client_err:
        asyncio.run(starknet_py_sees_33())
    assert client_err.value.code == 33


def test_reorg_replaces_blocks_and_events_follow(loaded: Driver) -> None:
    driver = loaded
    worker_a, worker_b = driver.accounts[6], driver.accounts[7]
    head_before = driver.rpc("starknet_blockNumber")
    # three blocks to reorganise: two registrations and a multi-sender block
    ra = driver.send(worker_a, driver.reg("register_worker", 0xA))
    driver.rpc("devchain_setAutoMine", {"enabled": False})
    rb = driver.send(worker_b, driver.reg("register_worker", 0xB))
    rc = driver.send(driver.accounts[8], driver.reg("register_worker", 0xC))
    driver.rpc("devchain_mine")
    driver.rpc("devchain_setAutoMine", {"enabled": True})
    rd = driver.send(driver.accounts[9], driver.reg("register_worker", 0xD))
    old_hashes = {
        n: driver.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": n}})
        for n in range(head_before - 1, head_before + 4)
    }
    events_before = fetch_all(driver, 1000)

    result = driver.rpc(
        "devchain_reorg", {"depth": 3, "drop": [hex(ra.transaction_hash)], "reorder": True}
    )
    assert result["fork_block_number"] == head_before
    assert hex(ra.transaction_hash) in result["dropped"]
    new_head = driver.rpc("starknet_blockNumber")
    assert new_head == head_before + 3
    # blocks up to the fork keep their hashes; every block after it has a new one
    for n in range(head_before - 1, head_before + 1):
        block = driver.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": n}})
        assert block["block_hash"] == old_hashes[n]["block_hash"]
    for n in range(head_before + 1, new_head + 1):
        block = driver.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": n}})
        assert block["block_hash"] != old_hashes[n]["block_hash"]
        parent = driver.rpc("starknet_getBlockWithTxHashes", {"block_id": {"block_number": n - 1}})
        assert block["parent_hash"] == parent["block_hash"]
    # the old block hash no longer resolves
    with pytest.raises(RpcFailure) as err:
        driver.rpc(
            "starknet_getBlockWithTxHashes",
            {"block_id": {"block_hash": old_hashes[head_before + 2]["block_hash"]}},
        )
    assert err.value.code == 24
    # the dropped registration is gone from state and events; the reordered block changed order
    assert tuple(driver.view(driver.registry, "get_worker_status", worker_a.address)) == (
        False,
        0,
        0,
        0,
    )
    with pytest.raises(RpcFailure):
        driver.rpc("starknet_getTransactionStatus", {"transaction_hash": hex(ra.transaction_hash)})
    events_after = fetch_all(driver, 1000)
    old_tail = [e for e in events_before if e[0] > head_before]
    new_tail = [e for e in events_after if e[0] > head_before]
    assert {e[2] for e in new_tail} == {
        rb.transaction_hash,
        rc.transaction_hash,
        rd.transaction_hash,
    }
    assert all(e[1] not in {old["block_hash"] for old in old_hashes.values()} for e in new_tail)
    assert len(new_tail) == len(old_tail) - 1
    same_block = [e for e in new_tail if e[2] in (rb.transaction_hash, rc.transaction_hash)]
    assert [e[2] for e in same_block] == [rc.transaction_hash, rb.transaction_hash]  # reordered
    assert events_after[: len(events_before) - len(old_tail)] == [
        e for e in events_before if e[0] <= head_before
    ]
    # a token that points into a replaced block is refused after the reorg
    page_filter = {
        "chunk_size": 1,
        "from_block": {"block_number": new_head - 1},
        "to_block": "latest",
        "keys": [],
    }
    page = driver.rpc("starknet_getEvents", {"filter": page_filter})
    assert page["continuation_token"]
    driver.rpc("devchain_reorg", {"depth": 2})
    with pytest.raises(RpcFailure) as err:
        driver.rpc(
            "starknet_getEvents",
            {"filter": {**page_filter, "continuation_token": page["continuation_token"]}},
        )
    assert err.value.code == 33

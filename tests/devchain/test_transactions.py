"""Transaction validation, response shapes under starknet-py's strict schemas, and restarts."""

from __future__ import annotations

import asyncio
import os

import pytest
from starknet_py.contract import Contract
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.hash.storage import get_storage_var_address
from starknet_py.hash.utils import message_signature
from starknet_py.net.account.account import Account
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import (
    Call,
    ResourceBounds,
    ResourceBoundsMapping,
    TransactionExecutionStatus,
    TransactionFinalityStatus,
)
from starknet_py.net.models import StarknetChainId
from starknet_py.net.signer.key_pair import KeyPair

from devchain.process import DevchainProcess
from tests.support.chain import Driver
from veriframe_core.chain.abi import abi_functions
from veriframe_core.processes import free_port

BOUNDS = ResourceBoundsMapping(
    l1_gas=ResourceBounds(max_amount=0, max_price_per_unit=10**13),
    l2_gas=ResourceBounds(max_amount=10**8, max_price_per_unit=10**10),
    l1_data_gas=ResourceBounds(max_amount=10**5, max_price_per_unit=10**10),
)


def register_call(driver: Driver) -> Call:
    return driver.reg("register_worker", 0x5EED)


def send_signed(driver: Driver, account: Account, **kwargs) -> int:
    async def go() -> int:
        tx = await account.sign_invoke_v3(
            calls=[register_call(driver)], resource_bounds=BOUNDS, **kwargs
        )
        return (await driver.client.send_transaction(tx)).transaction_hash

    return asyncio.run(go())


def test_strict_schemas_are_in_force() -> None:
    assert not os.environ.get("STARKNET_PY_MARSHMALLOW_UNKNOWN_EXCLUDE")


def test_forged_signature_is_rejected(driver: Driver) -> None:
    victim, thief = driver.info["accounts"][1], driver.info["accounts"][2]
    forged = Account(
        client=driver.client,
        address=victim["address"],
        key_pair=KeyPair.from_private_key(thief["private_key"]),
        chain=driver.chain_id,
    )
    nonce_before = asyncio.run(driver.accounts[1].get_nonce())
    with pytest.raises(ClientError) as err:
        send_signed(driver, forged)
    assert err.value.code == 55 and "invalid signature" in str(err.value)
    assert asyncio.run(driver.accounts[1].get_nonce()) == nonce_before  # nothing was included


def test_wrong_chain_id_is_rejected(driver: Driver) -> None:
    raw = driver.info["accounts"][3]
    sepolia = Account(
        client=driver.client,
        address=raw["address"],
        key_pair=KeyPair.from_private_key(raw["private_key"]),
        chain=StarknetChainId.SEPOLIA,
    )
    with pytest.raises(ClientError) as err:
        send_signed(driver, sepolia)
    assert err.value.code == 55


def test_wrong_nonce_and_replay_are_rejected(driver: Driver) -> None:
    account = driver.accounts[4]
    nonce = asyncio.run(account.get_nonce())
    with pytest.raises(ClientError) as err:
        send_signed(driver, account, nonce=nonce + 1)
    assert err.value.code == 52

    async def send_twice() -> None:
        tx = await account.sign_invoke_v3(calls=[register_call(driver)], resource_bounds=BOUNDS)
        await driver.client.send_transaction(tx)
        await driver.client.send_transaction(tx)

    with pytest.raises(ClientError) as err:
        asyncio.run(send_twice())
    assert err.value.code in (52, 59)
    assert asyncio.run(account.get_nonce()) == nonce + 1


def test_too_little_l2_gas_reverts_and_keeps_the_nonce(driver: Driver) -> None:
    account = driver.accounts[5]
    nonce = asyncio.run(account.get_nonce())
    receipt = driver.send_unestimated(account, register_call(driver), l2_gas=1000)
    assert receipt.execution_status == TransactionExecutionStatus.REVERTED
    assert "Insufficient max L2Gas" in receipt.revert_reason
    assert asyncio.run(account.get_nonce()) == nonce + 1
    assert tuple(driver.view(driver.registry, "get_worker_status", account.address))[1] == 0


def test_account_is_valid_signature(driver: Driver) -> None:
    raw = driver.info["accounts"][6]
    message_hash = 0x1234ABCD
    r, s = message_signature(message_hash, int(raw["private_key"], 16))
    selector = get_selector_from_name("is_valid_signature")

    def check(signature: list[int]) -> list[int]:
        call = Call(
            to_addr=int(raw["address"], 16),
            selector=selector,
            calldata=[message_hash, len(signature), *signature],
        )
        return asyncio.run(driver.client.call_contract(call, block_number="latest"))

    assert check([r, s]) == [int.from_bytes(b"VALID", "big")]
    assert check([r, s + 1]) == [0]
    assert check([r]) == [0]


def test_responses_fit_starknet_py_schemas(driver: Driver) -> None:
    receipt = driver.send(driver.accounts[7], register_call(driver))

    async def go() -> None:
        client = driver.client
        assert await client.spec_version() == "0.10.2"
        assert await client.get_chain_id() == hex(driver.chain_id)
        head = await client.get_block_hash_and_number()
        full = await client.get_block(block_number=receipt.block_number)
        assert full.transactions[0].hash == receipt.transaction_hash
        assert full.block_hash == receipt.block_hash
        hashes = await client.get_block_with_tx_hashes(block_hash=head.block_hash)
        assert hashes.block_number == head.block_number
        pre = await client.get_block_with_tx_hashes(block_number="pre_confirmed")
        assert pre.block_number == head.block_number + 1
        tx = await client.get_transaction(receipt.transaction_hash)
        assert tx.sender_address == driver.accounts[7].address
        waited = await client.wait_for_tx(receipt.transaction_hash, check_interval=0.01)
        assert waited.finality_status == TransactionFinalityStatus.ACCEPTED_ON_L2
        status = await client.get_transaction_status(receipt.transaction_hash)
        assert status.execution_status == TransactionExecutionStatus.SUCCEEDED
        counter_slot = get_storage_var_address("job_counter")
        counter = await driver.registry.functions["get_job_counter"].call()
        assert (
            await client.get_storage_at(
                driver.registry.address, counter_slot, block_number="latest"
            )
            == counter[0]
        )
        class_hash = await client.get_class_hash_at(driver.registry.address)
        contract_class = await client.get_class_by_hash(class_hash)
        assert len(contract_class.entry_points_by_type.external) == len(
            abi_functions("job_registry")
        )
        fetched = await Contract.from_address(driver.registry.address, provider=driver.owner)
        assert "create_job_with_requirements" in fetched.functions
        with pytest.raises(ClientError) as err:
            await client.get_transaction_receipt(0x1234)
        assert err.value.code == 29
        with pytest.raises(ClientError) as err:
            await client.get_class_hash_at(0xDEAD)
        assert err.value.code == 20

    asyncio.run(go())


def test_state_survives_a_restart(tmp_path) -> None:
    node = DevchainProcess(tmp_path / "state", free_port(), accounts=3)
    info = node.start()
    try:
        driver = Driver(info)
        driver.send(driver.accounts[1], driver.reg("register_worker", 0x99))
        driver.rpc("devchain_increaseTime", {"seconds": 5000})
        driver.rpc("devchain_setAutoMine", {"enabled": False})
        driver.send(driver.accounts[2], driver.reg("register_worker", 0x98))  # pre-confirmed
        head = driver.rpc("starknet_blockHashAndNumber")
        events = driver.rpc(
            "starknet_getEvents",
            {
                "filter": {
                    "chunk_size": 100,
                    "from_block": {"block_number": 0},
                    "to_block": "latest",
                    "keys": [],
                }
            },
        )
        clock = driver.rpc("starknet_getBlockWithTxHashes", {"block_id": "pre_confirmed"})
    finally:
        node.stop()
    info = node.start()  # same state folder
    try:
        driver = Driver(info)
        # the pre-confirmed transaction was sealed on shutdown, not lost
        assert driver.rpc("starknet_blockNumber") == head["block_number"] + 1
        same = driver.rpc(
            "starknet_getBlockWithTxHashes", {"block_id": {"block_number": head["block_number"]}}
        )
        assert same["block_hash"] == head["block_hash"]
        assert (
            driver.rpc(
                "starknet_getEvents",
                {
                    "filter": {
                        "chunk_size": 100,
                        "from_block": {"block_number": 0},
                        "to_block": {"block_number": head["block_number"]},
                        "keys": [],
                    }
                },
            )
            == events
        )
        assert tuple(
            driver.view(driver.registry, "get_worker_status", driver.accounts[2].address)
        ) == (False, 500, 0, 0)
        assert driver.now() >= clock["timestamp"]
        driver.send(
            driver.accounts[1],
            driver.call_of(driver.token, "transfer", driver.accounts[2].address, 1),
        )
    finally:
        node.stop()

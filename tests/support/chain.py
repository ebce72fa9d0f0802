"""starknet-py's client, accounts and contracts pointed at one devchain, over HTTP, and the
one way the tests start a devchain of their own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from starknet_py.contract import Contract
from starknet_py.net.account.account import Account
from starknet_py.net.client_models import Call, ResourceBounds, ResourceBoundsMapping
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.net.signer.key_pair import KeyPair

from devchain.process import DevchainProcess
from veriframe_core.chain.abi import load_abi
from veriframe_core.processes import free_port


class RpcFailure(Exception):
    """A JSON-RPC error answer of the node."""

    def __init__(self, error: dict):
        super().__init__(f"{error['code']}: {error['message']} {error.get('data', '')}")
        self.code = error["code"]
        self.error = error


class Driver:
    """starknet-py's client, accounts and contracts pointed at one devchain."""

    def __init__(self, info: dict[str, Any]):
        self.info = info
        self.url = info["rpc_url"]
        self.chain_id = int(info["chain_id"], 16)
        self.client = FullNodeClient(node_url=self.url)
        self.accounts = [
            Account(
                client=self.client,
                address=a["address"],
                key_pair=KeyPair.from_private_key(a["private_key"]),
                chain=self.chain_id,
            )
            for a in info["accounts"]
        ]
        self.owner = self.accounts[0]
        # ABIs parsed once (starknet-py's parser is slow); the provider only matters for calls
        self.registry = Contract(
            int(info["job_registry_address"], 16),
            load_abi("job_registry"),
            self.owner,
            cairo_version=1,
        )
        self.token = Contract(
            int(info["token_address"], 16), load_abi("erc20"), self.owner, cairo_version=1
        )

    def private_key(self, account: Account) -> str:
        """The dev account's private key, as the devchain announced it (hex)."""
        return next(
            a["private_key"]
            for a in self.info["accounts"]
            if int(a["address"], 16) == account.address
        )

    # ---------------------------------------------------------------- raw JSON-RPC
    def rpc(self, method: str, params: Any = None) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        answer = httpx.post(self.url, json=body, timeout=60).json()
        if "error" in answer:
            raise RpcFailure(answer["error"])
        return answer["result"]

    # ---------------------------------------------------------------- helpers
    def call_of(self, contract: Contract, function: str, *args: Any) -> Call:
        return contract.functions[function].prepare_invoke_v3(*args)

    def reg(self, function: str, *args: Any) -> Call:
        return self.call_of(self.registry, function, *args)

    def send(self, account: Account, *calls: Call) -> Any:
        """Execute with fee estimation; returns the receipt (raises on estimation errors)."""

        async def go() -> Any:
            sent = await account.execute_v3(calls=list(calls), auto_estimate=True)
            return await self.client.get_transaction_receipt(sent.transaction_hash)

        return asyncio.run(go())

    def send_unestimated(self, account: Account, *calls: Call, l2_gas: int = 10**8) -> Any:
        """Execute with explicit bounds (no estimation), so a failing call lands as REVERTED."""
        bounds = ResourceBoundsMapping(
            l1_gas=ResourceBounds(max_amount=0, max_price_per_unit=10**13),
            l2_gas=ResourceBounds(max_amount=l2_gas, max_price_per_unit=10**10),
            l1_data_gas=ResourceBounds(max_amount=10**5, max_price_per_unit=10**10),
        )

        async def go() -> Any:
            sent = await account.execute_v3(calls=list(calls), resource_bounds=bounds)
            return await self.client.get_transaction_receipt(sent.transaction_hash)

        return asyncio.run(go())

    def view(self, contract: Contract, function: str, *args: Any, **block: Any) -> Any:
        result = asyncio.run(contract.functions[function].call(*args, **block))
        return result[0] if len(result) == 1 else result

    def now(self) -> int:
        """The chain's clock: the timestamp the next transaction executes with."""
        pre_confirmed = self.client.get_block_with_tx_hashes(block_number="pre_confirmed")
        return asyncio.run(pre_confirmed).timestamp

    def head(self) -> int:
        return self.rpc("starknet_blockNumber")


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


@contextmanager
def running_devchain(folder: Path, accounts: int = 12) -> Iterator[Driver]:
    """A devchain process with its state in `folder`, driven by starknet-py; stopped after."""
    node = DevchainProcess(folder / "state", free_port(), accounts=accounts)
    try:
        yield Driver(node.start())
    finally:
        node.stop()


def devchain_fixture(
    scope: Literal["session", "package", "module"], name: str = "chain", accounts: int = 12
) -> Callable[..., Iterator[Driver]]:
    """A fixture `name`: a devchain of its own for each `scope` (module, package), with
    `accounts` funded dev accounts. In a conftest: `chain = devchain_fixture("package")`."""

    @pytest.fixture(scope=scope, name=name)
    def devchain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
        with running_devchain(tmp_path_factory.mktemp(name), accounts) as driver:
            yield driver

    devchain.__doc__ = f"A devchain of the {scope}'s own ({accounts} funded accounts)."
    return devchain

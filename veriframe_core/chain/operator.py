"""Transactions from the operator's account on the JobRegistry: settlement's `finalize_job`,
the sanctions' `slash_worker_reputation` and `verify_worker`.

Transactions go out one after another on one nonce sequence (read once, then counted; read
again after a refusal, which may or may not have used the nonce), a transient RPC failure is
retried with backoff, and each is waited for, so the next one sees its effect.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from starknet_py.contract import Contract
from starknet_py.net.client_errors import ClientError
from starknet_py.net.full_node_client import FullNodeClient
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from veriframe_core.chain.accounts import contract_as

TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)

__all__ = ["ClientError", "OperatorAccount"]


class OperatorAccount:
    """The operator's account on one JobRegistry."""

    def __init__(self, rpc_url: str, registry: int, address: int, private_key: int):
        self.client = FullNodeClient(node_url=rpc_url)
        self.registry_address, self.address, self.private_key = registry, address, private_key
        self._nonce: int | None = None

    def chain_time(self) -> int:
        """The time the next transaction executes at (the pre-confirmed block's): the
        contract judges deadlines by it."""
        return asyncio.run(self.client.get_block(block_number="pre_confirmed")).timestamp

    async def registry(self) -> Contract:
        """The JobRegistry, called as the operator."""
        return await contract_as(
            self.client, self.registry_address, "job_registry", self.address, self.private_key
        )

    async def send(self, registry: Contract, function: str, *args: Any) -> int:
        """`function(*args)` from the operator's account, once accepted; its transaction
        hash. ClientError when the contract refuses it."""
        account = registry.account
        if self._nonce is None:
            self._nonce = await account.get_nonce()
        call = registry.functions[function].prepare_invoke_v3(*args)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(4),
                wait=wait_exponential(multiplier=0.5, max=10),
                retry=retry_if_exception_type(TRANSIENT),
                reraise=True,
            ):
                with attempt:
                    sent = await account.execute_v3(
                        calls=[call], nonce=self._nonce, auto_estimate=True
                    )
        except ClientError:
            self._nonce = None
            raise
        self._nonce += 1
        await self.client.wait_for_tx(sent.transaction_hash, check_interval=0.25)
        return sent.transaction_hash

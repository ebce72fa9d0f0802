"""Settlement: `finalize_job` for every job past its deadline with a submitted result, from
the operator's account. Anyone may finalize on the contract; the platform does it so that
workers are paid without anyone clicking.

Idempotent: a job the contract already reports completed is skipped, whoever finalized it.
Transactions go out one after another on one nonce sequence (read once, then counted; read
again after a failure), and a transient RPC failure is retried with backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
from starknet_py.contract import Contract
from starknet_py.net.account.account import Account
from starknet_py.net.client_errors import ClientError
from starknet_py.net.full_node_client import FullNodeClient
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from veriframe_core.chain.accounts import contract_as

TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


@dataclass(frozen=True)
class Settled:
    job_id: int
    outcome: str  # "finalized", "already finalized", "failed"
    detail: str = ""


class Settler:
    """Finalizes jobs on one JobRegistry from the operator's account."""

    def __init__(self, rpc_url: str, registry: int, address: int, private_key: int):
        self.client = FullNodeClient(node_url=rpc_url)
        self.registry_address, self.address, self.private_key = registry, address, private_key

    def chain_time(self) -> int:
        """The time the next transaction executes at (the pre-confirmed block's): the
        contract judges deadlines by it."""
        return asyncio.run(self.client.get_block(block_number="pre_confirmed")).timestamp

    def settle(self, job_ids: Iterable[int], say: Callable[[str], None]) -> list[Settled]:
        return asyncio.run(self._settle(list(job_ids), say))

    async def _settle(self, job_ids: list[int], say: Callable[[str], None]) -> list[Settled]:
        registry = await contract_as(
            self.client, self.registry_address, "job_registry", self.address, self.private_key
        )
        account = registry.account
        nonce: int | None = None
        results = []
        for job_id in job_ids:
            (completed,) = await registry.functions["is_job_completed"].call(job_id)
            if completed:
                results.append(Settled(job_id, "already finalized"))
                say(f"Settlement: job {job_id} is already finalized; skipped")
                continue
            if nonce is None:
                nonce = await account.get_nonce()
            try:
                tx = await self._finalize(account, registry, job_id, nonce)
            except ClientError as err:  # the contract refused: nothing else to do for it
                nonce = None  # a rejected transaction may or may not have used the nonce
                results.append(Settled(job_id, "failed", err.message))
                say(f"Settlement: finalize_job({job_id}) failed: {err.message}")
                continue
            nonce += 1
            results.append(Settled(job_id, "finalized", hex(tx)))
            say(f"Settlement: finalized job {job_id} in transaction {hex(tx)}")
        return results

    async def _finalize(self, account: Account, registry: Contract, job_id: int, nonce: int):
        call = registry.functions["finalize_job"].prepare_invoke_v3(job_id)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(4),
            wait=wait_exponential(multiplier=0.5, max=10),
            retry=retry_if_exception_type(TRANSIENT),
            reraise=True,
        ):
            with attempt:
                sent = await account.execute_v3(calls=[call], nonce=nonce, auto_estimate=True)
        await self.client.wait_for_tx(sent.transaction_hash, check_interval=0.25)
        return sent.transaction_hash

"""The worker's own transactions: `submit_result` on the JobRegistry, signed with its key."""

from __future__ import annotations

import asyncio

from starknet_py.contract import Contract
from starknet_py.net.full_node_client import FullNodeClient

from veriframe_core.chain.accounts import contract_as
from veriframe_core.chain.cids import cid_to_felts


class ChainSubmitter:
    """Submits results from the worker's account to one JobRegistry."""

    def __init__(
        self, rpc_url: str, registry: int, address: int, private_key: int, poll_s: float = 0.25
    ):
        self.client = FullNodeClient(node_url=rpc_url)
        self.registry, self.address, self.private_key = registry, address, private_key
        self.poll_s = poll_s  # starknet-py's default, 2 s, added seconds to every job
        self._contract: Contract | None = None  # its ABI parsed once: starknet-py is slow at it

    def submit_result(self, job_id: int, cid: str) -> int:
        """Send `submit_result(job_id, cid)` and wait for it; the transaction hash."""
        return asyncio.run(self._submit(job_id, cid))

    async def _registry(self) -> Contract:
        if self._contract is None:
            self._contract = await contract_as(
                self.client, self.registry, "job_registry", self.address, self.private_key
            )
        return self._contract

    async def _submit(self, job_id: int, cid: str) -> int:
        registry = await self._registry()
        call = registry.functions["submit_result"].prepare_invoke_v3(job_id, *cid_to_felts(cid))
        sent = await registry.account.execute_v3(calls=[call], auto_estimate=True)
        await self.client.wait_for_tx(sent.transaction_hash, check_interval=self.poll_s)
        return sent.transaction_hash

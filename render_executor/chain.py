"""The worker's own transactions: `submit_result` on the JobRegistry, signed with its key.

A submission outlasts an outage of the node (`outlasting.chain_unreachable`): it is tried
again until the node is back. A transaction sent before the node went away is not sent
twice: once the node is back, the agent waits for the one it sent.
"""

from __future__ import annotations

import asyncio
import logging

from starknet_py.contract import Contract
from starknet_py.net.full_node_client import FullNodeClient

from render_executor.outlasting import chain_unreachable
from veriframe_core.chain.accounts import contract_as
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.outages import Outages, RetryPolicy

log = logging.getLogger("veriframe.worker")


class ChainSubmitter:
    """Submits results from the worker's account to one JobRegistry."""

    def __init__(
        self,
        rpc_url: str,
        registry: int,
        address: int,
        private_key: int,
        poll_s: float = 0.25,
        outages: Outages | None = None,
    ):
        self.client = FullNodeClient(node_url=rpc_url)
        self.registry, self.address, self.private_key = registry, address, private_key
        self.poll_s = poll_s  # starknet-py's default, 2 s, added seconds to every job
        self.outages = outages or Outages(f"The chain's node at {rpc_url}", RetryPolicy(), log)
        self._contract: Contract | None = None  # its ABI parsed once: starknet-py is slow at it

    def submit_result(self, job_id: int, cid: str) -> int:
        """Send `submit_result(job_id, cid)` and wait for it; the transaction hash."""
        sent: list[int] = []  # the transaction, once sent: waited for, never sent again
        return self.outages.outlast(
            lambda: asyncio.run(self._submit(job_id, cid, sent)), chain_unreachable
        )

    async def _registry(self) -> Contract:
        if self._contract is None:
            self._contract = await contract_as(
                self.client, self.registry, "job_registry", self.address, self.private_key
            )
        return self._contract

    async def _submit(self, job_id: int, cid: str, sent: list[int]) -> int:
        if not sent:
            registry = await self._registry()
            call = registry.functions["submit_result"].prepare_invoke_v3(job_id, *cid_to_felts(cid))
            invoked = await registry.account.execute_v3(calls=[call], auto_estimate=True)
            sent.append(invoked.transaction_hash)
        await self.client.wait_for_tx(sent[0], check_interval=self.poll_s)
        return sent[0]

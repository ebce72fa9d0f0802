"""The worker's own account on the JobRegistry: `submit_result` and `register_worker`,
signed with its key, and its status there (registered, verified, reputation).

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
from veriframe_core.chain.views import WorkerStatus
from veriframe_core.outages import Outages, RetryPolicy

log = logging.getLogger("veriframe.worker")


class ChainSubmitter:
    """The worker's account on one JobRegistry: submits its results, registers it."""

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

    def register_worker(self, profile_cid: str) -> int:
        """`register_worker` with the profile's CID as far as one felt holds it (its first 31
        characters, as a job's CID part 1 is stored); the transaction hash."""
        sent: list[int] = []
        info = cid_to_felts(profile_cid)[0]
        return self.outages.outlast(
            lambda: asyncio.run(self._invoke("register_worker", (info,), sent)), chain_unreachable
        )

    def status(self) -> WorkerStatus:
        """The account's `get_worker_status`."""
        return self.outages.outlast(lambda: asyncio.run(self._status()), chain_unreachable)

    async def _status(self) -> WorkerStatus:
        registry = await self._registry()
        (status,) = await registry.functions["get_worker_status"].call(self.address)
        return WorkerStatus(*status)

    async def _submit(self, job_id: int, cid: str, sent: list[int]) -> int:
        return await self._invoke("submit_result", (job_id, *cid_to_felts(cid)), sent)

    async def _invoke(self, function: str, args: tuple, sent: list[int]) -> int:
        """`function(*args)` sent from the account, unless an earlier try sent it (`sent`),
        and waited for; the transaction hash."""
        if not sent:
            registry = await self._registry()
            call = registry.functions[function].prepare_invoke_v3(*args)
            invoked = await registry.account.execute_v3(calls=[call], auto_estimate=True)
            sent.append(invoked.transaction_hash)
        await self.client.wait_for_tx(sent[0], check_interval=self.poll_s)
        return sent[0]

"""The local platform's bootstrap: one devchain account becomes the local worker, registered
and verified on chain (by the owner account), so the agent `veriframe up` starts may claim.

Idempotent: a worker already registered is not registered again, a verified one not
verified again, so a second `up` on the same chain changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starknet_py.cairo.felt import encode_shortstring
from starknet_py.contract import Contract
from starknet_py.net.full_node_client import FullNodeClient

from veriframe_core.chain.accounts import contract_as

LOCAL_WORKER_INFO = encode_shortstring("veriframe-local-worker")
"""`register_worker`'s worker info CID (any non-zero felt; the profile lives in the API)."""


@dataclass(frozen=True)
class LocalWorker:
    address: int
    private_key: int
    reputation: int


def local_worker(chain: dict[str, Any]) -> LocalWorker:
    """Register and verify the chain file's last account as the local worker."""
    return asyncio.run(_bootstrap(chain))


async def _bootstrap(chain: dict[str, Any]) -> LocalWorker:
    client = FullNodeClient(node_url=chain["rpc_url"])
    keys = {int(a["address"], 16): int(a["private_key"], 16) for a in chain["accounts"]}
    owner = int(chain["owner_address"], 16)
    worker = int(chain["accounts"][-1]["address"], 16)

    registry = int(chain["job_registry_address"], 16)

    async def registry_as(address: int) -> Contract:
        return await contract_as(client, registry, "job_registry", address, keys[address])

    as_worker = await registry_as(worker)
    verified, reputation, *_ = await _status(as_worker, worker)
    if reputation == 0:  # unregistered workers have no reputation; registered start at 500
        await _invoke(client, as_worker, "register_worker", LOCAL_WORKER_INFO)
    if not verified:
        await _invoke(client, await registry_as(owner), "verify_worker", worker, True)
    _, reputation, *_ = await _status(as_worker, worker)
    return LocalWorker(worker, keys[worker], reputation)


async def _status(registry: Contract, worker: int) -> tuple:
    (status,) = await registry.functions["get_worker_status"].call(worker)
    return tuple(status)


async def _invoke(client: FullNodeClient, registry: Contract, function: str, *args: Any) -> None:
    sent = await registry.functions[function].invoke_v3(*args, auto_estimate=True)
    await client.wait_for_tx(sent.hash, check_interval=0.25)

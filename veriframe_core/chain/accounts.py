"""A contract as one account signs for it: the one place a key becomes a starknet-py
`Account` (the worker's `submit_result`, settlement, the bootstrap, the creator's commands)."""

from __future__ import annotations

from starknet_py.contract import Contract
from starknet_py.net.account.account import Account
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.net.signer.key_pair import KeyPair

from veriframe_core.chain.abi import load_abi


async def contract_as(
    client: FullNodeClient, contract: int, abi: str, address: int, private_key: int
) -> Contract:
    """`contract` (ABI `abi`, e.g. "job_registry") with `address` signing its invokes; the
    chain id is read from the node. Parse once and keep it: starknet-py is slow at ABIs."""
    chain_id = int(await client.get_chain_id(), 16)
    account = Account(
        address=address,
        client=client,
        key_pair=KeyPair.from_private_key(private_key),
        chain=chain_id,
    )
    return Contract(contract, load_abi(abi), account, cairo_version=1)

"""Open a devchain: load it from its state folder, or create block 0 and write the chain file.

Accounts are derived from a seed, so the same seed always gives the same keys and
addresses; the chain file (`chain.json`) tells clients where everything is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from poseidon_py.poseidon_hash import poseidon_hash_many
from starknet_py.cairo.felt import decode_shortstring, encode_shortstring
from starknet_py.constants import EC_ORDER
from starknet_py.hash.address import compute_address
from starknet_py.hash.utils import private_to_stark_key

from devchain.chain import Chain, DevAccount
from devchain.contracts.account import Account
from devchain.contracts.erc20 import Erc20
from devchain.contracts.job_registry import JobRegistry

log = logging.getLogger("devchain")

FUNDING_PER_ACCOUNT = 1_000_000 * 10**18


def derive_accounts(seed: int, count: int) -> list[DevAccount]:
    """`count` deterministic accounts: keys from the seed, addresses as deploy_account computes."""
    accounts = []
    for index in range(count):
        private_key = poseidon_hash_many([seed, index]) % (EC_ORDER - 1) + 1
        public_key = private_to_stark_key(private_key)
        address = compute_address(
            class_hash=Account.class_hash(), constructor_calldata=[public_key], salt=public_key
        )
        accounts.append(DevAccount(address, private_key, public_key))
    return accounts


def open_chain(state_dir: Path | None, chain_id: str, seed: int, n_accounts: int) -> Chain:
    """The chain kept in `state_dir` if there is one, else a new one with its genesis block."""
    chain_id_felt = encode_shortstring(chain_id)
    chain = Chain(chain_id_felt, state_dir)
    if chain.load():
        if chain.chain_id != chain_id_felt or chain.info.get("seed") != seed:
            log.warning(
                "devchain: %s holds a chain made with other settings; keeping it as it is",
                state_dir,
            )
        log.info("devchain: resumed at block %d from %s", chain.latest.number, state_dir)
        return chain
    accounts = derive_accounts(seed, n_accounts)
    owner = accounts[0].address
    token = compute_address(class_hash=Erc20.class_hash(), constructor_calldata=[owner], salt=seed)
    registry = compute_address(
        class_hash=JobRegistry.class_hash(), constructor_calldata=[owner, token], salt=seed
    )
    chain.info = {
        "chain_id": hex(chain_id_felt),
        "chain_id_name": chain_id,
        "seed": seed,
        "token_address": hex(token),
        "job_registry_address": hex(registry),
        "owner_address": hex(owner),
        "start_block": 0,
        "accounts": [
            {
                "address": hex(a.address),
                "private_key": hex(a.private_key),
                "public_key": hex(a.public_key),
            }
            for a in accounts
        ],
    }
    chain.genesis(accounts, token, registry, FUNDING_PER_ACCOUNT)
    return chain


def write_chain_file(chain: Chain, path: Path, rpc_url: str) -> dict[str, Any]:
    """Write what clients need to reach this chain (atomically: write, then rename)."""
    info = {key: value for key, value in chain.info.items() if key != "deployments"}
    info["rpc_url"] = rpc_url
    info["chain_id_name"] = decode_shortstring(chain.chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)
    return info

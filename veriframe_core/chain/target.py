"""Which contract the platform follows, on which node, from which block."""

from __future__ import annotations

import json
from dataclasses import dataclass

from veriframe_core.chain.addresses import normalize_address
from veriframe_core.settings import CommonSettings, Settings


@dataclass(frozen=True)
class IngestTarget:
    """What to index and where from."""

    rpc_url: str
    contract: int
    start_block: int = 0

    @property
    def contract_hex(self) -> str:
        return normalize_address(self.contract)


def resolve_target(settings: CommonSettings) -> IngestTarget:
    """The contract to index: from settings, or (unset) from devchain's chain file."""
    if settings.job_registry_address:
        return IngestTarget(
            settings.starknet_rpc_url,
            int(settings.job_registry_address, 16),
            settings.start_block,
        )
    chain_file = settings.devchain_chain_file
    if not chain_file.exists():
        raise RuntimeError(
            f"JobRegistry address unknown: set VERIFRAME_JOB_REGISTRY_ADDRESS (and "
            f"VERIFRAME_STARKNET_RPC_URL) or start devchain (`veriframe devchain`), "
            f"which writes {chain_file}"
        )
    info = json.loads(chain_file.read_text())
    return IngestTarget(
        info["rpc_url"],
        int(info["job_registry_address"], 16),
        max(settings.start_block, info.get("start_block", 0)),
    )


def resolve_operator(settings: Settings) -> tuple[int, int]:
    """The settlement operator's address and key: from settings, or, on the local devchain
    (no registry configured), devchain's owner from its chain file."""
    if settings.operator_address and settings.operator_private_key:
        key = settings.operator_private_key.get_secret_value()
        return int(settings.operator_address, 16), int(key, 16)
    chain_file = settings.devchain_chain_file
    if settings.job_registry_address or not chain_file.exists():
        raise RuntimeError(
            "settlement needs the operator's account: set VERIFRAME_OPERATOR_ADDRESS and "
            "VERIFRAME_OPERATOR_PRIVATE_KEY"
        )
    info = json.loads(chain_file.read_text())
    owner = next(a for a in info["accounts"] if a["address"] == info["owner_address"])
    return int(owner["address"], 16), int(owner["private_key"], 16)

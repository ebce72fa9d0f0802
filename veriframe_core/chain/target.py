"""Which contract the platform follows, on which node, from which block."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from veriframe_core.chain.addresses import normalize_address
from veriframe_core.settings import CommonSettings


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
    return chain_target(
        settings.starknet_rpc_url,
        settings.job_registry_address,
        settings.start_block,
        settings.devchain_chain_file,
    )


def chain_target(
    rpc_url: str, registry: str | None, start_block: int, chain_file: Path
) -> IngestTarget:
    """`resolve_target` from the values it reads (what Dagster's chain resource holds)."""
    if registry:
        return IngestTarget(rpc_url, int(registry, 16), start_block)
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
        max(start_block, info.get("start_block", 0)),
    )


def operator_account(
    address: str | None, key: str | None, registry: str | None, chain_file: Path
) -> tuple[int, int]:
    """The settlement operator's address and key: as given, or, on the local devchain (no
    registry configured), devchain's owner from its chain file."""
    if address and key:
        return int(address, 16), int(key, 16)
    if registry or not chain_file.exists():
        raise RuntimeError(
            "settlement needs the operator's account: set VERIFRAME_OPERATOR_ADDRESS and "
            "VERIFRAME_OPERATOR_PRIVATE_KEY"
        )
    info = json.loads(chain_file.read_text())
    owner = next(a for a in info["accounts"] if a["address"] == info["owner_address"])
    return int(owner["address"], 16), int(owner["private_key"], 16)

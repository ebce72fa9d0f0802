"""What a creator's machine needs to know of the platform besides its URL: the chain it
follows (node, JobRegistry, reward token) and the limits it applies, so that `veriframe`
needs nothing else configured."""

from __future__ import annotations

import json

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import SettingsDep
from api.errors import ApiError, errors
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.target import resolve_target
from veriframe_core.protocol import examples

router = APIRouter(tags=["network"])


class Network(BaseModel):
    model_config = examples(
        {
            "rpc_url": "https://starknet-sepolia.example/rpc/v0_10",
            "job_registry_address": "0x" + "0" * 60 + "4e67",
            "token_address": "0x" + "0" * 60 + "70cc",
            "max_upload_bytes": 2 * 1024**3,
            "max_failures_per_job": 3,
        }
    )

    rpc_url: str | None = Field(
        description="a StarkNet JSON-RPC endpoint for creators to sign with (the operator's "
        "`api_public_rpc_url`, or the local devchain's); null: none is published, creators "
        "bring their own"
    )
    job_registry_address: str
    token_address: str | None = Field(description="the reward token (ERC-20); null: unknown")
    max_upload_bytes: int = Field(description="the largest scene `POST /assets` takes")
    max_failures_per_job: int = Field(
        description="a worker's failed attempts on a job after which it may not claim it again"
    )


@router.get(
    "/network",
    response_model=Network,
    responses=errors(said={503: "the platform follows no contract yet"}),
    summary="The chain, contract and token this platform follows, and its limits",
)
def network(settings: SettingsDep) -> dict:
    try:
        target = resolve_target(settings)
    except RuntimeError as err:
        raise ApiError(503, str(err)) from None
    devchain = {}
    if settings.devchain_chain_file.exists():
        devchain = json.loads(settings.devchain_chain_file.read_text())
    token = settings.token_address or devchain.get("token_address")
    # the node the platform reads is the operator's: its URL may carry a provider's key
    local = target.rpc_url if target.rpc_url == devchain.get("rpc_url") else None
    return {
        "rpc_url": settings.api_public_rpc_url or local,
        "job_registry_address": target.contract_hex,
        "token_address": normalize_address(token) if token else None,
        "max_upload_bytes": settings.api_max_upload_bytes,
        "max_failures_per_job": settings.api_max_failures_per_job,
    }

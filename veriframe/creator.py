"""What a creator does, as `veriframe submit` and `veriframe rate` do it: put the scene on
IPFS, escrow the reward on chain (`approve` and `create_job_with_requirements` in one
transaction), attach the render settings through the API (signed in with the same key), and
rate the worker once the job is paid.

The account comes from settings (`creator_address`, `creator_private_key`); on devchain with
neither set, it is the chain file's first funded account (account 0 is the owner).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starknet_py.contract import Contract
from starknet_py.net.full_node_client import FullNodeClient

from veriframe_core.chain.accounts import contract_as
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.chain.events import event_codec
from veriframe_core.chain.target import resolve_target
from veriframe_core.ipfs import IpfsClient
from veriframe_core.login import AccountLogin, LoginRefused
from veriframe_core.protocol import error_message
from veriframe_core.settings import Settings


class CreatorError(RuntimeError):
    """A creator command cannot go on; the message says why and what to change."""


@dataclass(frozen=True)
class CreatorAccount:
    rpc_url: str
    registry: int
    token: int
    address: int
    private_key: int

    @classmethod
    def from_settings(cls, settings: Settings) -> CreatorAccount:
        chain: dict[str, Any] = {}
        if settings.devchain_chain_file.exists():
            chain = json.loads(settings.devchain_chain_file.read_text())
        token = settings.token_address or chain.get("token_address")
        if settings.creator_address and settings.creator_private_key:
            address = settings.creator_address
            key = settings.creator_private_key.get_secret_value()
        elif chain:
            address, key = chain["accounts"][1]["address"], chain["accounts"][1]["private_key"]
        else:
            raise CreatorError(
                "no creator account: set VERIFRAME_CREATOR_ADDRESS and "
                "VERIFRAME_CREATOR_PRIVATE_KEY (or run `veriframe up`, whose devchain has one)"
            )
        try:
            target = resolve_target(settings)  # the node and registry the platform follows
        except RuntimeError as err:
            raise CreatorError(str(err)) from None
        if not token:
            raise CreatorError(
                "the reward token's address is unknown: set VERIFRAME_TOKEN_ADDRESS "
                "(or run `veriframe up`)"
            )
        return cls(target.rpc_url, target.contract, int(token, 16), int(address, 16), int(key, 16))


def pack(path: Path) -> bytes | Path:
    """What to upload for `path`: a `.blend` or an archive as it is; a folder as a zip of
    its files (paths relative to it, no links followed)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise CreatorError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    if not any(p.suffix == ".blend" for p in files):
        raise CreatorError(f"{path}: the folder holds no .blend file")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.relative_to(path).as_posix())
    return buffer.getvalue()


def upload(ipfs_api: str, path: Path) -> str:
    """The scene (file, archive or folder) added to IPFS and pinned; its CID."""
    content = pack(path)
    with IpfsClient(ipfs_api) as ipfs:
        return ipfs.add(content) if isinstance(content, Path) else ipfs.add_bytes(content)


class Creator:
    """One creator account on one chain and API."""

    def __init__(self, account: CreatorAccount, api_url: str):
        self.account = account
        auth = AccountLogin(api_url, account.address, account.private_key, "creator")
        self.api = httpx.Client(base_url=api_url, timeout=30, auth=auth)

    def close(self) -> None:
        self.api.close()

    def create_job(self, cid: str, reward: int, deadline_s: int, min_reputation: int) -> int:
        """Escrow `reward` for `cid` until `deadline_s` from now (chain time); the job id."""
        return asyncio.run(self._create(cid, reward, deadline_s, min_reputation))

    def rate(self, job_id: int, score: int) -> int:
        """`update_worker_reputation` for the job's worker; the transaction hash."""
        return asyncio.run(self._rate(job_id, score))

    def attach(self, job_id: int, render_settings: dict[str, Any], wait_s: float = 60) -> dict:
        """Attach the render settings once the API has indexed the job; the job's document."""
        deadline = time.monotonic() + wait_s
        while (found := self.api.get(f"/api/v1/jobs/{job_id}")).status_code == 404:
            if time.monotonic() > deadline:
                raise CreatorError(f"job {job_id} was not indexed within {wait_s:.0f} s")
            time.sleep(0.2)
        found.raise_for_status()
        try:
            answer = self.api.post("/api/v1/jobs", json={"job_id": job_id, **render_settings})
        except LoginRefused as err:
            raise CreatorError(str(err)) from None
        if answer.status_code != 200:
            raise CreatorError(f"the API refused the render settings: {error_message(answer)}")
        return answer.json()

    async def _as_creator(self, client: FullNodeClient, contract: int, abi: str) -> Contract:
        return await contract_as(
            client, contract, abi, self.account.address, self.account.private_key
        )

    async def _create(self, cid: str, reward: int, deadline_s: int, min_reputation: int) -> int:
        client = FullNodeClient(node_url=self.account.rpc_url)
        registry = await self._as_creator(client, self.account.registry, "job_registry")
        token = await self._as_creator(client, self.account.token, "erc20")
        now = (await client.get_block(block_number="pre_confirmed")).timestamp
        calls = [
            token.functions["approve"].prepare_invoke_v3(self.account.registry, reward),
            registry.functions["create_job_with_requirements"].prepare_invoke_v3(
                *cid_to_felts(cid), reward, now + deadline_s, min_reputation
            ),
        ]
        sent = await registry.account.execute_v3(calls=calls, auto_estimate=True)
        receipt = await client.wait_for_tx(sent.transaction_hash, check_interval=0.25)
        created = event_codec("job_registry").selector("JobCreated")
        for event in receipt.events:
            if event.keys[0] == created:
                return event.keys[1]
        raise CreatorError(f"transaction {hex(sent.transaction_hash)} created no job")

    async def _rate(self, job_id: int, score: int) -> int:
        client = FullNodeClient(node_url=self.account.rpc_url)
        registry = await self._as_creator(client, self.account.registry, "job_registry")
        (worker,) = await registry.functions["get_job_worker"].call(job_id)
        if not worker:
            raise CreatorError(f"job {job_id} has no worker yet: nothing to rate")
        call = registry.functions["update_worker_reputation"].prepare_invoke_v3(
            worker, job_id, score
        )
        sent = await registry.account.execute_v3(calls=[call], auto_estimate=True)
        await client.wait_for_tx(sent.transaction_hash, check_interval=0.25)
        return sent.transaction_hash

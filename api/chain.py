"""The API's view of the chain: one pooled RPC session per process, the chain id every login
message is bound to, and the JobRegistry owner (the built-in admin)."""

from __future__ import annotations

import time

import aiohttp
from starknet_py.hash.selector import get_selector_from_name

from api.auth.signatures import LoginMessage, signature_is_valid
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.rpc import BlockHeader, ChainRpcError, StarknetRpc
from veriframe_core.chain.target import resolve_target
from veriframe_core.settings import Settings

OWNER = get_selector_from_name("owner")
OWNER_CACHE_S = 60.0


class ApiChain:
    """Chain reads of one API process (opened and closed by the app's lifespan)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None
        self._chain_id: int | None = None
        self._owner: tuple[float, str | None] | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def rpc(self, timeout_s: float | None = None) -> StarknetRpc:
        assert self.session is not None, "ApiChain.open() first"
        timeout = timeout_s or self.settings.starknet_rpc_timeout_s
        return StarknetRpc(self.settings.starknet_rpc_url, self.session, timeout)

    async def head(self, timeout_s: float) -> BlockHeader:
        """The newest block (number and time), for probes that must answer within `timeout_s`."""
        return await self.rpc(timeout_s).latest_header()

    async def chain_id(self) -> int:
        """The node's chain id (asked once: it never changes under a running node)."""
        if self._chain_id is None:
            self._chain_id = int(await self.rpc().request("starknet_chainId", {}), 16)
        return self._chain_id

    async def owner(self) -> str | None:
        """The JobRegistry's owner at `latest` (cached a minute); None when unknown."""
        now = time.monotonic()
        if self._owner is not None and now - self._owner[0] < OWNER_CACHE_S:
            return self._owner[1]
        try:
            contract = resolve_target(self.settings).contract
        except RuntimeError:
            owner = None
        else:
            request = {"contract_address": hex(contract), "entry_point_selector": hex(OWNER)}
            try:
                result = await self.rpc().request(
                    "starknet_call", {"request": {**request, "calldata": []}, "block_id": "latest"}
                )
                owner = normalize_address(result[0])
            except ChainRpcError:
                owner = None
        self._owner = (now, owner)
        return owner

    async def signature_is_valid(self, message: LoginMessage, signature: list[int]) -> bool:
        return await signature_is_valid(self.rpc(), message, signature)

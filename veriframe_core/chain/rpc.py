"""The ingestion's StarkNet JSON-RPC access: paged events, block headers, batched view calls.

Why not starknet-py's FullNodeClient here: it parses every event through marshmallow (about
14,000 events/s on this machine, bench/README.md) and cannot batch requests, while a backfill
needs hundreds of thousands of events and two view calls per new job. This client speaks the
same JSON-RPC 0.10.2 over one pooled aiohttp session, sends JSON-RPC batches, and keeps
starknet-py for what it does well: selectors and ABI (de)serialization.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from veriframe_core.chain.addresses import to_hex

PAGE_SIZE = 1000
BATCH_SIZE = 200  # requests per JSON-RPC batch
MAX_IN_FLIGHT = 4  # batches sent concurrently


BLOCK_NOT_FOUND = 24  # spec error codes the ingestion reacts to
INVALID_CONTINUATION_TOKEN = 33


class ChainUnavailable(RuntimeError):
    """The node could not be reached, timed out or answered garbage."""


class ChainRpcError(RuntimeError):
    """The node answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"StarkNet RPC error {code}: {message}" + (f" ({data})" if data else ""))
        self.code = code
        self.data = data


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: int
    parent_hash: int
    timestamp: int


RawEvent = dict[str, Any]
"""An emitted event exactly as getEvents returns it: felts stay hex strings (`keys`, `data`,
`block_hash`, `transaction_hash`) until the decoder needs them, so no felt is converted twice."""


def _ints(values: list[str]) -> list[int]:
    return [int(v, 16) for v in values]


class StarknetRpc:
    """A JSON-RPC client bound to one node URL and one aiohttp session."""

    def __init__(self, url: str, session: aiohttp.ClientSession, timeout_s: float = 30):
        self.url = url
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def _post(self, body: Any) -> Any:
        try:
            async with (
                self._gate,
                self.session.post(
                    self.url,
                    data=orjson.dumps(body),
                    headers={"Content-Type": "application/json"},
                    timeout=self.timeout,
                ) as response,
            ):
                payload = await response.read()
                if response.status >= 300:
                    raise ChainUnavailable(
                        f"StarkNet node at {self.url} answered HTTP {response.status}"
                    )
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ChainUnavailable(
                f"StarkNet node at {self.url} not reachable ({type(err).__name__}: {err}); "
                "start devchain with `veriframe devchain` or set VERIFRAME_STARKNET_RPC_URL"
            ) from err
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as err:
            raise ChainUnavailable(f"StarkNet node at {self.url} sent invalid JSON") from err

    @staticmethod
    def _result(answer: dict) -> Any:
        if "error" in answer:
            error = answer["error"]
            raise ChainRpcError(error.get("code", 0), error.get("message", ""), error.get("data"))
        return answer["result"]

    async def request(self, method: str, params: Any) -> Any:
        answer = await self._post({"jsonrpc": "2.0", "id": 0, "method": method, "params": params})
        return self._result(answer)

    async def batch(self, requests: Sequence[tuple[str, Any]]) -> list[Any]:
        """Results of many requests, sent as concurrent JSON-RPC batches; first error raises."""

        async def one_batch(offset: int) -> list[Any]:
            chunk = requests[offset : offset + BATCH_SIZE]
            body = [
                {"jsonrpc": "2.0", "id": offset + i, "method": m, "params": p}
                for i, (m, p) in enumerate(chunk)
            ]
            answers = await self._post(body)
            if isinstance(answers, dict):  # the node refused the batch as a whole
                self._result(answers)
            if not isinstance(answers, list) or len(answers) != len(chunk):
                raise ChainUnavailable(f"StarkNet node at {self.url} answered a batch badly")
            by_id = {a.get("id"): a for a in answers}
            return [self._result(by_id[offset + i]) for i in range(len(chunk))]

        parts = await asyncio.gather(*(one_batch(o) for o in range(0, len(requests), BATCH_SIZE)))
        return [result for part in parts for result in part]

    # ------------------------------------------------------------------ blocks
    async def block_number(self) -> int:
        return await self.request("starknet_blockNumber", {})

    @staticmethod
    def _header(raw: dict) -> BlockHeader:
        return BlockHeader(
            number=raw["block_number"],
            hash=int(raw["block_hash"], 16),
            parent_hash=int(raw["parent_hash"], 16),
            timestamp=raw["timestamp"],
        )

    async def headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        """Headers of the given blocks (error 24 if one does not exist)."""
        raws = await self.batch(
            [("starknet_getBlockWithTxHashes", {"block_id": {"block_number": n}}) for n in numbers]
        )
        return {raw["block_number"]: self._header(raw) for raw in raws}

    async def header(self, number: int) -> BlockHeader:
        return (await self.headers([number]))[number]

    async def latest_header(self) -> BlockHeader:
        """The newest accepted block's header: the head and its time in one request."""
        raw = await self.request("starknet_getBlockWithTxHashes", {"block_id": "latest"})
        return self._header(raw)

    # ------------------------------------------------------------------ events
    async def events(
        self, address: int, from_block: int, to_block: int, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[list[RawEvent]]:
        """Pages of the contract's events in [from_block, to_block], in chain order."""
        token: str | None = None
        while True:
            flt: dict[str, Any] = {
                "from_block": {"block_number": from_block},
                "to_block": {"block_number": to_block},
                "address": to_hex(address),
                "keys": [],
                "chunk_size": page_size,
            }
            if token:
                flt["continuation_token"] = token
            result = await self.request("starknet_getEvents", {"filter": flt})
            yield result["events"]
            token = result.get("continuation_token")
            if not token:
                return

    # ------------------------------------------------------------------ calls
    async def calls(self, calls: Sequence[tuple[int, int, list[int], int]]) -> list[list[int]]:
        """Results of view calls `(contract, selector, calldata, block_hash)`, batched."""
        results = await self.batch(
            [
                (
                    "starknet_call",
                    {
                        "request": {
                            "contract_address": to_hex(to),
                            "entry_point_selector": to_hex(selector),
                            "calldata": [to_hex(x) for x in calldata],
                        },
                        "block_id": {"block_hash": to_hex(block_hash)},
                    },
                )
                for to, selector, calldata, block_hash in calls
            ]
        )
        return [_ints(r) for r in results]

    async def transactions(self, hashes: Sequence[str]) -> list[dict]:
        """The transactions with these hashes (hex, as the node wrote them), as it returns them."""
        return await self.batch(
            [("starknet_getTransactionByHash", {"transaction_hash": h}) for h in hashes]
        )

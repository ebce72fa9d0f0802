"""devchain starknet_getEvents throughput at page size 1,000 over 100k events.

Loads the events through the real path (starknet-py accounts sending signed multicalls of
approve + create_job, each job emitting Transfer + JobCreated), then pages the whole range
with a lean HTTP client (what the server serves) and with starknet-py's FullNodeClient
(server + the client's own schema parsing). Prints one line per figure.

    .venv/bin/python bench/devchain_get_events.py [--events 100000] [--page 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
from starknet_py.contract import Contract
from starknet_py.net.account.account import Account
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.net.signer.key_pair import KeyPair

from devchain.process import DevchainProcess
from veriframe_core.chain.abi import load_abi
from veriframe_core.processes import free_port

JOBS_PER_TX = 500  # 1 approve + 500 × (Transfer + JobCreated) = 1,001 events per transaction


async def load_events(info: dict, target: int) -> tuple[int, float]:
    chain_id = int(info["chain_id"], 16)
    async with aiohttp.ClientSession() as session:
        client = FullNodeClient(node_url=info["rpc_url"], session=session)
        accounts = [
            Account(
                client=client,
                address=a["address"],
                key_pair=KeyPair.from_private_key(a["private_key"]),
                chain=chain_id,
            )
            for a in info["accounts"]
        ]
        registry = Contract(
            int(info["job_registry_address"], 16),
            load_abi("job_registry"),
            accounts[0],
            cairo_version=1,
        )
        token = Contract(
            int(info["token_address"], 16), load_abi("erc20"), accounts[0], cairo_version=1
        )
        deadline = (await client.get_block(block_number="latest")).timestamp + 10**7
        create = registry.functions["create_job"]
        approve = token.functions["approve"]
        emitted, started, n = 0, time.perf_counter(), 0
        while emitted < target:
            account = accounts[n % len(accounts)]
            calls = [approve.prepare_invoke_v3(registry.address, 10**21)]
            calls += [
                create.prepare_invoke_v3(n * JOBS_PER_TX + i + 1, 0, 10**15, deadline)
                for i in range(JOBS_PER_TX)
            ]
            sent = await account.execute_v3(calls=calls, auto_estimate=True)
            receipt = await client.get_transaction_receipt(sent.transaction_hash)
            emitted += len(receipt.events)
            n += 1
        return emitted, time.perf_counter() - started


async def page_raw(url: str, page: int) -> int:
    """Every event from block 0 to latest, following tokens; returns the count."""
    count, token = 0, None
    async with aiohttp.ClientSession() as session:
        while True:
            flt = {
                "chunk_size": page,
                "from_block": {"block_number": 0},
                "to_block": "latest",
                "keys": [],
            }
            if token:
                flt["continuation_token"] = token
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "starknet_getEvents",
                "params": {"filter": flt},
            }
            async with session.post(
                url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
            ) as response:
                result = orjson.loads(await response.read())["result"]
            count += len(result["events"])
            token = result.get("continuation_token")
            if not token:
                return count


async def page_starknet_py(url: str, page: int) -> int:
    async with aiohttp.ClientSession() as session:
        client = FullNodeClient(node_url=url, session=session)
        chunk = await client.get_events(
            from_block_number=0,
            to_block_number="latest",
            chunk_size=page,
            follow_continuation_token=True,
        )
        return len(chunk.events)


def measure(label: str, fn, rounds: int) -> None:
    rates, count = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        count = asyncio.run(fn())
        rates.append(count / (time.perf_counter() - started))
    print(
        f"{label}: {statistics.median(rates):,.0f} events/s median, {max(rates):,.0f} best "
        f"({count:,} events, {rounds} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        node = DevchainProcess(Path(tmp) / "state", free_port(), accounts=4)
        info = node.start()
        try:
            emitted, seconds = asyncio.run(load_events(info, args.events))
            print(
                f"load: {emitted:,} events in {seconds:.1f} s through signed multicalls "
                f"({emitted / seconds:,.0f} events/s executed)"
            )
            url = info["rpc_url"]
            measure(
                f"getEvents page {args.page}, lean client",
                lambda: page_raw(url, args.page),
                args.rounds,
            )
            measure(
                f"getEvents page {args.page}, starknet-py FullNodeClient",
                lambda: page_starknet_py(url, args.page),
                args.rounds,
            )
        finally:
            node.stop()


if __name__ == "__main__":
    main()

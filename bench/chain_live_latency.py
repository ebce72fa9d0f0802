"""Live ingestion latency: a `create_job` transaction's acceptance to its row in `jobs`.

Runs the real thing on one machine: an embedded Postgres, a devchain, and `dagster-daemon
run -m veriframe_dagster.definitions` (its own process group) whose chain sensor ingests.
Then sends `--jobs` create_job transactions one by one through starknet-py, with a random
pause before each so they land at every phase of the daemon's sensor loop. Acceptance is
when `execute_v3` returns (devchain mines at once, so the receipt is available then, which
is checked); the row time is when a poll of `jobs` (every 10 ms) first sees the job id.
Prints p50, p95 and max, plus the CPU the Dagster processes used meanwhile.

    .venv/bin/python bench/chain_live_latency.py [--jobs 60] [--follow-s 4] [--interval-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from harness import dagster_env, percentile, sensor_ticks, start_daemon, tree_cpu_seconds
from starknet_py.contract import Contract
from starknet_py.hash.selector import get_selector_from_name
from starknet_py.net.account.account import Account
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.net.signer.key_pair import KeyPair

from devchain.process import DevchainProcess
from veriframe_core.chain.abi import load_abi
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.processes import free_port, wait_until
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.migrate import upgrade_warehouse

JOB_CREATED = get_selector_from_name("JobCreated")
CID = cid_to_felts("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")


async def send_jobs(info: dict, engine: sa.Engine, count: int, max_pause: float) -> list[float]:
    client = FullNodeClient(node_url=info["rpc_url"])
    keys = info["accounts"][1]
    creator = Account(
        client=client,
        address=keys["address"],
        key_pair=KeyPair.from_private_key(keys["private_key"]),
        chain=int(info["chain_id"], 16),
    )
    registry = Contract(
        int(info["job_registry_address"], 16), load_abi("job_registry"), creator, cairo_version=1
    )
    token = Contract(int(info["token_address"], 16), load_abi("erc20"), creator, cairo_version=1)
    approve = token.functions["approve"].prepare_invoke_v3(registry.address, 10**30)
    sent = await creator.execute_v3(calls=[approve], auto_estimate=True)
    await client.wait_for_tx(sent.transaction_hash)
    create = registry.functions["create_job"]
    latencies = []
    with engine.connect() as conn:
        for n in range(count):
            await asyncio.sleep(random.uniform(0, max_pause))
            deadline = (await client.get_block(block_number="latest")).timestamp + 3600
            call = create.prepare_invoke_v3(*CID, 10**15 + n, deadline)
            sent = await creator.execute_v3(calls=[call], auto_estimate=True)
            accepted = time.perf_counter()
            receipt = await client.get_transaction_receipt(sent.transaction_hash)
            job_id = next(
                e.keys[1]
                for e in receipt.events
                if e.from_address == registry.address and e.keys[0] == JOB_CREATED
            )
            query = sa.text("SELECT 1 FROM jobs WHERE job_id = :j")
            while conn.execute(query, {"j": job_id}).first() is None:
                conn.commit()
                await asyncio.sleep(0.01)
            latencies.append(time.perf_counter() - accepted)
            conn.commit()
    return latencies


def tick_stats(dagster_url: str, since: float) -> dict[str, float]:
    """The chain sensor's ticks from Dagster's storage: start-to-start interval, duration."""
    ticks = sensor_ticks(dagster_url, "chain_sensor", since)  # not the render sensor's too
    starts = [t["timestamp"] for t in ticks]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    durations = [t["end_timestamp"] - t["timestamp"] for t in ticks]
    return {
        "ticks": len(ticks),
        "interval_p50": statistics.median(gaps),
        "interval_max": max(gaps),
        "duration_p50": statistics.median(durations),
        "duration_max": max(durations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--follow-s", type=float, default=4.0, help="chain_sensor_follow_s")
    parser.add_argument("--interval-s", type=int, default=1, help="chain_sensor_interval_s")
    parser.add_argument("--max-pause", type=float, default=2.0, help="random pause before a tx")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="vf-latency-"))
    pg = EmbeddedPostgres(data_dir / "postgres")
    pg.start()
    node = DevchainProcess(data_dir / "devchain", free_port())
    daemon = None
    try:
        for name in ("veriframe", "dagster"):
            pg.ensure_database(name)
        urls = {"warehouse": pg.url("veriframe"), "dagster": pg.url("dagster")}
        upgrade_warehouse(urls["warehouse"])
        info = node.start()
        engine = sa.create_engine(urls["warehouse"])
        started = time.monotonic()
        env = dagster_env(
            data_dir,
            urls["dagster"],
            database_url=urls["warehouse"],
            devchain_state_dir=node.state_dir,
            chain_sensor_interval_s=args.interval_s,
            chain_sensor_follow_s=args.follow_s,
        )
        daemon = start_daemon(env, data_dir / "dagster-daemon.log")

        def sensor_ingested() -> bool:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT 1 FROM chain_cursor")).first() is not None

        wait_until(sensor_ingested, "the chain sensor's first tick", [daemon], timeout=180)
        print(f"daemon up and sensor ticking after {time.monotonic() - started:.1f} s", flush=True)
        time.sleep(3)
        cpu_before, wall_before = tree_cpu_seconds(daemon.pid), time.monotonic()
        epoch_before = time.time()
        latencies = asyncio.run(send_jobs(info, engine, args.jobs, args.max_pause))
        cpu = tree_cpu_seconds(daemon.pid) - cpu_before
        wall = time.monotonic() - wall_before
        ticks = tick_stats(urls["dagster"], epoch_before)
    finally:
        if daemon is not None:
            daemon.stop()
        node.stop()
        pg.stop()

    print(
        f"settings: chain_sensor_interval_s={args.interval_s} "
        f"chain_sensor_follow_s={args.follow_s}; {len(latencies)} create_job transactions"
    )
    print(
        f"acceptance -> row in jobs: p50 {statistics.median(latencies):.2f} s, "
        f"p95 {percentile(latencies, 95):.2f} s, max {max(latencies):.2f} s, "
        f"min {min(latencies):.2f} s"
    )
    print(f"dagster-daemon + code server CPU: {cpu:.1f} s over {wall:.1f} s ({cpu / wall:.0%})")
    print(
        f"sensor ticks: {ticks['ticks']}, start to start p50 {ticks['interval_p50']:.2f} s "
        f"(max {ticks['interval_max']:.2f} s), duration p50 {ticks['duration_p50']:.2f} s "
        f"(max {ticks['duration_max']:.2f} s)"
    )
    print(f"logs in {data_dir}")


if __name__ == "__main__":
    main()

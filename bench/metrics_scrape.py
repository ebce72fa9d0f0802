"""`GET /metrics` scrape time on a warehouse with thousands of jobs (target: ≤ 50 ms).

Starts an embedded PostgreSQL (or a scratch database on VERIFRAME_DATABASE_URL's server) and
a devchain, seeds the warehouse as bench/api_load.py does (10,000 open jobs, 1,000 verified
workers, 10 past attempts each), then moves a share of the jobs through their lives: a
quarter claimed, delivered, verified or finalized, their attempts and verifications (some
pending, some rejected) and a sanction per rejected one. The API runs as its own process on
the devchain (so each scrape also asks the chain's head); each scrape is timed by the client.

    .venv/bin/python bench/metrics_scrape.py [--jobs 10000] [--scrapes 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from api.metrics.platform import read_counts
from bench.api_load import HISTORY_JOB_ID, JWT_SECRET, ApiProcess, seed, vacuum, warehouse
from bench.harness import percentile
from devchain.process import DevchainProcess
from veriframe_core.processes import free_port
from veriframe_core.warehouse.engine import make_engine

TARGET_MS = 50.0
CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
LIVES = sa.text(
    """
    WITH picked AS (
        SELECT job_id, created_tx, row_number() OVER (ORDER BY job_id) AS n FROM jobs
        WHERE status = 'open' ORDER BY job_id LIMIT :share),
    moved AS (
        UPDATE jobs j SET status = (ARRAY['assigned', 'completed', 'submitted', 'finalized'])
            [1 + p.n % 4]
        FROM picked p WHERE j.job_id = p.job_id
        RETURNING j.job_id, j.created_tx, j.status, p.n)
    INSERT INTO job_attempts (job_id, created_tx, attempt, worker_address, state, claimed_at,
                              lease_expires_at, ended_at, result_cid)
    SELECT m.job_id, m.created_tx, 1, w.address,
           CASE m.status WHEN 'assigned' THEN 'running'
                         WHEN 'completed' THEN (ARRAY['completed', 'verifying'])[1 + m.n % 2]
                         ELSE 'verified' END,
           now() - interval '1 hour', now() + interval '1 hour',
           CASE WHEN m.status <> 'assigned' THEN now() END,
           CASE WHEN m.status <> 'assigned' THEN :cid END
    FROM moved m
    CROSS JOIN LATERAL (SELECT address FROM workers ORDER BY address OFFSET m.n % 1000 LIMIT 1) w
    """
)
VERDICTS = sa.text(
    """
    INSERT INTO verifications (job_id, attempt_id, attempt, worker_address, result_cid, source,
                               state, windows, seeds, finished_at)
    SELECT job_id, id, attempt, worker_address, coalesce(result_cid, :cid),
           'delivery',
           CASE WHEN job_id >= :history AND state = 'failed' THEN 'rejected'  -- past: decided
                WHEN job_id >= :history THEN 'verified'
                WHEN state = 'completed' THEN 'open' WHEN state = 'verifying' THEN 'claimed'
                WHEN state = 'verified' THEN 'verified' ELSE 'rejected' END,
           '[]', '[]',
           CASE WHEN job_id < :history AND state IN ('completed', 'verifying') THEN NULL
                ELSE now() END
    FROM job_attempts WHERE state IN ('completed', 'verifying', 'verified')
       OR (state = 'failed' AND id % 3 = 0)
    """
)
SANCTIONS = sa.text(
    """
    INSERT INTO sanctions (worker_address, verification_id, job_id, cause, action, outcome)
    SELECT worker_address, id, job_id, 'rejected deliveries', 'verify_worker', 'sent'
    FROM verifications WHERE state = 'rejected'
    """
)
CURSOR = sa.text(
    """
    INSERT INTO chain_cursor (contract_address, block_number, block_hash)
    VALUES ('0x' || repeat('0', 63) || '1', :block, :hash);
    INSERT INTO chain_blocks (block_number, block_hash, parent_hash, block_timestamp)
    VALUES (:block, :hash, :hash, now())
    """
)


def live_warehouse(engine: sa.Engine, jobs: int, head: int) -> dict[str, int]:
    """Seeded as api_load's, then a quarter of its jobs moved on; row counts by table."""
    seed(engine, 1_000, jobs, seed_value=7)
    with engine.begin() as conn:
        conn.execute(LIVES, {"share": jobs // 4, "cid": CID})
        conn.execute(VERDICTS, {"history": HISTORY_JOB_ID, "cid": CID})
        conn.execute(SANCTIONS)
        conn.execute(CURSOR, {"block": head, "hash": "0x1"})
    vacuum(engine)
    with engine.connect() as conn:
        return {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("jobs", "job_attempts", "verifications", "sanctions")
        }


def timed(action, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    print(
        f"{name:<42} p50 {statistics.median(ms):6.1f} ms   p95 {percentile(ms, 95):6.1f} ms"
        f"   max {max(ms):6.1f} ms   ({len(ms)} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veriframe-metrics-"))
    chain = DevchainProcess(work / "devchain", free_port())
    api = None
    try:
        rpc = chain.start()["rpc_url"]
        with warehouse(work) as (url, _):
            engine = make_engine(url)
            rows = live_warehouse(engine, args.jobs, head=0)
            print("warehouse: " + ", ".join(f"{n:,} {t}" for t, n in rows.items()))
            with engine.connect() as conn:
                report("the counting statement alone", timed(lambda: read_counts(conn), 50))
            env = {
                **os.environ,
                "VERIFRAME_DATABASE_URL": url,
                "VERIFRAME_API_JWT_SECRET": JWT_SECRET,
                "VERIFRAME_STARKNET_RPC_URL": rpc,
                "VERIFRAME_DATA_DIR": str(work / "data"),
            }
            env.pop("VERIFRAME_IPFS_API_URL", None)
            api = ApiProcess(1, env, work / "api.log").start()
            head = {"jsonrpc": "2.0", "id": 1, "method": "starknet_getBlockWithTxHashes"}
            with httpx.Client(timeout=10) as node:
                latest = {**head, "params": {"block_id": "latest"}}
                report(
                    "the chain head request alone", timed(lambda: node.post(rpc, json=latest), 50)
                )
            with httpx.Client(base_url=api.url, timeout=10) as client:
                text = client.get("/metrics").text  # warm: connections, prepared plans
                assert "veriframe_ingestion_lag_blocks" in text, text[:2000]
                scrapes = timed(lambda: client.get("/metrics").raise_for_status(), args.scrapes)
            report("GET /metrics (client-timed, keep-alive)", scrapes)
            verdict = "met" if percentile(scrapes, 95) <= TARGET_MS else "MISSED"
            print(
                f"target p95 ≤ {TARGET_MS:.0f} ms: {verdict}; series: {text.count(chr(10))} lines"
            )
            engine.dispose()
    finally:
        if api is not None:
            api.stop()
        chain.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

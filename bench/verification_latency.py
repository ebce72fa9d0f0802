"""Delivery to verdict: how long a delivered frame waits for its verification, with and
without 20 other jobs claimed by a worker that never delivers.

Target (issue "Verified frames"): p50 ≤ 10 s on the demo job; unchanged with the silent
claims. Runs the real parts on this machine (embedded Postgres, devchain, the local IPFS
node, the API in this process, a render agent and a verifier agent in threads, the bpy
wheel). Each round renders `--jobs` demo jobs (320×240, 16 samples) with the honest agent,
alternating rounds without and with `--silent` jobs claimed and held; the wait is measured
in the warehouse, from the delivery's commit (its verification's `created_at`) to the
verdict (`finished_at`). The verifier polls at most every `--poll` seconds while idle, as
`up`'s does.

    .venv/bin/python bench/verification_latency.py [--rounds 2] [--jobs 5] [--silent 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.harness import percentile  # noqa: E402
from devchain.process import DevchainProcess  # noqa: E402
from kubonode.process import KuboProcess  # noqa: E402
from tests.support.api import bearer, sign_in  # noqa: E402
from tests.support.chain import Driver  # noqa: E402
from tests.support.platform import VERIFIABLE, worker_platform  # noqa: E402
from veriframe.demo import write_demo_blend  # noqa: E402
from veriframe_core.processes import free_port  # noqa: E402
from veriframe_core.warehouse.embedded import EmbeddedPostgres  # noqa: E402

WAITS = sa.text(
    """
    SELECT extract(epoch FROM finished_at - created_at) FROM verifications
    WHERE job_id = ANY(CAST(:jobs AS numeric[])) AND state IN ('verified', 'rejected')
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="pairs of rounds")
    parser.add_argument("--jobs", type=int, default=5, help="demo jobs per round")
    parser.add_argument("--silent", type=int, default=20, help="jobs held by a silent worker")
    parser.add_argument("--poll", type=float, default=2.0, help="the verifier's idle poll, s")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veriframe-bench-"))
    postgres = EmbeddedPostgres(work / "postgres")
    postgres.start()
    chain_node = DevchainProcess(work / "chain", free_port(), accounts=16)
    kubo = KuboProcess(work / "ipfs", free_port())
    waits: dict[int, list[float]] = {0: [], args.silent: []}
    try:
        chain = Driver(chain_node.start())
        kubo.start()
        blend = write_demo_blend(work / "demo.blend")
        with worker_platform(
            chain,
            postgres,
            kubo,
            blend,
            None,  # its verifier is started below, polling as `up`'s does
            api_lease_s=3600,  # the silent worker's claims stay held
            api_max_active_claims=args.silent + 1,
        ) as platform:
            api, engine = platform.api, platform.warehouse
            asset = platform.upload()
            honest, silent = platform.activity.workers[0], platform.activity.workers[1]
            silent_auth = bearer(sign_in(api, silent))
            verifier = platform.verifier(
                platform.verifiers[0], work / "verifier", worker_poll_s=args.poll
            )
            thread = threading.Thread(target=verifier.run, daemon=True)
            thread.start()
            agent = platform.agent(honest, work / "agent", heartbeat_s=None)
            for round_ in range(2 * args.rounds):
                held = args.silent if round_ % 2 else 0
                for _ in range(held):  # claimed, never delivered (released after the round)
                    job = platform.post_job(asset, **VERIFIABLE)
                    assert api.post(f"/api/v1/jobs/{job}/assign", headers=silent_auth).is_success
                jobs = [platform.post_job(asset, **VERIFIABLE) for _ in range(args.jobs)]
                started = time.perf_counter()
                outcomes = agent.run(max_jobs=args.jobs)
                assert all(o.completed for o in outcomes), [o.reason for o in outcomes]
                with engine.connect() as conn:
                    found = [float(w) for w in conn.execute(WAITS, {"jobs": jobs}).scalars()]
                waits[held] += found
                print(
                    f"round {round_ + 1}: {held} silent claims, {len(found)} verdicts, "
                    f"delivery to verdict median {statistics.median(found):.2f} s, max "
                    f"{max(found):.2f} s ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
                for claim in api.get("/api/v1/jobs/claimed", headers=silent_auth).json():
                    api.post(
                        f"/api/v1/jobs/{claim['job_id']}/release",
                        json={"reason": "bench round over"},
                        headers=silent_auth,
                    )
            agent.close()
            verifier.stop()
            thread.join(60)
        for held, found in waits.items():
            print(
                f"{held:>2} silent claims: delivery to verdict p50 {percentile(found, 50):.2f} s, "
                f"p95 {percentile(found, 95):.2f} s over {len(found)} jobs (target p50 ≤ 10 s)"
            )
    finally:
        kubo.stop()
        chain_node.stop()
        postgres.stop()


if __name__ == "__main__":
    main()

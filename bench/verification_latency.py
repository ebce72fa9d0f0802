"""Delivery to verdict: how long a delivered frame waits until its worker knows the verdict,
with the API's websocket and by polling alone, with and without 20 other jobs claimed by a
worker that never delivers.

Target (issue "Verified frames"): p50 ≤ 10 s on the demo job; unchanged with the silent
claims. Runs the real parts on this machine (embedded Postgres, devchain, the local IPFS
node, the API in this process, a render agent and a verifier agent in threads, the bpy
wheel). Rounds cycle through the modes, interleaved: `websocket` (the agent's verdict wait
and the verifier wake on `job:<id>` and `verifications:available`) and `polling`
(`VERIFRAME_WORKER_WEBSOCKET=false` for both: the verdict wait polls 0.5 → 2 s, the idle
verifier 0.5 s → `--poll`, as `up`'s), each without and with `--silent` jobs claimed and
held. Each round delivers `--jobs` demo jobs (320×240, 16 samples) one after the other; a
job's figure is the agent's wait from its delivery until it knew the verdict (its
`verification` step), and, from the warehouse, the delivery's commit to a verifier's claim
and to the verdict.

    .venv/bin/python bench/verification_latency.py [--rounds 2] [--jobs 5] [--silent 20]
        [--poll 2] [--modes websocket,polling]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.harness import percentile  # noqa: E402
from bench.parts import local_parts  # noqa: E402
from tests.support.api import bearer, sign_in  # noqa: E402
from tests.support.platform import VERIFIABLE, WorkerPlatform, worker_platform  # noqa: E402
from veriframe.demo import write_demo_blend  # noqa: E402

MODES = ("websocket", "polling")
DECIDED = sa.text(
    """
    SELECT extract(epoch FROM claimed_at - created_at), extract(epoch FROM finished_at - created_at)
    FROM verifications
    WHERE job_id = ANY(CAST(:jobs AS numeric[])) AND state IN ('verified', 'rejected')
    """
)
"""Each delivery's wait for a verifier to claim it, and for the verdict."""


def summary(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="cycles through the modes")
    parser.add_argument("--jobs", type=int, default=5, help="demo jobs per round")
    parser.add_argument("--silent", type=int, default=20, help="jobs held by a silent worker")
    parser.add_argument("--poll", type=float, default=2.0, help="the verifier's idle poll, s")
    parser.add_argument("--modes", default=",".join(MODES), help="of: " + ", ".join(MODES))
    args = parser.parse_args()
    modes = args.modes.split(",")
    assert set(modes) <= set(MODES), f"--modes takes {', '.join(MODES)}"
    work = Path(tempfile.mkdtemp(prefix="veriframe-bench-"))
    heads = sorted({0, args.silent})
    known = {(m, h): [] for m in modes for h in heads}  # the agent knew the verdict
    claimed = {(m, h): [] for m in modes for h in heads}  # a verifier took the task
    decided = {(m, h): [] for m in modes for h in heads}  # the verifier reported it
    with local_parts(work) as (postgres, chain, kubo):
        blend = write_demo_blend(work / "demo.blend")
        with worker_platform(
            chain,
            postgres,
            kubo,
            blend,
            None,  # each round starts its own verifier, in the round's mode
            api_lease_s=3600,  # the silent worker's claims stay held
            api_max_active_claims=args.silent + 1,
        ) as platform:
            rounds = list(itertools.product(heads, modes)) * args.rounds
            for number, (held, mode) in enumerate(rounds, 1):
                waits, takes, verdicts = run_round(platform, work, mode, held, args)
                known[mode, held] += waits
                claimed[mode, held] += takes
                decided[mode, held] += verdicts
                print(
                    f"round {number}: {mode}, {held} silent claims: the agent knew the "
                    f"verdict after median {statistics.median(waits):.2f} s, max "
                    f"{max(waits):.2f} s (claimed by the verifier after median "
                    f"{statistics.median(takes):.2f} s, reported after "
                    f"{statistics.median(verdicts):.2f} s)",
                    flush=True,
                )
        for (mode, held), found in known.items():
            print(
                f"{mode:>9}, {held:>2} silent claims over {len(found)} jobs: delivery to "
                f"verdict known {summary(found)} (target p50 ≤ 10 s); to the verifier's claim "
                f"{summary(claimed[mode, held])}; to its report {summary(decided[mode, held])}"
            )


def run_round(
    platform: WorkerPlatform, work: Path, mode: str, held: int, args: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    """One round's jobs delivered one after the other: the agent's waits for their verdicts
    and, from the warehouse, their deliveries' commits to a verifier's claim and to the
    verdict."""
    api, asset = platform.api, platform.upload()
    honest, silent = platform.activity.workers[0], platform.activity.workers[1]
    silent_auth = bearer(sign_in(api, silent))
    for _ in range(held):  # claimed, never delivered (released after the round)
        job = platform.post_job(asset, **VERIFIABLE)
        assert api.post(f"/api/v1/jobs/{job}/assign", headers=silent_auth).is_success
    jobs = [platform.post_job(asset, **VERIFIABLE) for _ in range(args.jobs)]
    websocket = mode == "websocket"
    verifier = platform.verifier(
        platform.verifiers[0],
        work / "verifier",
        worker_poll_s=args.poll,
        worker_websocket=websocket,
    )
    thread = threading.Thread(target=verifier.run, daemon=True)
    thread.start()
    agent = platform.agent(honest, work / mode, heartbeat_s=None, worker_websocket=websocket)
    waits = []
    try:
        for _ in jobs:
            (outcome,) = agent.run(max_jobs=1)
            assert outcome.verification is not None, outcome.reason
            waits.append(outcome.seconds["verification"])
    finally:
        agent.close()
        verifier.stop()
        thread.join(60)
        verifier.close()
    with platform.warehouse.connect() as conn:
        found = [(float(c), float(d)) for c, d in conn.execute(DECIDED, {"jobs": jobs})]
    for claim in api.get("/api/v1/jobs/claimed", headers=silent_auth).json():
        api.post(
            f"/api/v1/jobs/{claim['job_id']}/release",
            json={"reason": "bench round over"},
            headers=silent_auth,
        )
    return waits, [c for c, _ in found], [d for _, d in found]


if __name__ == "__main__":
    main()

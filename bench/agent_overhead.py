"""Agent overhead: a worker agent's whole job (claim, download, render, upload, complete,
submit on chain, Pipes) against a bare Blender render of the same scene and settings.

A delivery is submitted on chain once a verifier has verified it. In service verifiers are
other machines; here they would share the two cores with the agent's renders, so each
block's verifier starts once the agent has delivered the block's jobs, and the agent's time
is claim to last delivery plus one submission (the others overlap the next render); the
verification's own wall time is printed beside it.

Target (issue "Render on GPU nodes"): ratio ≤ 1.05 for a render of about 10 s. Runs the
real parts on this machine (embedded Postgres, devchain, the local IPFS node, the API in
this process, the bpy wheel), alternating blocks of bare renders and of agent jobs (one
agent taking jobs back to back, as it does in service) so the VM's drift falls on both
alike, and prints the per-frame medians and the ratio.

    .venv/bin/python bench/agent_overhead.py [--rounds 2] [--jobs 3] [--samples 600]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.parts import local_parts  # noqa: E402
from tests.support.platform import (  # noqa: E402
    WorkerPlatform,
    eventually,
    worker_platform,
)
from veriframe.demo import write_demo_blend  # noqa: E402

BARE = textwrap.dedent(
    """
    import sys, bpy
    blend, out, width, height, samples = sys.argv[sys.argv.index("--") + 1 :]
    bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False, use_scripts=False)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = int(width), int(height)
    scene.render.resolution_percentage = 100
    scene.cycles.samples = int(samples)
    scene.cycles.use_adaptive_sampling = False
    scene.render.filepath = out
    bpy.ops.render.render(write_still=True)
    """
)


def bare_render(blend: Path, out: Path, width: int, height: int, samples: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", BARE, "--", blend, out, str(width), str(height), str(samples)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def verify_once_delivered(pf: WorkerPlatform, jobs: list[int], data_dir: Path) -> None:
    """Once every job of the block is delivered (its verification opened), verify them all,
    so that no verification shares the cores with the agent's renders (asked every second:
    the API answering runs on those cores too)."""
    eventually(
        lambda: all(pf.api.get(f"/api/v1/jobs/{j}").json()["verification"] for j in jobs),
        timeout=3600,
        every=1.0,
    )
    with pf.verifier(pf.verifiers[0], data_dir) as verifier:
        verifier.run(max_tasks=len(jobs))


def last_delivery(pf: WorkerPlatform, jobs: list[int]) -> float:
    """When the last of `jobs` was delivered, as the API recorded it (epoch seconds)."""
    with pf.warehouse.connect() as conn:
        return float(
            conn.execute(
                sa.text(
                    "SELECT extract(epoch FROM max(ended_at)) FROM job_attempts "
                    "WHERE job_id = ANY(:jobs) AND result_cid IS NOT NULL"
                ),
                {"jobs": jobs},
            ).scalar_one()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="blocks of bare and agent jobs")
    parser.add_argument("--jobs", type=int, default=3, help="jobs (and bare frames) per block")
    parser.add_argument("--samples", type=int, default=600, help="Cycles samples per frame")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veriframe-bench-"))
    with local_parts(work) as (postgres, chain, kubo):
        blend = write_demo_blend(work / "demo.blend")
        settings = {"resolution_x": args.width, "resolution_y": args.height}
        bare, agent_per_job = [], []
        with worker_platform(chain, postgres, kubo, blend, None, api_lease_s=120) as pf:
            asset = pf.upload()
            agent = pf.agent(pf.activity.workers[0], work / "agent", heartbeat_s=None)
            for block in range(args.rounds):
                times = [
                    bare_render(
                        blend, work / f"bare{block}-{i}.png", args.width, args.height, args.samples
                    )
                    for i in range(args.jobs)
                ]
                bare.append(statistics.mean(times))
                jobs = [
                    pf.post_job(asset, samples=args.samples, **settings) for _ in range(args.jobs)
                ]
                verifying = threading.Thread(
                    target=verify_once_delivered, args=(pf, jobs, work / f"v{block}")
                )
                verifying.start()
                started = time.time()
                outcomes = agent.run(max_jobs=args.jobs)
                verifying.join()
                assert len(outcomes) == args.jobs and all(o.submitted_tx for o in outcomes)
                steps = {
                    k: statistics.mean(o.seconds.get(k, 0) for o in outcomes)
                    for k in outcomes[0].seconds
                }
                agent_seconds = last_delivery(pf, jobs) - started + steps["submit_on_chain"]
                agent_per_job.append(agent_seconds / args.jobs)
                print(
                    f"block {block + 1}: bare render {bare[-1]:.2f} s/frame · agent "
                    f"{agent_per_job[-1]:.2f} s/job ("
                    + " · ".join(f"{k} {v:.2f}" for k, v in steps.items())
                    + ")",
                    flush=True,
                )
            agent.close()
        b, a = statistics.median(bare), statistics.median(agent_per_job)
        print(f"\nbare Blender render, per frame (median of {args.rounds} blocks): {b:.2f} s")
        print(f"agent, per job back to back, claim to on-chain submission (median): {a:.2f} s")
        print("  (its verdict waits left out: verification is the verifiers' machines' work)")
        print(f"ratio {a / b:.3f} (target ≤ 1.05)")


if __name__ == "__main__":
    main()

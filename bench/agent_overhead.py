"""Agent overhead: a worker agent's whole job (claim, download, render, upload, complete,
submit on chain, Pipes) against a bare Blender render of the same scene and settings.

Target (issue "Render on GPU nodes"): ratio ≤ 1.05 for a render of about 10 s. Runs the
real parts on this machine (embedded Postgres, devchain, the local IPFS node, the API in
this process, the bpy wheel), interleaving bare and agent renders so the VM's drift falls
on both alike, and prints the medians and the ratio.

    .venv/bin/python bench/agent_overhead.py [--rounds 3] [--samples 1500]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from devchain.process import DevchainProcess, free_port  # noqa: E402
from kubonode.process import KuboProcess  # noqa: E402
from tests.support.activity import Activity  # noqa: E402
from tests.support.api import ApiServer, api_settings  # noqa: E402
from tests.support.blender import make_demo_scene  # noqa: E402
from tests.support.chain import Driver  # noqa: E402
from tests.support.platform import agent_for, post_job  # noqa: E402
from veriframe_core.ipfs import IpfsClient  # noqa: E402
from veriframe_core.warehouse.embedded import EmbeddedPostgres  # noqa: E402
from veriframe_core.warehouse.engine import make_engine  # noqa: E402
from veriframe_core.warehouse.migrate import upgrade_warehouse  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1500, help="Cycles samples per frame")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veriframe-bench-"))
    postgres = EmbeddedPostgres(work / "postgres")
    postgres.start()
    postgres.ensure_database("veriframe")
    url = postgres.url("veriframe")
    upgrade_warehouse(url)
    engine = make_engine(url)
    chain_node = DevchainProcess(work / "chain", free_port(), accounts=12)
    kubo = KuboProcess(work / "ipfs", free_port())
    server = None
    try:
        chain = Driver(chain_node.start())
        kubo.start()
        activity = Activity(chain)
        activity.setup_workers()
        server = ApiServer(api_settings(chain, api_lease_s=120), engine).start()
        blend = make_demo_scene(work / "demo.blend")
        with IpfsClient(kubo.url) as ipfs:
            asset = ipfs.add(blend)
        settings = {"resolution_x": args.width, "resolution_y": args.height}
        bare, agent_s = [], []
        with httpx.Client(base_url=server.url, timeout=60) as api:
            for n in range(args.rounds):
                out = work / f"bare{n}.png"
                bare.append(bare_render(blend, out, args.width, args.height, args.samples))
                job_id = post_job(
                    chain, api, engine, activity, asset, samples=args.samples, **settings
                )
                agent = agent_for(chain, server, activity.workers[0], work / f"agent{n}", kubo.url)
                started = time.perf_counter()
                (outcome,) = agent.run(once=True)
                agent_s.append(time.perf_counter() - started)
                agent.close()
                assert outcome.completed and outcome.job_id == job_id, outcome.reason
                print(
                    f"round {n + 1}: bare render {bare[-1]:.2f} s · agent job {agent_s[-1]:.2f} s",
                    flush=True,
                )
        b, a = statistics.median(bare), statistics.median(agent_s)
        print(f"\nbare Blender render (median of {args.rounds}): {b:.2f} s")
        print(f"agent job, claim to on-chain submission (median): {a:.2f} s")
        print(f"ratio {a / b:.3f} (target ≤ 1.05)")
    finally:
        if server is not None:
            server.stop()
        kubo.stop()
        chain_node.stop()
        engine.dispose()
        postgres.stop()


if __name__ == "__main__":
    main()

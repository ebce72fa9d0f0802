"""API restarts under running agents: jobs lost, and how soon each agent resumes once the
API is back (issue "Creators and workers anywhere": jobs lost 0, resuming ≤ 2 s p95).

Runs the real parts on this machine (embedded Postgres, devchain, the local IPFS node, the
API in this process, the bpy wheel) with `--agents` agents taking tiny jobs back to back and
the operator's verifier verifying them. While they work, the API is stopped for
`--down-s` seconds and started again on the same port, `--restarts` times. An agent has
resumed when its next call to the API goes through (its outage tracker says the API is up);
the time from the API's start to that moment is what is reported. A job is lost when it does
not end delivered (and verified) exactly once in one attempt.

    .venv/bin/python bench/api_restart.py [--agents 4] [--jobs 16] [--restarts 3] [--down-s 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import percentile  # noqa: E402
from bench.parts import local_parts  # noqa: E402
from render_executor.agent import Agent, Outcome  # noqa: E402
from tests.support.platform import eventually, worker_platform  # noqa: E402
from veriframe.demo import write_demo_blend  # noqa: E402


def resumed_after(agents: list[Agent], started: float, timeout_s: float = 60) -> list[float]:
    """Seconds from `started` until each agent's calls to the API go through again (0 for an
    agent that made no call while the API was down), polled every 5 ms."""
    trackers = [agent.api._transport.outages for agent in agents]  # the API client's own
    back: list[float | None] = [None] * len(agents)
    deadline = time.monotonic() + timeout_s
    while None in back and time.monotonic() < deadline:
        for i, tracker in enumerate(trackers):
            if back[i] is None and not tracker.down:
                back[i] = time.monotonic() - started
        time.sleep(0.005)
    return [b if b is not None else timeout_s for b in back]


def attempts_per_job(engine: sa.Engine, jobs: list[int]) -> dict[int, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT job_id, state FROM job_attempts WHERE job_id = ANY(:jobs) ORDER BY id"),
            {"jobs": jobs},
        )
        found: dict[int, list[str]] = {job: [] for job in jobs}
        for job_id, state in rows:
            found[job_id].append(state)
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--down-s", type=float, default=5.0, help="seconds the API is away")
    parser.add_argument("--samples", type=int, default=64, help="Cycles samples per frame")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veriframe-bench-"))
    with local_parts(work) as (postgres, chain, kubo):
        blend = write_demo_blend(work / "demo.blend")
        with worker_platform(chain, postgres, kubo, blend, work / "verifier") as pf:
            asset = pf.upload()
            settings = {"resolution_x": 320, "resolution_y": 240, "samples": args.samples}
            jobs = [pf.post_job(asset, **settings) for _ in range(args.jobs)]
            agents = [
                pf.agent(pf.activity.workers[i], work / f"agent{i}", heartbeat_s=None)
                for i in range(args.agents)
            ]
            outcomes: list[Outcome] = []
            threads = [
                threading.Thread(target=lambda a=a: outcomes.extend(a.run()), name=f"agent{i}")
                for i, a in enumerate(agents)
            ]
            for thread in threads:
                thread.start()
            resumes: list[float] = []
            began = time.monotonic()
            for restart in range(args.restarts):
                time.sleep(3)  # agents at work: rendering, delivering, claiming
                pf.api_server.stop()
                time.sleep(args.down_s)
                pf.api_server.start()
                back = resumed_after(agents, time.monotonic())
                resumes += back
                print(
                    f"restart {restart + 1}: agents resumed after "
                    + ", ".join(f"{b:.2f}" for b in back)
                    + " s",
                    flush=True,
                )

            def settled() -> bool:
                states = attempts_per_job(pf.warehouse, jobs)
                return all(s and s[-1] in ("verified", "rejected") for s in states.values())

            eventually(settled, timeout=1800, every=1.0)
            elapsed = time.monotonic() - began
            for agent in agents:
                agent.stop()
            for thread in threads:
                thread.join(120)
            for agent in agents:
                agent.close()
            states = attempts_per_job(pf.warehouse, jobs)
        once = sum(1 for s in states.values() if s == ["verified"])
        redone = {j: s for j, s in states.items() if s != ["verified"]}
        print(
            f"\n{args.agents} agents, {args.jobs} jobs, {args.restarts} API restarts of "
            f"{args.down_s:g} s each: all jobs settled in {elapsed:.0f} s"
        )
        print(f"jobs delivered and verified once, in one attempt: {once} of {args.jobs}")
        print(f"jobs lost (not delivered, or in more than one attempt): {len(redone)} {redone}")
        print(
            f"resumed after the API was back: p50 {percentile(resumes, 50):.2f} s, "
            f"p95 {percentile(resumes, 95):.2f} s, max {max(resumes):.2f} s (target p95 ≤ 2 s)"
        )


if __name__ == "__main__":
    main()

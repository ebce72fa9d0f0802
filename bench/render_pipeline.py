"""Dispatch latency and throughput of the render pipeline, every part a real process.

Embedded Postgres, devchain, the local IPFS node, the API (uvicorn), Dagster's daemon (the
chain and render sensors, the queued run coordinator, one run process per job) and worker
agents (`veriframe-worker`, each rendering with the bpy wheel on the CPU) run on this
machine; the benchmark is the creator. Times, all from this machine's clock:

- accepted: `create_job`'s receipt returned (devchain mines at once);
- render started / ended: the agent's Blender process for the job is first seen / gone
  (processes polled every 20 ms);
- materialized: the `render` partition's ASSET_MATERIALIZATION in Dagster's event log.

Phase 1 sends `--latency-jobs` jobs one at a time (each after the one before materialized,
with a random 0–2 s pause) to one agent: accepted → render started, render ended →
materialized. Phase 2 creates `--throughput-jobs` jobs at once for `--agents` agents and
measures jobs per minute, and the CPU each process used per job. With `--compare`, both
phases alternate (daemon restarted in between) between the current run launcher and render
sensor ("fork") and the earlier ones ("spawn": Dagster's default launcher, a sensor that
looks once per tick), so the two are measured in the same run, interleaved.

    .venv/bin/python bench/render_pipeline.py [--latency-jobs 20] [--throughput-jobs 40]
        [--compare [--block 4] [--throughput-rounds 1]]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from harness import dagster_env, percentile, start_daemon, tree_cpu_seconds  # noqa: E402

from devchain.process import DevchainProcess  # noqa: E402
from kubonode.process import KuboProcess  # noqa: E402
from tests.support.activity import Activity  # noqa: E402
from tests.support.api import bearer, sign_in  # noqa: E402
from tests.support.chain import Driver  # noqa: E402
from tests.support.platform import TINY, worker_process  # noqa: E402
from veriframe.demo import write_demo_blend  # noqa: E402
from veriframe_core.chain.cids import cid_to_felts  # noqa: E402
from veriframe_core.chain.events import event_codec  # noqa: E402
from veriframe_core.ipfs import IpfsClient  # noqa: E402
from veriframe_core.processes import Child, answers, free_port, wait_until  # noqa: E402
from veriframe_core.warehouse.embedded import EmbeddedPostgres  # noqa: E402
from veriframe_core.warehouse.migrate import upgrade_warehouse  # noqa: E402

MATERIALIZED = sa.text(
    """
    SELECT partition, timestamp FROM event_logs
    WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = '["render"]'
    """
)


RUN_EVENTS = sa.text(
    """
    SELECT e.dagster_event_type, min(e.timestamp) FROM event_logs e
    JOIN run_tags t ON t.run_id = e.run_id
    WHERE t.key = 'dagster/partition' AND t.value = :job AND e.dagster_event_type IN
      ('ASSET_MATERIALIZATION_PLANNED', 'PIPELINE_ENQUEUED', 'PIPELINE_DEQUEUED',
       'PIPELINE_STARTING', 'PIPELINE_START', 'STEP_START', 'ASSET_MATERIALIZATION')
    GROUP BY e.dagster_event_type
    """
)
VARIANTS = {  # name: (run launcher in dagster.yaml, render_sensor_follow_s)
    "fork": ("ForkingRunLauncher", 3.5),
    "spawn": (None, 0.0),  # before: Dagster's DefaultRunLauncher, one sensor look per tick
}
STAGES = {  # a run's events, in order, and what they mean here
    "ASSET_MATERIALIZATION_PLANNED": "requested",
    "PIPELINE_ENQUEUED": "queued",
    "PIPELINE_DEQUEUED": "dequeued",
    "PIPELINE_STARTING": "launched",
    "PIPELINE_START": "process up",
    "STEP_START": "step",
    "ASSET_MATERIALIZATION": "recorded",
}


class BlenderWatch:
    """Polls the agents' Blender processes: when each job's render started and ended."""

    def __init__(self, agents: list[subprocess.Popen]):
        self.agents = agents
        self.started: dict[int, float] = {}
        self.ended: dict[int, float] = {}
        self._live: dict[int, int] = {}  # job -> pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            seen, now = {}, time.time()
            for agent in self.agents:
                try:
                    children = psutil.Process(agent.pid).children(recursive=True)
                except psutil.Error:
                    continue
                for child in children:
                    try:
                        job = _job_of(child.cmdline())
                        if job is not None:
                            seen[job] = child.pid
                            self.started.setdefault(
                                job, now
                            )  # create_time() is in whole-second error
                    except psutil.Error:
                        continue
            for job in set(self._live) - set(seen):
                self.ended.setdefault(job, now)
            self._live = seen

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _job_of(argv: list[str]) -> int | None:
    for arg in argv:
        if "/job-" in arg and arg.endswith("spec.json"):
            return int(arg.split("/job-")[1].split("-")[0])
    return None


def run_stages(dagster_url: str, job: int) -> dict[str, float]:
    """When the run recording `job` reached each stage (epoch seconds)."""
    engine = sa.create_engine(dagster_url)
    with engine.connect() as conn:
        rows = conn.execute(RUN_EVENTS, {"job": str(job)}).all()
    engine.dispose()
    return {STAGES[kind]: ts.replace(tzinfo=UTC).timestamp() for kind, ts in rows}


def materialized(dagster_url: str) -> dict[int, float]:
    engine = sa.create_engine(dagster_url)
    with engine.connect() as conn:
        rows = conn.execute(MATERIALIZED).all()
    engine.dispose()
    return {int(p): ts.replace(tzinfo=UTC).timestamp() for p, ts in rows}


class Creator:
    """Creates jobs for one asset and attaches tiny render settings, as `submit` would."""

    def __init__(self, chain: Driver, api: httpx.Client, asset: str):
        self.chain, self.api, self.asset = chain, api, asset
        self.account = chain.accounts[1]
        chain.send(
            self.account, chain.call_of(chain.token, "approve", chain.registry.address, 10**30)
        )
        self.auth = bearer(sign_in(api, self.account, "authenticate"))
        self.rewards = iter(range(10**15, 10**18))

    def create(self, count: int) -> tuple[list[int], float]:
        """`count` jobs in one transaction; their ids and when it was accepted."""
        deadline = self.chain.now() + 3600
        cid = cid_to_felts(self.asset)
        calls = [
            self.chain.reg("create_job", *cid, next(self.rewards), deadline) for _ in range(count)
        ]
        receipt = self.chain.send(self.account, *calls)
        accepted = time.time()
        created = event_codec("job_registry").selector("JobCreated")
        return [e.keys[1] for e in receipt.events if e.keys[0] == created], accepted

    def attach(self, job_ids: list[int], **settings: int) -> None:
        for job_id in job_ids:
            path = f"/api/v1/jobs/{job_id}"
            wait_until(lambda p=path: self.api.get(p).status_code == 200, "indexed", timeout=60)
            answer = self.api.post(
                "/api/v1/jobs", json={"job_id": job_id, **TINY, **settings}, headers=self.auth
            )
            answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-jobs", type=int, default=20)
    parser.add_argument("--throughput-jobs", type=int, default=40)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="interleave the current launcher and sensor with the earlier ones (spawn)",
    )
    parser.add_argument("--block", type=int, default=4, help="phase 1 jobs per daemon start")
    parser.add_argument("--throughput-rounds", type=int, default=1)
    parser.add_argument(
        "--latency-samples", type=int, default=TINY["samples"], help="Cycles samples, phase 1"
    )
    parser.add_argument(
        "--latency-size", default="64x48", help="resolution of phase 1's frames, WxH"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vf-pipeline-"))
    pg = EmbeddedPostgres(work / "postgres")
    pg.start()
    chain_node = DevchainProcess(work / "chain", free_port(), accounts=12)
    kubo = KuboProcess(work / "ipfs", free_port())
    procs: dict[str, Child] = {}
    agents: list[subprocess.Popen] = []
    try:
        for name in ("veriframe", "dagster"):
            pg.ensure_database(name)
        urls = {"warehouse": pg.url("veriframe"), "dagster": pg.url("dagster")}
        upgrade_warehouse(urls["warehouse"])
        chain = Driver(chain_node.start())
        kubo.start()
        Activity(chain).setup_workers()
        api_port = free_port()
        common = dict(
            database_url=urls["warehouse"],
            starknet_rpc_url=chain.url,
            job_registry_address=hex(chain.registry.address),
            ipfs_api_url=kubo.url,
            ipfs_gateway_url=f"{kubo.url}/ipfs",
        )
        env = dagster_env(work, urls["dagster"], **common)
        uvicorn = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        uvicorn += ["--port", str(api_port), "--log-level", "warning"]
        procs["api"] = Child.spawn("api", uvicorn, work / "api.log", env=env, cwd=ROOT)
        api_url = f"http://127.0.0.1:{api_port}"
        procs["api"].wait_ready(lambda: answers(f"{api_url}/"), 60)
        api = httpx.Client(base_url=api_url, timeout=30)
        with IpfsClient(kubo.url) as ipfs:
            asset = ipfs.add(write_demo_blend(work / "demo.blend"))
        creator = Creator(chain, api, asset)
        workers = Activity(chain).workers
        agents += [
            worker_process(chain, api_url, workers[i], work / f"agent{i}", kubo.url)
            for i in range(args.agents)
        ]
        watch = BlenderWatch(agents)
        variants = list(VARIANTS) if args.compare else ["fork"]
        home = Path(env["DAGSTER_HOME"]) / "dagster.yaml"
        repo_yaml = home.read_text()

        def use(variant: str) -> None:
            """(Re)start the daemon with the variant's launcher and sensor; one job to warm up."""
            if "dagster" in procs:
                procs.pop("dagster").stop()
            launcher, follow_s = VARIANTS[variant]
            home.write_text(repo_yaml if launcher else _without_run_launcher(repo_yaml))
            variant_env = env | {"VERIFRAME_RENDER_SENSOR_FOLLOW_S": str(follow_s)}
            procs["dagster"] = start_daemon(variant_env, work / f"dagster-daemon-{variant}.log")
            first, _ = creator.create(1)
            creator.attach(first)
            wait_until(
                lambda: first[0] in materialized(urls["dagster"]), "a first job", timeout=300
            )

        for other in agents[1:]:  # one agent for phase 1: the others paused
            os.kill(other.pid, signal.SIGSTOP)
        latency: dict[str, list] = {v: [] for v in variants}
        timeline: dict[str, list] = {v: [] for v in variants}
        width, height = map(int, args.latency_size.split("x"))
        slow = {"samples": args.latency_samples, "resolution_x": width, "resolution_y": height}
        blocks = -(-args.latency_jobs // args.block)
        for block in range(blocks * len(variants)):  # interleaved: A, B, A, B, ...
            variant = variants[block % len(variants)]
            use(variant)
            for _ in range(min(args.block, args.latency_jobs - len(latency[variant]))):
                time.sleep(random.uniform(0, 2))
                (job,), accepted = creator.create(1)
                creator.attach([job], **slow)
                wait_until(
                    lambda j=job: j in materialized(urls["dagster"]), f"job {job}", timeout=300
                )
                done = materialized(urls["dagster"])[job]
                latency[variant].append((watch.started[job] - accepted, done - watch.ended[job]))
                start = watch.started[job]
                stages = {k: t - start for k, t in run_stages(urls["dagster"], job).items()}
                timeline[variant].append(stages | {"render ended": watch.ended[job] - start})
                print(
                    f"[{variant}] job {job}: dispatch {latency[variant][-1][0]:.2f} s, "
                    f"record {latency[variant][-1][1]:.2f} s; from render start: "
                    + ", ".join(
                        f"{k} {v:+.2f}"
                        for k, v in sorted(timeline[variant][-1].items(), key=lambda kv: kv[1])
                    ),
                    flush=True,
                )
        for other in agents[1:]:
            os.kill(other.pid, signal.SIGCONT)

        throughput: dict[str, list] = {v: [] for v in variants}
        for round_ in range(args.throughput_rounds * len(variants) if args.throughput_jobs else 0):
            variant = variants[round_ % len(variants)]
            use(variant)
            pids = {name: child.pid for name, child in procs.items()}
            pids |= {f"agent{i}": agent.pid for i, agent in enumerate(agents)}
            pids |= {"postgres": pg.pid, "devchain": chain_node.child.pid, "ipfs": kubo.child.pid}
            cpu_before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
            started = time.time()
            jobs, accepted = creator.create(args.throughput_jobs)
            creator.attach(jobs)
            wait_until(
                lambda js=jobs: all(j in watch.ended for j in js), "every render", timeout=1800
            )
            rendered = time.time()
            wait_until(
                lambda js=jobs: all(j in materialized(urls["dagster"]) for j in js),
                "every record",
                timeout=1800,
            )
            recorded = time.time()
            cpu = {name: tree_cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            throughput[variant].append((len(jobs), accepted, started, rendered, recorded, cpu))
            print(f"[{variant}] {len(jobs)} jobs recorded after {recorded - accepted:.1f} s")
        watch.close()
    finally:
        for agent in agents:  # not group leaders: the agent stops its Blender itself
            agent.terminate()
            agent.wait(30)
        for child in procs.values():
            child.stop()
        kubo.stop()
        chain_node.stop()
        pg.stop()

    for variant in variants:
        report(variant, latency[variant], timeline[variant], throughput[variant], args.agents)
    print(f"logs in {work}")


def report(variant: str, latency: list, timeline: list, throughput: list, agents: int) -> None:
    dispatch = [d for d, _ in latency]
    record = [r for _, r in latency]
    launcher, follow_s = VARIANTS[variant]
    print(
        f"\n== {variant}: run launcher {launcher or 'Dagster default (spawn)'}, "
        f"render sensor follow {follow_s} s"
    )
    print(
        f"dispatch, create_job accepted → render started ({len(dispatch)} jobs, 1 agent): "
        f"p50 {statistics.median(dispatch):.2f} s, p95 {percentile(dispatch, 95):.2f} s"
    )
    print(
        f"record, render ended → materialization recorded: p50 {statistics.median(record):.2f} s, "
        f"p95 {percentile(record, 95):.2f} s"
    )
    print("the recording run's stages, median seconds from render start:")
    for stage in [*STAGES.values(), "render ended"]:
        seen = [t[stage] for t in timeline if stage in t]
        if seen:
            print(f"  {stage:12s} {statistics.median(seen):+6.2f} s")
    for count, accepted, started, rendered, recorded, cpu in throughput:
        print(
            f"throughput, {count} jobs, {agents} agents: rendered and delivered "
            f"{count / ((rendered - accepted) / 60):.1f} jobs/min; all recorded in Dagster after "
            f"{recorded - accepted:.1f} s ({count / ((recorded - accepted) / 60):.1f} jobs/min)"
        )
        wall = recorded - started
        for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
            per_job, share = seconds / count, seconds / wall
            print(
                f"  CPU {name:10s} {seconds:7.1f} s  {per_job:5.2f} s/job  {share:4.0%} of a core"
            )


def _without_run_launcher(yaml_text: str) -> str:
    """dagster.yaml with its `run_launcher` block removed: Dagster's default launcher."""
    lines, out, skipping = yaml_text.splitlines(keepends=True), [], False
    for line in lines:
        if line.startswith("run_launcher:"):
            skipping = True
            continue
        if skipping and (line.startswith(" ") or not line.strip()):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


if __name__ == "__main__":
    main()

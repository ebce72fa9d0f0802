"""Recording behind silent claims: delivery → recorded while one worker holds claims it never
delivers (issue 22, deliverable 0).

Every part is a real process on this machine: embedded Postgres, devchain, the local IPFS
node, the API (uvicorn) and Dagster's daemon on the repo's dagster.yaml (at most 2 render
runs at once). Each round uses fresh warehouse and Dagster databases and the code of one
checkout (the API and the daemon run with its folder first on PYTHONPATH), then:

1. a warm-up job is delivered and recorded (the run launcher's warm process is up);
2. one verified account claims `K` jobs with hour-long deadlines and goes silent;
3. after `--settle-s`, another worker claims a third job, posts its Pipes session and
   delivers it through the API (`/complete` with a PNG on IPFS; no Blender, so only the
   recording is timed);
4. delivered = `/complete` answered; recorded = the partition's ASSET_MATERIALIZATION in
   Dagster's event log. A round gives up after `--timeout-s` (the job was not recorded).

`--compare OLD NEW` alternates two checkouts round by round (A, B, A, B for each K), so both
see the same drift of the machine. The warehouse is migrated by this checkout's migrations
(a column the old code does not read does not bother it).

    .venv/bin/python bench/recording_behind_claims.py --compare /work/wt-slots-base . \\
        --claims 2 20 --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import signal
import sys
import tempfile
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from harness import dagster_env, start_daemon  # noqa: E402
from PIL import Image  # noqa: E402
from render_pipeline import Creator  # noqa: E402

from bench.parts import local_parts  # noqa: E402
from tests.support.activity import Activity  # noqa: E402
from tests.support.api import bearer, sign_in  # noqa: E402
from veriframe_core.ipfs import IpfsClient  # noqa: E402
from veriframe_core.processes import Child, answers, free_port, wait_until  # noqa: E402
from veriframe_core.warehouse.embedded import EmbeddedPostgres  # noqa: E402
from veriframe_core.warehouse.migrate import upgrade_warehouse  # noqa: E402

MATERIALIZED = sa.text(
    """
    SELECT timestamp FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'
    AND asset_key = '["render"]' AND partition = :job
    """
)


def recorded_at(dagster_url: str, job: int) -> float | None:
    """When the job's partition was first materialized (epoch seconds), if it was."""
    engine = sa.create_engine(dagster_url)
    with engine.connect() as conn:
        times = conn.execute(MATERIALIZED, {"job": str(job)}).scalars().all()
    engine.dispose()
    return min(t.replace(tzinfo=UTC).timestamp() for t in times) if times else None


def stop_group(child: Child) -> None:
    """SIGTERM to the child's process group, then SIGKILL to whatever of it is left."""
    child.stop(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


class Round:
    """One checkout's API and daemon on fresh databases."""

    def __init__(self, work: Path, pg: EmbeddedPostgres, common: dict, code: Path, n: int):
        for name in (f"warehouse_{n}", f"dagster_{n}"):
            pg.ensure_database(name)
        self.warehouse, self.dagster = pg.url(f"warehouse_{n}"), pg.url(f"dagster_{n}")
        upgrade_warehouse(self.warehouse)
        env = dagster_env(work, self.dagster, database_url=self.warehouse, **common)
        env["PYTHONPATH"] = str(code)
        env["VERIFRAME_API_MAX_ACTIVE_CLAIMS"] = "64"
        port = free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        uvicorn += ["--port", str(port), "--log-level", "warning"]
        self.api_proc = Child.spawn("api", uvicorn, work / f"api-{n}.log", env=env, cwd=code)
        self.api_url = f"http://127.0.0.1:{port}"
        self.api_proc.wait_ready(lambda: answers(f"{self.api_url}/"), 60)
        self.daemon = start_daemon(env, work / f"dagster-daemon-{n}.log", cwd=code)
        self.api = httpx.Client(base_url=self.api_url, timeout=30)

    def close(self) -> None:
        self.api.close()
        stop_group(self.daemon)
        stop_group(self.api_proc)


def pipes(method: str, **params: str) -> dict:
    return {"__dagster_pipes_version": "0.1", "method": method, "params": params}


def deliver(api: httpx.Client, auth: dict, job: int, cid: str) -> float:
    """Claim `job`, report its Pipes session (opened, one line, closed: the earlier recorder
    waited for `closed`), then deliver it; when `/complete` answered."""
    claimed = api.post(f"/api/v1/jobs/{job}/assign", headers=auth)
    claimed.raise_for_status()
    messages = [
        pipes("opened"),
        pipes("log", message=f"Rendered job {job}", level="INFO"),
        pipes("closed"),
    ]
    batch = {"attempt": claimed.json()["claim"]["attempt"], "first_seq": 0, "messages": messages}
    api.post(f"/api/v1/jobs/{job}/pipes/messages", json=batch, headers=auth).raise_for_status()
    body = {"result_cid": cid, "render_time_s": 1.0, "device": "CPU"}
    api.post(f"/api/v1/jobs/{job}/complete", json=body, headers=auth).raise_for_status()
    return time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), type=Path)
    parser.add_argument("--claims", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--rounds", type=int, default=2, help="rounds per checkout and K")
    parser.add_argument("--settle-s", type=float, default=5.0)
    parser.add_argument("--timeout-s", type=float, default=120.0)
    args = parser.parse_args()
    codes = {"old": args.compare[0], "new": args.compare[1]} if args.compare else {"new": ROOT}
    codes = {name: path.resolve() for name, path in codes.items()}
    work = Path(tempfile.mkdtemp(prefix="vf-claims-"))
    numbers = itertools.count()
    results: list[tuple[str, int, float | None]] = []
    with local_parts(work, accounts=12) as (pg, chain, kubo):
        activity = Activity(chain)
        activity.setup_workers()
        silent, deliverer = activity.workers[0], activity.workers[1]
        frame = io.BytesIO()
        Image.new("RGB", (64, 48), (40, 90, 200)).save(frame, "PNG")
        with IpfsClient(kubo.url) as ipfs:
            asset = ipfs.add_bytes(b"BLENDER-v500 never rendered")
            cid = ipfs.add_bytes(frame.getvalue())
        common = dict(
            starknet_rpc_url=chain.url,
            job_registry_address=hex(chain.registry.address),
            ipfs_api_url=kubo.url,
            ipfs_gateway_url=f"{kubo.url}/ipfs",
        )
        plan = [(k, name) for k in args.claims for _ in range(args.rounds) for name in codes]
        for k, name in plan:
            n = next(numbers)
            current = Round(work, pg, common, codes[name], n)
            try:
                creator = Creator(chain, current.api, asset)
                worker_auth = bearer(sign_in(current.api, deliverer))
                (warm,), _ = creator.create(1)
                creator.attach([warm])
                deliver(current.api, worker_auth, warm, cid)
                url = current.dagster
                wait_until(lambda u=url, j=warm: recorded_at(u, j), "warm-up", timeout=300)
                jobs, _ = creator.create(k + 1)
                creator.attach(jobs)
                silent_auth = bearer(sign_in(current.api, silent))
                for job in jobs[:k]:
                    path = f"/api/v1/jobs/{job}/assign"
                    current.api.post(path, headers=silent_auth).raise_for_status()
                time.sleep(args.settle_s)  # before: each claim's run started and waits
                delivered = deliver(current.api, worker_auth, jobs[k], cid)
                until = time.monotonic() + args.timeout_s
                while (done := recorded_at(current.dagster, jobs[k])) is None:
                    if time.monotonic() > until:
                        break
                    time.sleep(0.05)
                seconds = None if done is None else done - delivered
                results.append((name, k, seconds))
                shown = f"{seconds:.2f} s" if seconds is not None else f"> {args.timeout_s:g} s"
                print(f"[{name}] {k} silent claims: delivered → recorded {shown}", flush=True)
            finally:
                current.close()
    print("\nchecked out | silent claims | delivered → recorded, each round")
    for name in codes:
        for k in args.claims:
            times = [s for n, kk, s in results if (n, kk) == (name, k)]
            shown = ", ".join(f"{s:.2f} s" if s is not None else "not recorded" for s in times)
            print(f"{name} ({codes[name]}) | {k} | {shown}")


if __name__ == "__main__":
    main()

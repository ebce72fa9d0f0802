"""Scene upload and frame download through the API against the same transfer straight to the
IPFS node's RPC API, for a large file.

Target (issue "Creators and workers anywhere"): through the API ≥ 0.8 of direct, for a 200 MB
scene. Runs the real parts on this machine (embedded Postgres, devchain, the local IPFS node,
the API in this process) and moves the bytes with curl in its own process, so the client
costs the API nothing: `POST /api/v1/assets` against `POST /api/v0/add`, and
`GET /api/v1/jobs/{id}/frame` against `POST /api/v0/cat`, `--rounds` times each, which goes
first alternating, and prints the median MB/s of each and the ratios. Every upload is of new
bytes, as a creator's scene is: the node stores a new file's blocks, and adding bytes it
already holds costs it a third of that. The frame served is the uploaded file,
recorded as a job's verified result (a bench shortcut: no worker renders 200 MB).

    .venv/bin/python bench/asset_throughput.py [--mb 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.parts import local_parts  # noqa: E402
from tests.support.api import bearer, sign_in  # noqa: E402
from tests.support.platform import worker_platform  # noqa: E402
from veriframe.demo import write_demo_blend  # noqa: E402
from veriframe_core.chain.addresses import normalize_address  # noqa: E402


def curl(*args: str) -> tuple[float, str]:
    """Seconds `curl ARGS` took, and what it printed."""
    started = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sSf", "--max-time", "600", *args], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, done.stdout


def record_verified(engine: sa.Engine, job_id: int, worker: str, cid: str) -> None:
    """The file as the job's verified result (what a verifier's report would leave)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO verifications (job_id, worker_address, result_cid, source, state, "
                "windows, seeds) VALUES (:job, :worker, :cid, 'delivery', 'verified', "
                "'[]'::jsonb, '[]'::jsonb)"
            ),
            {"job": job_id, "worker": worker, "cid": cid},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB")
    parser.add_argument("--rounds", type=int, default=3, help="transfers of each kind")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="veriframe-bench-"))
    scene = work / "scene.bin"
    size_mb = float(args.mb)

    def new_scene() -> None:
        with scene.open("wb") as out:
            for _ in range(args.mb):
                out.write(os.urandom(1_000_000))

    try:
        with local_parts(work) as (postgres, chain, kubo):
            blend = write_demo_blend(work / "demo.blend")
            changes = {"ipfs_api_url": kubo.url, "api_max_upload_bytes": 10 * 1024**3}
            with worker_platform(chain, postgres, kubo, blend, None, **changes) as pf:
                token = bearer(sign_in(pf.api, pf.activity.creators[0], "authenticate"))
                auth = f"Authorization: {token['Authorization']}"
                api, node = pf.api_server.url, kubo.url
                rates: dict[str, list[float]] = {k: [] for k in ("up_api", "up_direct", "down_api")}
                rates["down_direct"] = []
                cid = ""
                for round_ in range(args.rounds):
                    for way in ("api", "direct")[:: 1 if round_ % 2 else -1]:
                        new_scene()
                        if way == "api":
                            seconds, said = curl(
                                "-X", "POST", "-H", auth,
                                "-H", "Content-Type: application/octet-stream",
                                "--upload-file", str(scene), f"{api}/api/v1/assets",
                            )  # fmt: skip
                            cid = json.loads(said)["cid"]
                        else:
                            seconds, said = curl(
                                "-X", "POST", "-F", f"file=@{scene}",
                                f"{node}/api/v0/add?cid-version=0",
                            )  # fmt: skip
                        rates[f"up_{way}"].append(size_mb / seconds)
                job_id = pf.post_job(cid)
                worker = normalize_address(pf.activity.workers[0].address)
                record_verified(pf.warehouse, job_id, worker, cid)
                for round_ in range(args.rounds):
                    for way in ("api", "direct")[:: 1 if round_ % 2 else -1]:
                        if way == "api":
                            url = f"{api}/api/v1/jobs/{job_id}/frame"
                            seconds, _ = curl("-o", str(work / "a.out"), url)
                        else:
                            url = f"{node}/api/v0/cat?arg={cid}"
                            seconds, _ = curl("-X", "POST", "-o", str(work / "d.out"), url)
                        rates[f"down_{way}"].append(size_mb / seconds)
                assert (work / "a.out").read_bytes() == (work / "d.out").read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the file and its copies: 600 MB
    median = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{size_mb:.0f} MB, {args.rounds} rounds, median MB/s:")
    for direction in ("up", "down"):
        through, direct = median[f"{direction}_api"], median[f"{direction}_direct"]
        print(
            f"  {direction:<4} through the API {through:7.1f}   direct {direct:7.1f}   "
            f"ratio {through / direct:.2f}"
        )


if __name__ == "__main__":
    main()

"""API load: `GET /jobs/available` and concurrent claims, 10,000 open jobs, 1,000 workers.

Self-contained: starts an embedded PostgreSQL in a temporary folder (or uses the server of
`VERIFRAME_DATABASE_URL`, in a scratch database it creates and drops), migrates a fresh
warehouse, seeds 10,000 open jobs (~20 % with render settings) and 1,000 verified workers
with declared capabilities by COPY, mints one access token per worker with a live session
row (as `token_for` in tests/api/protocol/test_claims.py does), and starts the API as its own
process group:

    python -m uvicorn api.app:create_app --factory --workers N --no-access-log ...

Figure 1: wrk with bench/lua/available.lua, each request as the next of the 1,000 workers,
at several connection counts. Figure 2: wrk -c200 with bench/lua/claims.lua, every request a
claim of a random job the worker may take (so two workers collide now and then: 409) for a
fixed window, then a drain until every claim sent is answered; Postgres is then checked for
double assignments and against wrk's count of 200s. Figure 3: the same with every request a
`POST /jobs/claim-next` (the server picks: no collisions), on the warehouse reset to its
10,000 open jobs. For each run it prints the CPU used by
the API processes, Postgres (exited backends included), wrk and the rest of the machine, the
CPU per request, the Postgres sessions opened and what the API's backends were doing
(pg_stat_activity samples). It stops everything it started.

    .venv/bin/python bench/api_load.py [--processes 2] [--connections 16,32,64]
        [--duration 15] [--claim-connections 200] [--claim-seconds 10] [--py-spy DIR]

Needs wrk (`apt-get install wrk`). `--py-spy DIR` (`pip install py-spy` in the venv) records
one API worker during the last figure 1 run and the claim runs (`py-spy record --gil`, raw
collapsed stacks: speedscope or flamegraph.pl read them) and prints where its GIL time went.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from api.auth import store
from api.auth.tokens import TokenIssuer
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.processes import Child, answers, free_port
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.migrate import upgrade_warehouse
from veriframe_core.warehouse.urls import psycopg2_url

REPO = Path(__file__).resolve().parent.parent
LUA = REPO / "bench" / "lua"
AVAILABLE_PATH = "/api/v1/jobs/available"
JWT_SECRET = "bench-api-load-" + "0" * 40
ACCESS_TTL_S = 3600
MAX_ACTIVE_CLAIMS = 100  # the default 4 would stop 1,000 workers taking 10,000 jobs
TARGET_RPS, TARGET_P99_MS, TARGET_CLAIMS_PER_S = 2000, 50.0, 500
CORES = psutil.cpu_count() or 1
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

HISTORY_PER_WORKER = 10  # past attempts per worker, on settled jobs outside the open ones
HISTORY_JOB_ID = 10**9

# Declared worker capabilities (weights) and render-settings requirements of jobs.
WORKER_DEVICES = [
    (["CUDA", "OPTIX"], 35),
    (["CUDA"], 20),
    (["HIP"], 15),
    (["METAL"], 10),
    (["ONEAPI"], 5),
    (["CPU"], 10),
    (None, 5),  # no capabilities declared at all
]
VRAM_MB = [4096, 8192, 12288, 16384, 24576]
BLENDER = ["3.6", "4.1", "4.2", "4.3"]
REQUIREMENTS: list[dict[str, Any]] = [
    {"devices": ["CUDA", "OPTIX"], "min_vram_mb": 8192},
    {"devices": ["CUDA", "OPTIX", "HIP"], "min_blender_version": "4.1"},
    {"min_vram_mb": 16384, "os": ["linux"]},
    {"devices": ["CPU", "CUDA", "HIP", "METAL", "ONEAPI", "OPTIX"], "min_blender_version": "4.2"},
    {"os": ["linux", "windows"]},
    {"devices": ["CUDA"], "min_vram_mb": 12288, "min_blender_version": "4.2", "os": ["linux"]},
]


# ---------------------------------------------------------------------------- seeding
@dataclass
class SeedWorker:
    address: str
    reputation: int
    capabilities: dict[str, Any] | None


@dataclass
class SeedJob:
    job_id: int
    creator: str
    min_reputation: int
    created_tx: str
    requirements: dict[str, Any] | None = None


@dataclass
class Seeded:
    workers: list[SeedWorker]
    jobs: list[SeedJob]
    tokens: list[str] = field(default_factory=list)


def felt_hex(rng: random.Random, bits: int = 248) -> str:
    return f"0x{rng.getrandbits(bits):064x}"


def fake_cid(rng: random.Random) -> str:
    return "Qm" + "".join(rng.choice(BASE58) for _ in range(44))


def version(text: str | None) -> list[int] | None:
    return [int(p) for p in text.split(".")] if text else None


def pg_array(values: list[Any] | None) -> str | None:
    return None if values is None else "{" + ",".join(str(v) for v in values) + "}"


def copy_rows(conn: sa.Connection, table: str, columns: str, rows: list[list[Any]]) -> None:
    """COPY rows (None is NULL) into `table`'s `columns` (names separated by spaces) in the
    connection's transaction."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.copy_expert(
        f"COPY {table} ({', '.join(columns.split())}) FROM STDIN WITH (FORMAT csv)", buffer
    )


def make_workers(rng: random.Random, count: int, taken: set[str]) -> list[SeedWorker]:
    devices, weights = zip(*WORKER_DEVICES, strict=True)
    out = []
    while len(out) < count:
        address = felt_hex(rng)
        if address in taken:
            continue
        taken.add(address)
        chosen = rng.choices(devices, weights)[0]
        caps = None
        if chosen is not None:
            caps = {
                "devices": chosen,
                "vram_mb": rng.choice(VRAM_MB),
                "blender_version": rng.choice(BLENDER),
                "os": "macos" if chosen == ["METAL"] else rng.choice(["linux", "linux", "windows"]),
            }
        out.append(SeedWorker(address, rng.randint(400, 1000), caps))
    return out


def make_jobs(
    rng: random.Random, count: int, creators: list[str], with_settings: float
) -> list[SeedJob]:
    txs: set[str] = set()
    out = []
    for job_id in range(1, count + 1):
        tx = felt_hex(rng, 252)
        while tx in txs:
            tx = felt_hex(rng, 252)
        txs.add(tx)
        minimum = rng.choices([400, 600, 800], [70, 20, 10])[0]
        requirements = rng.choice(REQUIREMENTS) if rng.random() < with_settings else None
        out.append(SeedJob(job_id, rng.choice(creators), minimum, tx, requirements))
    return out


def seed(engine: sa.Engine, n_workers: int, n_jobs: int, seed_value: int) -> Seeded:
    """Workers (registered, verified, reputations 400-1000, capabilities), open jobs, render
    settings for ~20 % of the jobs; all by COPY in one transaction."""
    rng = random.Random(seed_value)
    taken: set[str] = set()
    owner = felt_hex(rng)
    creators = [felt_hex(rng) for _ in range(40)]
    taken.update([owner, *creators])
    workers = make_workers(rng, n_workers, taken)
    jobs = make_jobs(rng, n_jobs, creators, with_settings=0.2)
    now = datetime.now(UTC)
    worker_rows = []
    for i, w in enumerate(workers):
        completed = rng.randint(0, 300)
        worker_rows.append(
            [
                w.address,
                "t",
                rng.getrandbits(200),
                now - timedelta(days=rng.randint(30, 300)),
                "t",
                now - timedelta(days=rng.randint(1, 29)),
                owner,
                w.reputation,
                completed,
                rng.randint(0, completed // 10),
                completed * rng.randint(10**16, 10**19),
                json.dumps(w.capabilities) if w.capabilities else None,
                json.dumps({"cpu_cores": rng.choice([8, 16, 32]), "ram_gb": 64}),
                "t",
                now,
                1000 + i,
                felt_hex(rng, 252),
            ]
        )
    job_rows, settings_rows = [], []
    for j in jobs:
        cid = fake_cid(rng)
        part1, part2 = cid_to_felts(cid)
        block = 5000 + j.job_id // 4
        created = now - timedelta(seconds=rng.randint(0, 3 * 86400))
        job_rows.append(
            [
                j.job_id,
                j.creator,
                part1,
                part2,
                cid,
                int(10 ** rng.uniform(15, 21)),
                now + timedelta(days=rng.randint(30, 90)),
                j.min_reputation,
                "open",
                created,
                block,
                j.created_tx,
                block,
                j.created_tx,
            ]
        )
        if (req := j.requirements) is not None:
            settings_rows.append(
                [
                    j.job_id,
                    j.created_tx,
                    rng.randint(1, 250),
                    rng.choice([1920, 2560, 3840]),
                    rng.choice([1080, 1440, 2160]),
                    rng.choice([64, 128, 256, 1024]),
                    rng.choice(["CYCLES", "CYCLES", "BLENDER_EEVEE_NEXT"]),
                    rng.choice(["PNG", "OPEN_EXR"]),
                    pg_array(req.get("devices")),
                    req.get("min_vram_mb"),
                    pg_array(version(req.get("min_blender_version"))),
                    pg_array(req.get("os")),
                    j.creator,
                    now,
                ]
            )
    with engine.begin() as conn:
        copy_rows(
            conn,
            "workers",
            "address registered info_cid registered_at verified verified_at verified_by "
            "reputation jobs_completed jobs_failed total_earnings capabilities hardware_specs "
            "active last_seen updated_block updated_tx",
            worker_rows,
        )
        copy_rows(
            conn,
            "jobs",
            "job_id creator_address asset_cid_part1 asset_cid_part2 asset_cid reward_amount "
            "deadline min_reputation status created_at created_block created_tx "
            "updated_block updated_tx",
            job_rows,
        )
        copy_rows(
            conn,
            "job_render_settings",
            "job_id created_tx frame resolution_x resolution_y samples engine output_format "
            "required_devices min_vram_mb min_blender_version required_os set_by "
            "updated_at",
            settings_rows,
        )
        # a warehouse that has been running: past attempts of the workers on settled jobs
        # (so job_attempts has statistics, as autovacuum keeps them on a live database)
        past = now - timedelta(days=3)
        attempt_rows = [
            [
                HISTORY_JOB_ID + i * HISTORY_PER_WORKER + k,
                felt_hex(rng),
                1,
                w.address,
                rng.choice(["completed", "completed", "completed", "failed", "expired"]),
                past,
                past + timedelta(minutes=2),
                past + timedelta(minutes=1),
            ]
            for i, w in enumerate(workers)
            for k in range(HISTORY_PER_WORKER)
        ]
        copy_rows(
            conn,
            "job_attempts",
            "job_id created_tx attempt worker_address state claimed_at lease_expires_at ended_at",
            attempt_rows,
        )
    vacuum(engine)
    return Seeded(workers, jobs)


def vacuum(engine: sa.Engine) -> None:
    """What autovacuum does to a running warehouse (visibility map, hint bits, statistics),
    so that every figure starts from the same steady state."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def mint_tokens(engine: sa.Engine, workers: list[SeedWorker]) -> list[str]:
    """One access token per worker with its live session row, as `token_for` in
    tests/api/protocol/test_claims.py mints them (state-changing routes check the session)."""
    issuer = TokenIssuer(JWT_SECRET.encode(), ACCESS_TTL_S, ACCESS_TTL_S)
    roles = ("worker",)
    tokens = []
    with engine.begin() as conn:
        for w in workers:
            session_id = secrets.token_hex(16)
            _, jti = issuer.refresh_token(w.address, roles, session_id)
            store.open_session(conn, session_id, w.address, roles, jti, ACCESS_TTL_S)
            tokens.append(issuer.access_token(w.address, roles, session_id))
    return tokens


# ------------------------------------------------------------------- the claim plan
def meets(caps: dict[str, Any] | None, req: dict[str, Any] | None) -> bool:
    """`api.protocol.claims.capability_match` in Python: an undeclared capability meets nothing."""
    if req is None:
        return True
    caps = caps or {}
    if "devices" in req and not set(req["devices"]) & set(caps.get("devices") or []):
        return False
    if "min_vram_mb" in req and not (caps.get("vram_mb") or 0) >= req["min_vram_mb"]:
        return False
    if "min_blender_version" in req:
        have = version(caps.get("blender_version"))
        if have is None or have < version(req["min_blender_version"]):
            return False
    return not ("os" in req and caps.get("os") not in req["os"])


def claim_plan(seeded: Seeded, attempts: int, rng: random.Random) -> list[tuple[int, int]]:
    """(token line, job id) pairs: workers in rotation, each picking a random job it may
    claim (reputation and capabilities), never the same job twice for one worker. Picks are
    over all its jobs, claimed or not, so collisions grow as the jobs are taken."""
    by_class: dict[tuple[int, str], list[int]] = {}
    plan: list[tuple[int, int]] = []
    seen: list[set[int]] = [set() for _ in seeded.workers]
    for step in range(attempts):
        index = step % len(seeded.workers)
        w = seeded.workers[index]
        key = (w.reputation, json.dumps(w.capabilities, sort_keys=True))
        if key not in by_class:
            by_class[key] = [
                j.job_id
                for j in seeded.jobs
                if j.min_reputation <= w.reputation and meets(w.capabilities, j.requirements)
            ]
        choices = by_class[key]
        if len(seen[index]) >= len(choices):
            continue
        job = rng.choice(choices)
        while job in seen[index]:
            job = rng.choice(choices)
        seen[index].add(job)
        plan.append((index + 1, job))
    return plan


def claim_next_plan(seeded: Seeded, attempts: int, rng: random.Random) -> list[tuple[int, str]]:
    """(token line, "next") pairs: the workers in a shuffled rotation, as many times as it
    takes."""
    order = list(range(1, len(seeded.workers) + 1))
    plan: list[tuple[int, str]] = []
    while len(plan) < attempts:
        rng.shuffle(order)
        plan.extend((who, "next") for who in order)
    return plan[:attempts]


# -------------------------------------------------------------------- processes
def cpu_of(processes: list[psutil.Process]) -> float:
    """CPU seconds of the processes and of their children that have exited (a parent's
    `children_*` times: Postgres backends of pool connections closed during a run)."""
    total = 0.0
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class ApiProcess:
    """`uvicorn api.app:create_app --factory --workers N` in its own process group."""

    def __init__(self, processes: int, env: dict[str, str], log: Path):
        self.processes = processes
        self.port = free_port()
        self.env = env
        self.log = log
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ApiProcess:
        command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.processes), "--no-access-log"]
        self.log.unlink(missing_ok=True)  # its startup lines are counted
        self.child = Child.spawn("the API", command, self.log, env=self.env, cwd=REPO)
        self.child.wait_ready(self._serving, timeout_s)
        return self

    def _serving(self) -> bool:
        """Every worker process has started and the API answers."""
        started = self.log.read_text(errors="replace").count("Application startup complete")
        return started >= self.processes and answers(self.url + "/")

    def workers(self) -> list[psutil.Process]:
        """The processes serving requests (uvicorn's supervisor has no app)."""
        everything = self.processes_all()
        if self.processes == 1:
            return everything[:1]
        return [p for p in everything[1:] if "resource_tracker" not in " ".join(p.cmdline())]

    def processes_all(self) -> list[psutil.Process]:
        assert self.child is not None
        return tree(self.child.pid)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=20)


def machine_busy() -> float:
    """CPU seconds every process on the machine has used (busy time of all cores)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "steal", 0.0)


@dataclass
class Meter:
    """CPU seconds of named process sets over a run, and of the rest of the machine."""

    sources: dict[str, Callable[[], list[psutil.Process]]]
    sessions: Callable[[], int] | None = None
    before: dict[str, float] = field(default_factory=dict)
    opened: int = 0  # Postgres sessions started during the last run

    def start(self) -> None:
        self.before = {name: cpu_of(get()) for name, get in self.sources.items()}
        self.before["machine"] = machine_busy()
        self.before["sessions"] = self.sessions() if self.sessions else 0

    def stop(self) -> dict[str, float]:
        used = {name: cpu_of(get()) - self.before[name] for name, get in self.sources.items()}
        used["machine"] = machine_busy() - self.before["machine"]
        if self.sessions:
            time.sleep(1.1)  # backends report their statistics at most once a second
            self.opened = self.sessions() - int(self.before["sessions"])
        return used


def pg_sessions(engine: sa.Engine) -> Callable[[], int]:
    """Sessions ever opened to the warehouse database (pg_stat_database), as a counter."""

    def count() -> int:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).scalar_one()

    return count


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    return found


@contextmanager
def py_spy(out: Path | None, pid: int, seconds: float) -> Iterator[None]:
    """`py-spy record` of one API worker for the run (when asked for and installed)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if out is None or spy is None:
        if out is not None:
            print("  (py-spy not installed: no profile)")
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-o", str(out)]
    formats = {".json": "speedscope", ".svg": "flamegraph"}
    # --gil: only samples of the thread holding the GIL, i.e. where the process's Python CPU
    # goes (a thread waiting on Postgres or for the GIL is not sampled)
    command += ["-f", formats.get(out.suffix, "raw"), "--nonblocking", "--gil"]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            recorder.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            recorder.terminate()
            recorder.wait(10)
        print(f"  py-spy profile of API worker {pid}: {out}")
        if out.exists() and formats.get(out.suffix) is None:
            summarize_profile(out)


PROFILE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    (
        "idle: threadpool threads waiting for work or the GIL",
        ("Condition.wait", "Queue.get"),
    ),
    ("asyncpg: the worker protocol's statements", ("asyncpg/",)),
    (
        "psycopg2: sending statements, reading results",
        (
            "do_execute",
            "do_commit",
            "do_rollback",
            "do_ping",
            "psycopg2/__init__",
            "psycopg2.extensions",
        ),
    ),
    (
        "SQLAlchemy: result rows",
        ("sqlalchemy/engine/cursor.py", "sqlalchemy/engine/result.py", "sqlalchemy/engine/row.py"),
    ),
    ("SQLAlchemy: connection pool", ("sqlalchemy/pool/",)),
    ("SQLAlchemy: building, caching and compiling statements", ("sqlalchemy/",)),
    ("pydantic: validation and dump", ("pydantic",)),
    ("stdlib json: encoding responses", ("json/",)),
    ("JWT check", ("jwt/",)),
    ("api/: rows to dicts, claim rules", ("api/",)),
    (
        "HTTP: uvicorn, uvloop/httptools (native, under Runner.run), Starlette/FastAPI, anyio",
        ("uvicorn/", "starlette/", "fastapi/", "anyio/", "httptools", "asyncio/"),
    ),
]


def summarize_profile(path: Path, top: int = 9) -> None:
    """Where one API worker's samples went, by group (py-spy raw output: one collapsed stack
    and its sample count per line); the leaf-most frame that matches a group decides."""
    totals: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        group = "other"
        for frame in reversed(stack.split(";")):
            found = next((g for g, keys in PROFILE_GROUPS if any(k in frame for k in keys)), None)
            if found is not None:
                group = found
                break
        totals[group] = totals.get(group, 0) + int(count)
    busy = sum(n for g, n in totals.items() if not g.startswith("idle"))
    if not busy:
        return
    print(f"    where one API worker's GIL time went ({busy:,} samples, py-spy --gil):")
    ranked = sorted(((n, g) for g, n in totals.items() if not g.startswith("idle")), reverse=True)
    for n, group in ranked[:top]:
        print(f"      {100 * n / busy:5.1f} %  {group}")


def run_wrk(
    script: Path,
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int,
    script_args: list[str],
    meter: Meter,
) -> tuple[dict[str, Any], dict[str, float], str]:
    """One wrk run; returns its BENCH figures, the CPU seconds of the metered processes (wrk
    included) and wrk's own report."""
    command = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    command += ["--timeout", "60s", "-s", str(script), url, "--", *script_args]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.start()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = meter.stop()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["wrk"] = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    machine = cpu.pop("machine")
    cpu["rest of the machine"] = max(0.0, machine - sum(cpu.values()))
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"no BENCH line from {script.name}:\n{done.stdout}\n{done.stderr}")
    report = "\n".join(x for x in done.stdout.splitlines() if not x.startswith("BENCH "))
    return json.loads(line[len("BENCH ") :]), cpu, report


def print_cpu(cpu: dict[str, float], wall: float, requests: int, meter: Meter) -> None:
    """CPU by process set over the run, and per request with the rate it would allow if
    nothing else ran on the machine's cores."""
    parts = [f"{name} {s:.1f} s ({100 * s / wall:.0f} %)" for name, s in cpu.items()]
    print(f"    CPU over {wall:.1f} s ({CORES} cores = {100 * CORES} %): " + " · ".join(parts))
    if not requests:
        return
    if meter.sessions:
        print(
            f"    Postgres sessions opened: {meter.opened:,} ({meter.opened / requests:.2f} per "
            "request: pool overflow connections, opened and closed again)"
        )
    ours = {k: v for k, v in cpu.items() if k != "rest of the machine"}
    per = {name: 1000 * s / requests for name, s in ours.items()}
    ceiling = CORES * 1000 / sum(per.values()) if sum(per.values()) else 0
    print(
        "    CPU per request: "
        + " · ".join(f"{name} {ms:.2f} ms" for name, ms in per.items())
        + f" → at most ~{ceiling:,.0f} req/s on {CORES} otherwise idle cores"
        + ("" if "postgres" in cpu else " (Postgres runs elsewhere: not counted)")
    )


@contextmanager
def backend_states(
    engine: sa.Engine, duration_s: float, period_s: float = 0.05
) -> Iterator[dict[str, float]]:
    """Sample what the warehouse's other backends are doing (pg_stat_activity) for the first
    `duration_s` of the block; fills the dict with the average number in each state."""
    averages: dict[str, float] = {}
    counts: dict[str, int] = {}
    samples = 0
    stop = threading.Event()
    query = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE backend_type = "
        "'client backend' AND datname = current_database() AND pid <> pg_backend_pid()"
    )

    def sample() -> None:
        nonlocal samples
        until = time.monotonic() + duration_s
        with engine.connect() as conn:
            while not stop.is_set() and time.monotonic() < until:
                for state, kind, event in conn.exec_driver_sql(query):
                    key = f"{state}" + (f" ({kind}: {event})" if kind else "")
                    counts[key] = counts.get(key, 0) + 1
                samples += 1
                conn.rollback()  # a fresh statistics snapshot next time
                stop.wait(period_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield averages
    finally:
        stop.set()
        sampler.join(10)
        averages.update({k: n / max(samples, 1) for k, n in counts.items()})


def print_backend_states(states: dict[str, float]) -> None:
    ranked = sorted(states.items(), key=lambda kv: -kv[1])
    text = " · ".join(f"{n:.1f} {state}" for state, n in ranked if n >= 0.05)
    print(f"    Postgres backends of the API, on average over the run: {text}")


# --------------------------------------------------------------------- figure 1
def check_available(api: ApiProcess, token: str) -> None:
    """One request by hand: the page has items and the worker is eligible."""
    answer = httpx.get(
        api.url + AVAILABLE_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["worker"]["eligible"] is True, page["worker"]
    assert page["items"], "no jobs offered to a verified worker"
    assert all(item["status"] == "open" for item in page["items"])
    print(
        f"check: GET {AVAILABLE_PATH} by hand: 200, {len(page['items'])} items, "
        f"worker eligible, {len(answer.content):,} bytes"
    )


def figure_available(
    api: ApiProcess,
    engine: sa.Engine,
    tokens_file: Path,
    levels: list[int],
    seconds: float,
    warmup_s: float,
    threads: int,
    meter: Meter,
    profile: Path | None,
) -> list[dict[str, Any]]:
    """wrk at each connection count (after a warm-up), every request a rotating worker."""
    script = LUA / "available.lua"
    url = api.url + AVAILABLE_PATH
    print(f"\n== Figure 1: GET {AVAILABLE_PATH}, {api.processes} API processes ==")
    common = {"threads": threads, "script_args": [str(tokens_file)], "meter": meter}
    run_wrk(script, url, connections=max(levels), seconds=warmup_s, **common)
    results = []
    for level in levels:
        run_wrk(script, url, connections=level, seconds=min(2.0, warmup_s), **common)
        spying = profile if level == levels[-1] else None
        spy = py_spy(spying, api.workers()[0].pid, seconds - 1)
        with spy, backend_states(engine, seconds) as states:
            figures, cpu, _ = run_wrk(script, url, connections=level, seconds=seconds, **common)
        wall = figures["duration_us"] / 1e6
        rps = figures["requests"] / wall
        errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors"))
        errors += figures["timeouts"]
        ok = (
            rps >= TARGET_RPS
            and figures["p99_us"] / 1000 <= TARGET_P99_MS
            and figures["non_2xx_3xx"] == 0
            and errors == 0
        )
        print(
            f"  -t{threads} -c{level:<3} {rps:8,.0f} req/s  p50 {figures['p50_us'] / 1000:6.1f} ms"
            f"  p90 {figures['p90_us'] / 1000:6.1f} ms  p99 {figures['p99_us'] / 1000:6.1f} ms"
            f"  non-2xx {figures['non_2xx_3xx']}  socket errors {errors}"
            f"  ({'meets' if ok else 'BELOW'} target)"
        )
        print_cpu(cpu, wall, figures["requests"], meter)
        print_backend_states(states)
        results.append({"connections": level, "rps": rps, "cpu": cpu, **figures})
    return results


# --------------------------------------------------------------------- figure 2
def figure_claims(
    title: str,
    api: ApiProcess,
    engine: sa.Engine,
    tokens_file: Path,
    plan_file: Path,
    connections: int,
    seconds: float,
    drain_s: float,
    threads: int,
    meter: Meter,
    profile: Path | None,
) -> dict[str, Any]:
    """wrk -c<connections>: claims for `seconds`, then `drain_s` for the requests in flight
    to be answered (so wrk's 200s are every claim made)."""
    print(f"\n== {title}, {connections} workers at once, {api.processes} API processes ==")
    args = [str(tokens_file), str(plan_file), str(threads), f"{seconds:g}"]
    with py_spy(profile, api.workers()[0].pid, seconds), backend_states(engine, seconds) as states:
        figures, cpu, _ = run_wrk(
            LUA / "claims.lua",
            api.url,
            connections=connections,
            seconds=seconds + drain_s,
            threads=threads,
            script_args=args,
            meter=meter,
        )
    window = figures["window_s"]
    rate = figures["status_200"] / window if window else 0.0
    print(
        f"  {figures['requests']:,} claim requests in {window:.2f} s: "
        f"200 {figures['status_200']:,} · 204 {figures['status_204']:,} · "
        f"409 {figures['status_409']:,} · "
        f"403 {figures['status_403']} · other 4xx {figures['status_other_4xx']} · "
        f"5xx {figures['status_5xx']} · unanswered {figures['unanswered']} · socket errors: "
        f"connect {figures['connect_errors']}, read {figures['read_errors']}, write "
        f"{figures['write_errors']}, timeouts {figures['timeouts']}"
    )
    if figures["read_errors"]:
        print(
            "  (read errors with nothing unanswered: uvicorn closing keep-alive connections "
            "idle for 5 s, the ones parked after the window)"
        )
    print(
        f"  claims/s {rate:,.0f} ({'meets' if rate >= TARGET_CLAIMS_PER_S else 'BELOW'} the "
        f"{TARGET_CLAIMS_PER_S} target) · requests/s {figures['requests'] / window:,.0f} · "
        f"latency p50 {figures['p50_us'] / 1000:.1f} ms p90 {figures['p90_us'] / 1000:.1f} ms "
        f"p99 {figures['p99_us'] / 1000:.1f} ms max {figures['max_us'] / 1000:.1f} ms"
    )
    if figures["threads_out_of_plan"]:
        print("  WARNING: wrk ran out of plan: raise --claim-plan")
    print_cpu(cpu, figures["duration_us"] / 1e6, figures["requests"], meter)
    print_backend_states(states)
    return {"claims_per_s": rate, "cpu": cpu, **figures}


def verify_claims(engine: sa.Engine, wrk: dict[str, Any]) -> list[str]:
    """No job claimed twice, every claim matches an assigned job and a 200 wrk saw."""
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        doubles = q(
            "SELECT count(*) FROM (SELECT job_id FROM job_attempts WHERE state = 'running' "
            "GROUP BY job_id HAVING count(*) > 1) d"
        ).scalar_one()
        running = q("SELECT count(*) FROM job_attempts WHERE state = 'running'").scalar_one()
        attempts = q(  # the bench's own, not the seeded history
            f"SELECT count(*) FROM job_attempts WHERE job_id < {HISTORY_JOB_ID}"
        ).scalar_one()
        assigned = q("SELECT count(*) FROM jobs WHERE status = 'assigned'").scalar_one()
        unmatched = q(
            "SELECT count(*) FROM jobs j WHERE j.status = 'assigned' AND NOT EXISTS (SELECT 1 "
            "FROM job_attempts a WHERE a.job_id = j.job_id AND a.state = 'running')"
        ).scalar_one()
        most = q(
            "SELECT coalesce(max(n), 0) FROM (SELECT count(*) n FROM job_attempts "
            "WHERE state = 'running' GROUP BY worker_address) w"
        ).scalar_one()
        span = q(
            "SELECT extract(epoch FROM max(claimed_at) - min(claimed_at)) FROM job_attempts "
            f"WHERE job_id < {HISTORY_JOB_ID}"
        )
        span_s = float(span.scalar_one() or 0)
    print("\n== claim checks (Postgres) ==")
    checks = [
        (doubles == 0, f"jobs with more than one running attempt: {doubles}"),
        (running == attempts, f"attempts {attempts:,}, all running: {running:,}"),
        (running == assigned, f"running attempts {running:,} = assigned jobs {assigned:,}"),
        (unmatched == 0, f"assigned jobs without a running attempt: {unmatched}"),
        (
            running == wrk["status_200"],
            f"running attempts {running:,} = 200s wrk saw {wrk['status_200']:,}",
        ),
        (most <= MAX_ACTIVE_CLAIMS, f"most claims held by one worker: {most}"),
        (wrk["status_5xx"] == 0, f"5xx answers: {wrk['status_5xx']}"),
        (wrk["unanswered"] == 0, f"claims sent and never answered: {wrk['unanswered']}"),
        (
            not (wrk["status_403"] or wrk["status_other_4xx"] or wrk["status_other"]),
            f"answers other than 200/204/409: 403 {wrk['status_403']}, other "
            f"{wrk['status_other_4xx'] + wrk['status_other']}",
        ),
    ]
    for ok, text in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {text}")
    if span_s:
        print(f"  first to last claimed_at: {span_s:.2f} s = {running / span_s:,.0f} claims/s")
    return [text for ok, text in checks if not ok]


def reopen_claimed(engine: sa.Engine) -> None:
    """Back to 10,000 open jobs and only the seeded history, for the next claim figure."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM job_attempts WHERE job_id < {HISTORY_JOB_ID}")
        conn.exec_driver_sql("UPDATE jobs SET status = 'open' WHERE status = 'assigned'")
    vacuum(engine)


# ------------------------------------------------------------------------- setup
@contextmanager
def warehouse(work: Path) -> Iterator[tuple[str, int | None]]:
    """The URL of a fresh, migrated warehouse and the postmaster's pid: a scratch database
    on the server of VERIFRAME_DATABASE_URL (dropped at the end; its CPU is not metered),
    else an embedded PostgreSQL in `work`."""
    configured = os.environ.get("VERIFRAME_DATABASE_URL")
    if configured:
        base = make_url(psycopg2_url(configured))
        name = f"veriframe_bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
        try:
            upgrade_warehouse(url)
            yield url, None
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
        return
    postgres = EmbeddedPostgres(work / "postgres")
    postgres.start()
    try:
        postgres.ensure_database("veriframe")
        url = postgres.url("veriframe")
        upgrade_warehouse(url)
        yield url, postgres.pid
    finally:
        postgres.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--jobs", type=int, default=10_000, help="open jobs to seed")
    parser.add_argument("--workers", type=int, default=1_000, help="verified workers to seed")
    parser.add_argument("--connections", default="16,32,64", help="figure 1 connection counts")
    parser.add_argument("--duration", type=float, default=15, help="figure 1 seconds per run")
    parser.add_argument("--warmup", type=float, default=5, help="figure 1 warm-up seconds")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--claim-connections", type=int, default=200)
    parser.add_argument("--claim-seconds", type=float, default=10, help="claim window")
    parser.add_argument(
        "--claim-drain", type=float, default=10, help="seconds for the last claims to answer"
    )
    parser.add_argument("--claim-plan", type=int, default=60_000, help="claim attempts planned")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--py-spy", type=Path, help="write py-spy profiles here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.connections.split(",")]
    wrk_binary()

    work = Path(tempfile.mkdtemp(prefix="veriframe-api-load-"))
    api: ApiProcess | None = None
    failures: list[str] = []
    try:
        with warehouse(work) as (url, postgres_pid):
            engine = make_engine(url)
            started = time.perf_counter()
            seeded = seed(engine, args.workers, args.jobs, args.seed)
            seeded.tokens = mint_tokens(engine, seeded.workers)
            with_settings = sum(j.requirements is not None for j in seeded.jobs)
            print(
                f"seeded {len(seeded.jobs):,} open jobs ({with_settings:,} with render "
                f"settings), {len(seeded.workers):,} verified workers and their sessions in "
                f"{time.perf_counter() - started:.1f} s"
            )
            tokens_file = work / "tokens.txt"
            tokens_file.write_text("\n".join(seeded.tokens) + "\n")
            plans = {
                "assign": claim_plan(seeded, args.claim_plan, random.Random(args.seed + 1)),
                "next": claim_next_plan(seeded, args.claim_plan, random.Random(args.seed + 2)),
            }
            for name, plan in plans.items():
                (work / f"{name}.txt").write_text("".join(f"{w} {j}\n" for w, j in plan))

            env = {
                **os.environ,
                "VERIFRAME_DATABASE_URL": url,
                "VERIFRAME_API_JWT_SECRET": JWT_SECRET,
                "VERIFRAME_STARKNET_RPC_URL": f"http://127.0.0.1:{free_port()}/rpc",
                "VERIFRAME_DATA_DIR": str(work / "data"),
                "VERIFRAME_API_MAX_ACTIVE_CLAIMS": str(MAX_ACTIVE_CLAIMS),
            }
            api = ApiProcess(args.processes, env, work / "api.log").start()
            print(f"API up at {api.url}: {args.processes} processes (uvicorn --workers)")
            sources: dict[str, Callable[[], list[psutil.Process]]] = {"API": api.processes_all}
            if postgres_pid is not None:
                sources["postgres"] = lambda: tree(postgres_pid)
            meter = Meter(sources, pg_sessions(engine))
            check_available(api, seeded.tokens[0])
            spy = args.py_spy.resolve() if args.py_spy else None
            available = figure_available(
                api,
                engine,
                tokens_file,
                levels,
                args.duration,
                args.warmup,
                args.threads,
                meter,
                spy / "available.txt" if spy else None,
            )
            for r in available:
                if r["non_2xx_3xx"]:
                    failures.append(f"figure 1 -c{r['connections']}: {r['non_2xx_3xx']} non-2xx")
            figures = (
                ("assign", "Figure 2: claims by job id (POST /jobs/{id}/assign)"),
                ("next", "Figure 3: claims by the server's pick (POST /jobs/claim-next)"),
            )
            for n, (name, title) in enumerate(figures):
                if n:
                    reopen_claimed(engine)
                claims = figure_claims(
                    title,
                    api,
                    engine,
                    tokens_file,
                    work / f"{name}.txt",
                    args.claim_connections,
                    args.claim_seconds,
                    args.claim_drain,
                    args.threads,
                    meter,
                    spy / f"claims-{name}.txt" if spy else None,
                )
                failures += verify_claims(engine, claims)
            engine.dispose()
            api.stop()
    finally:
        if api is not None:
            api.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}")
    if failures:
        raise SystemExit("FAILED:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()

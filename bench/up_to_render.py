"""From `veriframe up` to the demo job materialized, on a fresh data directory each round;
then the whole stack at rest: memory (RSS and PSS summed over its processes) and CPU.

    .venv/bin/python bench/up_to_render.py --rounds 3 --rest-s 60
    .venv/bin/python bench/up_to_render.py --compare OLD_CHECKOUT NEW_CHECKOUT --rounds 6

`--compare` alternates two checkouts of the code (each run from its own folder, with this
venv), round by round, so both see the same drift of the machine's speed; `--code` runs one
other checkout.

Each round runs the README's first command as a newcomer would (after install): a new data
directory, so the embedded Postgres is initialised, devchain deploys its contracts, the IPFS
repository is created, the worker is registered and verified, and the demo scene is made.
The bench reads `up`'s output as it comes (each line stamped on arrival) and, once Dagster
has recorded the demo partition, the claim, the render and the run from the databases, and
prints where the time went. After the last round it waits for the demo's payment, lets the
stack settle, and samples every process of the stack for `--rest-s` seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

from veriframe_core.processes import free_port
from veriframe_core.warehouse.embedded import EmbeddedPostgres

MARKS = [  # (what happened, the first line of `up` that says so); missing ones are skipped
    ("embedded Postgres started (initdb on a fresh data dir)", "PostgreSQL: started"),
    ("migrations done, devchain spawned", "started devchain"),
    ("devchain ready (contracts deployed, accounts funded)", "devchain is ready"),
    ("IPFS node ready", "the IPFS node is ready"),
    ("API spawned", "started api"),
    ("API ready", "the API is ready"),
    ("worker registered + verified, agent spawned", "started worker"),
    ("Dagster webserver ready", "the Dagster webserver is ready"),
    ("demo job created on chain, its settings attached", "Demo job 1"),
]
MATERIALIZED = """
SELECT e.timestamp, e.run_id, r.create_timestamp, r.start_time
FROM event_logs e JOIN runs r ON r.run_id = e.run_id
WHERE e.dagster_event_type = 'ASSET_MATERIALIZATION' AND e.asset_key = '["render"]'
  AND e.partition = '1'
"""


class Up:
    """`veriframe up` in its own session on free ports; its lines stamped as they arrive."""

    def __init__(self, data_dir: Path, code: Path | None = None):
        self.data_dir = data_dir
        self.ports = {p: str(free_port()) for p in ("DEVCHAIN", "DAGSTER", "API", "IPFS")}
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
        env["VERIFRAME_DATA_DIR"] = str(data_dir)
        env.update({f"VERIFRAME_{name}_PORT": port for name, port in self.ports.items()})
        if code is not None:
            env["PYTHONPATH"] = str(code)
        self.lines: list[tuple[float, str]] = []
        self.t0 = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "veriframe.cli", "up"],
            cwd=code,  # `-m` puts the working directory first on sys.path
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip()))

    def when(self, text: str, timeout: float = 600) -> float:
        """Seconds from the start to the first line containing `text`."""
        deadline = time.monotonic() + timeout
        while True:
            for stamp, line in list(self.lines):
                if text in line:
                    return stamp - self.t0
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(line for _, line in self.lines[-30:])
                raise RuntimeError(f"`up` never printed {text!r}:\n{tail}")
            time.sleep(0.05)

    def seen(self, text: str) -> float | None:
        """Seconds from the start to the first line so far containing `text` (None: none)."""
        return next((t - self.t0 for t, line in list(self.lines) if text in line), None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # Ctrl-C: up stops its children itself
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        EmbeddedPostgres(self.data_dir / "postgres").stop()  # in case up could not


def demo_record(up: Up, timeout: float = 300) -> dict[str, float]:
    """When the demo was claimed, rendered, its run created and started, and materialized
    (seconds from the start), read from the warehouse and Dagster's storage."""
    server = EmbeddedPostgres(up.data_dir / "postgres")
    dagster = sa.create_engine(server.url("dagster"))
    warehouse = sa.create_engine(server.url("veriframe"))
    deadline = time.monotonic() + timeout
    try:
        while True:
            with dagster.connect() as conn:
                row = conn.execute(sa.text(MATERIALIZED)).first()
            if row:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the demo partition was not materialized")
            time.sleep(0.1)
        with warehouse.connect() as conn:
            attempt = conn.execute(
                sa.text("SELECT claimed_at, ended_at FROM job_attempts WHERE job_id = 1")
            ).one()
            job = conn.execute(
                sa.text(
                    "SELECT j.created_at, j.indexed_at, s.updated_at AS attached_at FROM jobs j "
                    "JOIN job_render_settings s USING (job_id) WHERE job_id = 1"
                )
            ).one()
    finally:
        dagster.dispose()
        warehouse.dispose()

    def since(value: dt.datetime | float) -> float:
        stamp = value.timestamp() if isinstance(value, dt.datetime) else value
        return stamp - up.t0

    return {
        "on chain": since(job.created_at),
        "indexed": since(job.indexed_at),
        "attached": since(job.attached_at),
        "claimed": since(attempt.claimed_at),
        "render ended": since(attempt.ended_at),
        "run created": since(row.create_timestamp.replace(tzinfo=dt.UTC)),
        "run started": since(row.start_time),
        "materialized": since(row.timestamp.replace(tzinfo=dt.UTC)),
    }


def tick_gaps(up: Up) -> dict[str, list[float]]:
    """Seconds between consecutive ticks of each sensor, from Dagster's `job_ticks`."""
    dagster = sa.create_engine(EmbeddedPostgres(up.data_dir / "postgres").url("dagster"))
    try:
        with dagster.connect() as conn:
            rows = conn.execute(sa.text("SELECT tick_body, timestamp FROM job_ticks ORDER BY id"))
            stamps: dict[str, list[dt.datetime]] = {}
            for body, stamp in rows:
                tick = json.loads(body)
                name = tick.get("instigator_name") or tick.get("job_name") or "?"
                stamps.setdefault(name, []).append(stamp)
    finally:
        dagster.dispose()
    return {
        name: [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        for name, times in stamps.items()
        if name.endswith("sensor")
    }


def print_tick_gaps(up: Up) -> None:
    for sensor, gaps in tick_gaps(up).items():
        slow = sum(gap > 7.5 for gap in gaps)
        print(f"  {sensor}: {len(gaps)} gaps between ticks, {slow} of them over 7.5 s")


def one_round(data_dir: Path, code: Path | None = None) -> tuple[Up, dict[str, float]]:
    up = Up(data_dir, code)
    up.when("Demo job 1")  # the job exists: its record follows in the databases
    marks = demo_record(up)
    for name, text in MARKS:
        if (at := up.seen(text)) is not None:
            marks[name] = at
    return up, marks


DEMO_MARKS = [
    ("demo job's block (devchain's clock)", "on chain"),
    ("demo job indexed by the chain sensor", "indexed"),
    ("demo job's render settings attached", "attached"),
    ("claimed by the local worker", "claimed"),
    ("render ended (downloaded, rendered, uploaded, reported)", "render ended"),
    ("Dagster run created (render sensor)", "run created"),
    ("run process started", "run started"),
    ("render partition materialized", "materialized"),
]


def timeline(marks: dict[str, float]) -> list[tuple[str, float]]:
    """(what, seconds from `up`'s start), in the order they happened."""
    named = [(name, marks[name]) for name, _ in MARKS if name in marks]
    named += [(name, marks[key]) for name, key in DEMO_MARKS]
    return sorted(named, key=lambda item: item[1])


def stack_processes(up: Up) -> dict[int, str]:
    """Every process of the stack, by the part it belongs to."""
    parts: dict[int, str] = {}
    named = {
        int(m[2]): m[1]
        for _, line in up.lines
        if (m := re.search(r"started (\S+) \(pid (\d+)\)", line))
    }
    root = psutil.Process(up.proc.pid)
    parts[root.pid] = "veriframe up"
    for child in root.children(recursive=True):
        try:
            lineage = [child, *child.parents()]
        except psutil.NoSuchProcess:  # came and went while we looked
            continue
        parts[child.pid] = next((named[p.pid] for p in lineage if p.pid in named), "veriframe up")
    postmaster = EmbeddedPostgres(up.data_dir / "postgres").pid
    if postmaster:
        server = psutil.Process(postmaster)
        for proc in [server, *server.children(recursive=True)]:
            parts[proc.pid] = "postgres"
    return parts


def cpu_seconds(up: Up) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every live process of the stack, with its part."""
    seen = {}
    for pid, part in stack_processes(up).items():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        seen[pid] = (part, times.user + times.system)
    return seen


def at_rest(up: Up, seconds: float) -> None:
    """Memory and CPU of the whole stack, idle, over `seconds`. The stack is listed again
    every half second, so processes that come and go (connections, runs) are counted."""
    memory: dict[str, list[float]] = {}
    for pid, part in stack_processes(up).items():
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.NoSuchProcess:
            continue
        row = memory.setdefault(part, [0.0, 0.0, 0])
        row[0] += info.rss / 2**20
        row[1] += info.pss / 2**20
        row[2] += 1
    baseline = {pid: cpu for pid, (_, cpu) in cpu_seconds(up).items()}
    last: dict[int, tuple[str, float]] = {}
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(0.5)
        last.update(cpu_seconds(up))
    elapsed = time.monotonic() - start
    cpu: dict[str, float] = {}
    for pid, (part, total) in last.items():
        cpu[part] = cpu.get(part, 0.0) + total - baseline.get(pid, 0.0)
    appeared = len(set(last) - set(baseline))
    print(f"\nAt rest ({elapsed:.0f} s window, after the demo was paid):")
    print(f"  {'part':22} {'procs':>5} {'RSS MiB':>9} {'PSS MiB':>9} {'CPU % of a core':>16}")
    for part in sorted(memory, key=lambda p: -memory[p][1]):
        rss, pss, count = memory[part]
        share = 100 * cpu.get(part, 0.0) / elapsed
        print(f"  {part:22} {count:5.0f} {rss:9.0f} {pss:9.0f} {share:16.2f}")
    print(
        f"  {'total':22} {sum(m[2] for m in memory.values()):5.0f} "
        f"{sum(m[0] for m in memory.values()):9.0f} {sum(m[1] for m in memory.values()):9.0f} "
        f"{100 * sum(cpu.values()) / elapsed:16.2f}"
    )
    print(f"  processes that started during the window: {appeared}")


def report(label: str, totals: list[float], timelines: list[dict[str, float]]) -> None:
    print(f"\n{label}`veriframe up` → demo materialized: median {statistics.median(totals):.1f} s")
    print("  rounds: " + ", ".join(f"{t:.1f}" for t in totals))
    print("  timeline (median seconds from `up`'s start; Δ from the line before):")
    medians = {
        name: statistics.median(t[name] for t in timelines if name in t) for name in timelines[0]
    }
    last = 0.0
    for name, at in sorted(medians.items(), key=lambda item: item[1]):
        print(f"    {at:6.1f}  (+{at - last:5.1f})  {name}")
        last = at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rest-s", type=float, default=60)
    parser.add_argument("--settle-s", type=float, default=20)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    parser.add_argument("--code", type=Path, help="a checkout to run instead of this one")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop `up` on the way out
    variants = args.compare or [args.code]
    results: dict[Path | None, tuple[list, list]] = {v: ([], []) for v in variants}
    for number in range(1, args.rounds + 1):
        code = variants[(number - 1) % len(variants)]
        workdir = Path(tempfile.mkdtemp(prefix="veriframe-up-bench-"))
        up, marks = one_round(workdir / "data", code)
        try:
            results[code][0].append(marks["materialized"])
            results[code][1].append(dict(timeline(marks)))
            label = f" ({code})" if code else ""
            print(f"round {number}{label}: up → demo materialized in {marks['materialized']:.1f} s")
            print_tick_gaps(up)
            if number == args.rounds and args.rest_s > 0:
                up.when("API docs", timeout=600)  # printed once the demo job was paid
                time.sleep(args.settle_s)
                at_rest(up, args.rest_s)
                print("  since `up` started, at rest included:")
                print_tick_gaps(up)
        finally:
            up.stop()
    for code, (totals, timelines) in results.items():
        report(f"{code}: " if code else "", totals, timelines)


if __name__ == "__main__":
    main()

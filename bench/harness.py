"""What the benchmarks share: the Dagster daemon as a process on Postgres storage, its CPU,
its sensors' ticks read from Dagster's own tables, percentiles."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import sqlalchemy as sa

from veriframe_core.settings import Settings
from veriframe_dagster.dagster_home import dagster_environment, prepare_dagster_home


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, round(q / 100 * len(ordered) + 0.5) - 1)]


def dagster_env(data_dir: Path, dagster_url: str, **settings: str) -> dict[str, str]:
    """The environment `veriframe up` gives Dagster (VERIFRAME_* of this shell left out)."""
    home = prepare_dagster_home(Settings(data_dir=data_dir), dagster_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
    env.update(dagster_environment(home, dagster_url))
    env["VERIFRAME_DATA_DIR"] = str(data_dir)
    env.update({f"VERIFRAME_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`dagster-daemon run` in its own process group (`stop_group` stops its runs too)."""
    argv = [str(Path(sys.executable).parent / "dagster-daemon"), "run"]
    argv += ["-m", "veriframe_dagster.definitions"]
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process's group if it leads one (else the process), SIGKILL after 30 s."""
    if proc.poll() is not None:
        return
    leads = os.getpgid(proc.pid) == proc.pid
    send = (lambda sig: os.killpg(proc.pid, sig)) if leads else proc.send_signal
    send(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants, those that ended included (as far as
    they were waited for by a process of the tree)."""
    total = 0.0
    try:
        parent = psutil.Process(pid)
        for p in [parent, *parent.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    except psutil.NoSuchProcess:
        pass
    return total


def wait_for(check: Callable[[], object], what: str, timeout: float, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"a process the benchmark needs exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(0.1)


def sensor_ticks(dagster_url: str, name: str, since: float) -> list[dict]:
    """The finished ticks of sensor `name` since the epoch `since`, from `job_ticks`."""
    engine = sa.create_engine(dagster_url)
    with engine.connect() as conn:
        bodies = conn.execute(
            sa.text("SELECT tick_body FROM job_ticks WHERE type = 'SENSOR' ORDER BY id")
        ).scalars()
        ticks = [json.loads(b) for b in bodies]
    engine.dispose()
    return [
        t
        for t in ticks
        if t.get("job_name") == name and t["timestamp"] >= since and t.get("end_timestamp")
    ]

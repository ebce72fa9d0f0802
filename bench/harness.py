"""What the benchmarks share: the Dagster daemon as a process on Postgres storage, its CPU,
its sensors' ticks read from Dagster's own tables, percentiles."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import psutil
import sqlalchemy as sa

from veriframe_core.processes import Child
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


def start_daemon(env: dict[str, str], log: Path, cwd: Path | None = None) -> Child:
    """`dagster-daemon run` in its own process group (its `stop` stops its runs too), in
    `cwd` (Dagster puts its working directory first on the code location's path)."""
    argv = [str(Path(sys.executable).parent / "dagster-daemon"), "run"]
    argv += ["-m", "veriframe_dagster.definitions"]
    return Child.spawn("dagster-daemon", argv, log, env=env, cwd=cwd)


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

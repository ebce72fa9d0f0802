"""Dagster's daemon as a real process on a Postgres instance built from the repo's
dagster.yaml: it runs the sensors, dequeues runs and launches each in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from veriframe_core.processes import Child

ROOT = Path(__file__).resolve().parents[2]
LOCATION = ["-m", "veriframe_dagster.definitions"]


class DagsterDaemon:
    """`dagster-daemon run` in its own process group (its run processes stop with it)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.child: Child | None = None

    def start(self) -> DagsterDaemon:
        argv = [str(Path(sys.executable).parent / "dagster-daemon"), "run", *LOCATION]
        self.child = Child.spawn("dagster-daemon", argv, self.log, env=self.env, cwd=ROOT)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=60)
        self.child = None


def launch(env: dict[str, str], job_name: str) -> None:
    """`dagster job launch`: the run goes to the instance's queue, the daemon starts it."""
    subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", *LOCATION, "-j", job_name],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def materializations(instance: dg.DagsterInstance, partition: str) -> list:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("render"), asset_partitions=[partition]),
        limit=10,
    ).records
    return list(records)

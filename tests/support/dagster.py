"""Dagster's daemon as a real process on a Postgres instance built from the repo's
dagster.yaml: it runs the sensors, dequeues runs and launches each in its own process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]
LOCATION = ["-m", "veriframe_dagster.definitions"]


class DagsterDaemon:
    """`dagster-daemon run` in its own process group (its run processes stop with it)."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> DagsterDaemon:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-daemon"), "run", *LOCATION],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


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

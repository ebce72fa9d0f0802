"""Dagster's daemon as a real process on a Postgres instance built from the repo's
dagster.yaml: it runs the sensors, dequeues runs and launches each in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from tests.support.platform import WorkerPlatform
from veriframe_core.processes import Child
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.dagster_home import dagster_environment, prepare_dagster_home

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


def platform_environment(
    platform: WorkerPlatform, embedded_pg: EmbeddedPostgres, data_dir: Path, database: str
) -> dict[str, str]:
    """The variables `veriframe up` gives Dagster, for the platform, on a fresh instance
    database named `database`."""
    embedded_pg.ensure_database(database)
    url = embedded_pg.url(database)
    home = prepare_dagster_home(Settings(data_dir=data_dir), url)
    chain, kubo = platform.chain, platform.kubo
    return {
        **dagster_environment(home, url),
        "VERIFRAME_DATA_DIR": str(data_dir),
        "VERIFRAME_DATABASE_URL": platform.warehouse_url,
        "VERIFRAME_STARKNET_RPC_URL": chain.url,
        "VERIFRAME_JOB_REGISTRY_ADDRESS": hex(chain.registry.address),
        "VERIFRAME_IPFS_API_URL": kubo.url,
        "VERIFRAME_IPFS_GATEWAY_URL": f"{kubo.url}/ipfs",
        "VERIFRAME_OPERATOR_ADDRESS": hex(chain.owner.address),
        "VERIFRAME_OPERATOR_PRIVATE_KEY": chain.private_key(chain.owner),
    }


def with_os_environ(env: dict[str, str]) -> dict[str, str]:
    """`env` over this process's environment, for a Dagster child process."""
    return {**os.environ, **env}


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

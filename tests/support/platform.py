"""The platform worker agents run against in tests (`WorkerPlatform`, the `platform` fixture
of tests/conftest.py), and helpers of the tests that run them."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa
from starknet_py.net.account.account import Account

from kubonode.process import KuboProcess
from render_executor.agent import Agent
from render_executor.chain import ChainSubmitter
from render_executor.session import outages
from render_executor.verifier_agent import VerifierAgent
from tests.support.activity import Activity
from tests.support.api import ApiServer, api_settings, bearer, sign_in
from tests.support.chain import Driver
from tests.support.warehouse import fresh_warehouse, ingestor
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.ipfs import IpfsClient
from veriframe_core.settings import WorkerSettings
from veriframe_core.warehouse.embedded import EmbeddedPostgres

TINY = {"resolution_x": 64, "resolution_y": 48, "samples": 4}
VERIFIABLE = {"resolution_x": 320, "resolution_y": 240, "samples": 16}
"""Settings whose honest frames the verifier passes (0 of 20 draws rejected; `TINY` frames,
where 8 windows of the minimum 32 px side overlap, 2 of 20): for tests that need a verdict."""
VERIFIERS = slice(13, 16)
"""The chain's accounts the API takes for the operator's verifiers (the last three of 16)."""
_rewards = itertools.count(1)


@dataclass(frozen=True)
class WorkerPlatform:
    """The platform's real parts that worker agents work against, and what the tests that
    run them do with those parts: one object, so that a test asks for one fixture."""

    chain: Driver
    activity: Activity
    warehouse: sa.Engine
    api_server: ApiServer
    api: httpx.Client
    kubo: KuboProcess
    demo_scene: Path
    verifiers: list[Account]

    @property
    def warehouse_url(self) -> str:
        """The warehouse's URL, password included, for settings and Dagster's environment."""
        return self.warehouse.url.render_as_string(hide_password=False)

    def upload(self, content: Path | bytes | None = None) -> str:
        """Add a file or bytes (by default the demo scene) to the IPFS node; its CID."""
        content = self.demo_scene if content is None else content
        with IpfsClient(self.kubo.url) as ipfs:
            return ipfs.add(content) if isinstance(content, Path) else ipfs.add_bytes(content)

    def ingest(self) -> None:
        """Bring the warehouse up to the chain's head."""
        ingestor(self.warehouse, self.chain).tick(60, until_caught_up=True)

    def post_job(self, asset_cid: str, *, indexed_by: str = "test", **render_settings: Any) -> int:
        """A job on chain for `asset_cid`, indexed, with tiny render settings from its creator;
        better paid than the jobs before it, so `claim-next` offers it first. Indexed by the
        test (`indexed_by="test"`), or waited for while something else indexes it."""
        chain, creator = self.chain, self.activity.creators[0]
        reward = 10**18 * next(_rewards)
        call = chain.reg("create_job", *cid_to_felts(asset_cid), reward, chain.now() + 10**6)
        chain.send(creator, call)
        job_id = chain.view(chain.registry, "get_job_counter")
        if indexed_by == "test":
            self.ingest()
        else:
            path = f"/api/v1/jobs/{job_id}"
            eventually(lambda: self.api.get(path).status_code == 200, timeout=60)
        auth = bearer(sign_in(self.api, creator, "authenticate"))
        body = {"job_id": job_id, **TINY, **render_settings}
        answer = self.api.post("/api/v1/jobs", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        return job_id

    def agent(
        self, account: Account, data_dir: Path, heartbeat_s: float | None = 0.3, **settings: Any
    ) -> Agent:
        """An agent for `account` on this platform (heartbeats every `heartbeat_s`; None: every
        quarter of the lease, as in service); `settings` replace its worker settings (another
        IPFS node, another API)."""
        key = self.chain.private_key(account)
        values = {
            "data_dir": data_dir,
            "worker_api_url": self.api_server.url,
            "worker_address": hex(account.address),
            "worker_private_key": key,
            "worker_ipfs_api": self.kubo.url,
            "worker_poll_s": 0.2,
            **settings,
        }
        chain, worker = self.chain, WorkerSettings(**values)
        submitter = ChainSubmitter(
            chain.url,
            chain.registry.address,
            account.address,
            int(key, 16),
            outages=outages(worker, f"The chain's node at {chain.url}"),
        )
        return Agent(worker, submitter=submitter, heartbeat_s=heartbeat_s)

    def verifier(self, account: Account, data_dir: Path, **settings: Any) -> VerifierAgent:
        """A verifier agent for `account` (one of `verifiers`, or not, to see it refused)."""
        values = {
            "data_dir": data_dir,
            "worker_role": "verifier",
            "worker_api_url": self.api_server.url,
            "worker_address": hex(account.address),
            "worker_private_key": self.chain.private_key(account),
            "worker_ipfs_api": self.kubo.url,
            "worker_poll_s": 0.2,
            "worker_device": "CPU",
            **settings,
        }
        return VerifierAgent(WorkerSettings(**values))

    @contextmanager
    def verifying(self, data_dir: Path, **settings: Any) -> Iterator[VerifierAgent]:
        """The first verifier account's agent verifying in a thread, until the block ends;
        `settings` replace its worker settings."""
        with self.verifier(self.verifiers[0], data_dir, **settings) as verifier:
            thread = threading.Thread(target=verifier.run, daemon=True, name="verifier")
            thread.start()
            try:
                yield verifier
            finally:
                verifier.stop()
                thread.join(60)

    def worker_process(self, account: Account, data_dir: Path, **env: str) -> subprocess.Popen:
        """`veriframe-worker` for `account` on this platform as its own process; `env`
        replaces its variables (`VERIFRAME_WORKER_API_URL` for another API)."""
        return worker_process(
            self.chain, self.api_server.url, account, data_dir, self.kubo.url, **env
        )

    def messages(self, job_id: int) -> list[dict]:
        """The Pipes messages of the job's attempts, in the order they were sent."""
        with self.warehouse.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT message FROM pipes_messages WHERE job_id = :j ORDER BY attempt_id, seq"
                ),
                {"j": job_id},
            )
            return [r.message for r in rows]

    def logged(self, job_id: int) -> list[str]:
        """The lines the job's attempts logged through Pipes."""
        return [m["params"]["message"] for m in self.messages(job_id) if m["method"] == "log"]


@contextmanager
def worker_platform(
    chain: Driver,
    embedded_pg: EmbeddedPostgres,
    kubo: KuboProcess,
    demo_scene: Path,
    verifier_dir: Path | None,
    **api_changes: Any,
) -> Iterator[WorkerPlatform]:
    """The platform on `chain`: registered workers (all but the last verified), a warehouse
    ingested from it and the API over it, which takes `VERIFIERS` for the operator's
    verifiers; one of them verifies in the background (its scratch in `verifier_dir`) unless
    that is None. `api_changes` change the API's settings (its lease and verifiers too)."""
    activity = Activity(chain)
    activity.setup_workers()
    warehouse = fresh_warehouse(embedded_pg)
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    verifiers = chain.accounts[VERIFIERS]
    settings = api_settings(
        chain,
        **{
            "api_lease_s": 30,
            "api_verifier_addresses": [hex(a.address) for a in verifiers],
            **api_changes,
        },
    )
    server = ApiServer(settings, warehouse).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            platform = WorkerPlatform(
                chain, activity, warehouse, server, api, kubo, demo_scene, verifiers
            )
            if verifier_dir is None:
                yield platform
            else:
                with platform.verifying(verifier_dir):
                    yield platform
    finally:
        server.stop()
        warehouse.dispose()


def worker_process(
    chain: Driver, api_url: str, account: Account, data_dir: Path, ipfs_api: str, **env: str
) -> subprocess.Popen:
    """`veriframe-worker` for `account` as its own process (its output in data_dir); for an
    API that runs as a process too (bench/render_pipeline.py), else `WorkerPlatform`'s."""
    data_dir.mkdir(parents=True, exist_ok=True)
    variables = {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(data_dir),
        "VERIFRAME_WORKER_API_URL": api_url,
        "VERIFRAME_WORKER_ADDRESS": hex(account.address),
        "VERIFRAME_WORKER_PRIVATE_KEY": chain.private_key(account),
        "VERIFRAME_WORKER_IPFS_API": ipfs_api,
        "VERIFRAME_WORKER_POLL_S": "0.2",
        "VERIFRAME_STARKNET_RPC_URL": chain.url,
        "VERIFRAME_JOB_REGISTRY_ADDRESS": hex(chain.registry.address),
        **env,
    }
    command = [str(Path(sys.executable).parent / "veriframe-worker")]
    with (data_dir / "worker.log").open("ab") as out:
        return subprocess.Popen(command, env=variables, stdout=out, stderr=subprocess.STDOUT)


def eventually(check: Callable[[], Any], timeout: float = 60, every: float = 0.1) -> Any:
    """The first truthy value of `check()`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {check}"
        time.sleep(every)
    return value


def rendering(agent: subprocess.Popen, job_id: int) -> list[psutil.Process]:
    """The Blender processes of an agent process rendering `job_id` (none yet: empty)."""
    try:
        children = psutil.Process(agent.pid).children(recursive=True)
        return [c for c in children if any(f"job-{job_id}-" in a for a in c.cmdline())]
    except psutil.Error:  # a child that ended meanwhile
        return []


def veriframe_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """`veriframe ARGS` as a user types it, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "veriframe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )

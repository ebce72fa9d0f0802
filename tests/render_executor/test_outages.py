"""A running agent outlasts restarts of the parts it depends on: the IPFS node, the API and
the chain's node, each stopped under it and started again, with a job in flight. The job is
delivered once, submitted and paid; each outage is one line when it starts and one when it
ends in the worker's own log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devchain.process import DevchainProcess
from kubonode.process import KuboProcess
from render_executor.agent import Outcome
from tests.support.api import ApiServer
from tests.support.chain import Driver
from tests.support.platform import VERIFIABLE, WorkerPlatform, eventually, rendering
from veriframe_core.processes import free_port

PLATFORM_VERIFIES = False  # its verifier retries as quickly as the agent (below)
QUICK = {"worker_retry_first_s": 0.1, "worker_retry_max_s": 0.5}
"""Backoff that keeps the test short: a part is tried again within half a second of its
return."""


@pytest.fixture(scope="module")
def devchain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevchainProcess]:
    """The module's devchain as a process the test can stop and start again."""
    node = DevchainProcess(tmp_path_factory.mktemp("chain") / "state", free_port(), accounts=16)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def chain(devchain_node: DevchainProcess) -> Driver:
    """The `platform`'s chain: the restartable devchain's."""
    return Driver(json.loads((devchain_node.state_dir / "chain.json").read_text()))


class WorkerLog(logging.Handler):
    """The lines of the worker's own log (`veriframe.worker`), as they come."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.logger = logging.getLogger("veriframe.worker")

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> WorkerLog:
        self.logger.addHandler(self)
        self.logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)

    def said(self, *words: str) -> list[str]:
        return [line for line in self.lines if all(w in line for w in words)]

    def await_line(self, *words: str, timeout: float = 120) -> str:
        return eventually(lambda: self.said(*words), timeout=timeout)[0]


def _restore(kubo: KuboProcess, server: ApiServer, devchain_node: DevchainProcess) -> None:
    """Every part running again, the session's IPFS node above all (other modules use it)."""
    if kubo.child is None:
        kubo.start()
    if not server.thread.is_alive():
        server.start()
    if devchain_node.child is None:
        devchain_node.start()


def test_a_job_outlasts_restarts_of_ipfs_the_api_and_the_chain_and_is_paid_once(
    platform: WorkerPlatform, devchain_node: DevchainProcess, tmp_path: Path
) -> None:
    chain, api, kubo, server = platform.chain, platform.api, platform.kubo, platform.api_server
    worker, creator = platform.activity.workers[0], platform.activity.creators[0]
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)
    outcomes: list[Outcome] = []
    with (
        WorkerLog() as worker_log,
        platform.verifying(tmp_path / "verifier", **QUICK),
        platform.agent(worker, tmp_path / "agent", heartbeat_s=0.3, **QUICK) as agent,
    ):
        kubo.stop()  # down before the download
        thread = threading.Thread(target=lambda: outcomes.extend(agent.run(max_jobs=1)))
        thread.start()
        try:
            worker_log.await_line(f"took job {job_id}")
            devchain_node.stop()  # down until the result is submitted
            worker_log.await_line(f"IPFS at {kubo.url} is unreachable")
            kubo.start()
            worker_log.await_line("Downloaded")
            server.stop()  # down during the render, its heartbeats and the delivery
            worker_log.await_line(f"The API at {server.url} is unreachable")
            worker_log.await_line(f"Uploaded the frame of job {job_id}")
            server.start()
            worker_log.await_line(f"The chain's node at {chain.url} is unreachable")
            devchain_node.start()
        finally:
            thread.join(180)
            _restore(kubo, server, devchain_node)  # when a wait above failed: for later tests
    assert not thread.is_alive()
    (outcome,) = outcomes
    assert outcome.completed and outcome.job_id == job_id, outcome.reason
    assert outcome.verification.state == "verified" and outcome.submitted_tx
    # each outage: one line when it started, one when it ended
    parts = (f"IPFS at {kubo.url}", f"The API at {server.url}", f"The chain's node at {chain.url}")
    for part in parts:
        assert len(worker_log.said(part, "is unreachable")) == 1, worker_log.lines
        assert len(worker_log.said(part, "is back after")) == 1, worker_log.lines
    # every step of the job in the worker's own log too, not only in Dagster's
    steps = ["took job", "Downloaded", "Rendered frame", "Uploaded", "Delivered", "verified in"]
    for step in [*steps, f"submit_result for job {job_id}: 0x"]:
        assert len(worker_log.said(step)) == 1, (step, worker_log.lines)
    # delivered once, in one attempt that was never given up
    (attempt,) = api.get(f"/api/v1/jobs/{job_id}/attempts").json()["items"]
    assert attempt["state"] == "verified" and attempt["result_cid"] == outcome.result_cid
    assert platform.messages(job_id)[-1]["method"] == "closed"
    assert chain.view(chain.registry, "get_job_worker", job_id) == worker.address
    # and paid once the deadline passes
    reward = chain.view(chain.registry, "get_job_reward", job_id)
    before = chain.view(chain.token, "balance_of", worker.address)
    chain.rpc("devchain_increaseTime", {"seconds": 10**6 + 60})
    chain.send(creator, chain.reg("finalize_job", job_id))
    assert chain.view(chain.token, "balance_of", worker.address) == before + reward


def test_a_stop_during_an_api_outage_ends_the_retries_at_once(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    """SIGTERM (`systemctl stop`) while the API is away: the agent cancels the render, tries
    to release the claim once, says the lease will lapse, and exits, without waiting the
    outage out."""
    server = platform.api_server
    job_id = platform.post_job(platform.upload(), resolution_x=320, resolution_y=240, samples=400)
    agent = platform.worker_process(
        platform.activity.workers[1],
        tmp_path,
        VERIFRAME_WORKER_RETRY_FIRST_S="0.1",
        VERIFRAME_WORKER_RETRY_MAX_S="0.5",
    )
    try:
        blender = eventually(lambda: rendering(agent, job_id), timeout=90)
        server.stop()
        try:
            agent.terminate()
            stopped = time.monotonic()
            assert agent.wait(30) == 0
            assert time.monotonic() - stopped < 10
        finally:
            server.start()
    finally:
        agent.kill()
    _, still_running = psutil.wait_procs(blender, timeout=10)
    assert not still_running  # the render was cancelled
    said = (tmp_path / "worker.log").read_text()
    assert f"could not release job {job_id}" in said and "lease will lapse" in said
    assert "Traceback" not in said

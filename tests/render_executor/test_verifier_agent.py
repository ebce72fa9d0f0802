"""Verifier agents against real parts (devchain, the API, IPFS, Postgres, Blender): they
verify honest deliveries, which their workers then submit on chain, reject forged ones,
which are never submitted, never verify their own account's delivery, and a verifier killed
mid-task loses the task to another when its lease runs out. The API's websocket wakes an
idle verifier when a delivery opens a task, and wakes the worker's wait when the verdict
comes; without it, polling still gets there."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from starknet_py.net.account.account import Account

from api.realtime import Hub
from kubonode.process import KuboProcess
from render_executor.agent import Agent, Outcome
from render_executor.verdicts import Polling, await_verdict
from tests.render_executor.forging_render import FlatFrameForgingRunner, HalfSamplesForgingRunner
from tests.support.api import bearer, sign_in
from tests.support.chain import Driver
from tests.support.platform import VERIFIABLE, WorkerPlatform, eventually, worker_platform
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.processes import free_port
from veriframe_core.protocol import JobDetail, Verification
from veriframe_core.warehouse.embedded import EmbeddedPostgres

LEASE_S = 10
NEVER = Polling(first_s=3600, max_s=3600, connected_max_s=3600)
"""A verdict wait that polls once, at its start: only the websocket can wake it."""


@pytest.fixture(scope="module")
def platform(
    chain: Driver, embedded_pg: EmbeddedPostgres, kubo: KuboProcess, demo_scene: Path
) -> Iterator[WorkerPlatform]:
    """The platform with no verifier running: each test starts the ones it needs."""
    with worker_platform(
        chain, embedded_pg, kubo, demo_scene, None, verification_lease_s=LEASE_S
    ) as platform:
        yield platform


def delivering(agent: Agent) -> Future[list[Outcome]]:
    """`agent` taking one job in a thread: it delivers, then waits for the verdict."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="delivering")
    future = pool.submit(agent.run, once=True)
    pool.shutdown(wait=False)
    return future


def verification(platform: WorkerPlatform, job_id: int) -> Verification | None:
    answer = platform.api.get(f"/api/v1/jobs/{job_id}")
    return JobDetail.model_validate_json(answer.content).verification


def attempt_states(platform: WorkerPlatform, job_id: int) -> list[str]:
    attempts = platform.api.get(f"/api/v1/jobs/{job_id}/attempts").json()["items"]
    return [a["state"] for a in sorted(attempts, key=lambda a: a["attempt"])]


def test_an_honest_delivery_is_verified_then_submitted_on_chain(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    chain = platform.chain
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)
    worker, verifier_account = platform.activity.workers[0], platform.verifiers[0]
    with platform.agent(worker, tmp_path / "worker") as agent:
        delivered = delivering(agent)
        with platform.verifier(verifier_account, tmp_path / "verifier") as verifier:
            (checked,) = verifier.run(max_tasks=1)
        (outcome,) = delivered.result(timeout=120)
    assert checked.job_id == job_id and checked.verdict == "verified", checked.reasons
    assert outcome.verification.state == "verified" and outcome.submitted_tx
    counted = agent.metrics.registry.get_sample_value
    assert counted("veriframe_worker_jobs_total", {"role": "render", "outcome": "delivered"}) == 1
    assert counted("veriframe_worker_verdicts_total", {"verdict": "verified"}) == 1
    assert (
        verifier.metrics.registry.get_sample_value(
            "veriframe_worker_jobs_total", {"role": "verifier", "outcome": "verified"}
        )
        == 1
    )
    assert chain.view(chain.registry, "get_job_worker", job_id) == worker.address
    found = verification(platform, job_id)
    assert found.verifier_address == normalize_address(verifier_account.address)
    assert found.result_cid == outcome.result_cid
    assert len(found.report.crops) == len(found.windows) + len(found.report.guided) == 12
    assert attempt_states(platform, job_id) == ["verified"]
    logged = platform.logged(job_id)
    assert any("was verified" in line for line in logged)
    assert any("submit_result for job" in line for line in logged)
    assert not any((tmp_path / "verifier" / "worker").glob("verify-*"))  # scratch removed


def test_a_forged_delivery_is_rejected_never_submitted_and_the_job_reopens(
    platform: WorkerPlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "veriframe.worker")
    chain = platform.chain
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)
    cheater, honest = platform.activity.workers[1], platform.activity.workers[2]
    with (
        platform.verifying(tmp_path / "verifier"),
        platform.agent(cheater, tmp_path / "cheater") as forging,
    ):
        forging.runner = FlatFrameForgingRunner()
        (forged,) = forging.run(once=True)
        assert forged.completed and forged.verification.state == "rejected"
        assert forged.submitted_tx is None
        assert chain.view(chain.registry, "get_job_worker", job_id) == 0
        assert forged.verification.report.reasons
        rejected = platform.api.get(f"/api/v1/jobs/{job_id}").json()
        assert rejected["status"] == "open" and attempt_states(platform, job_id) == ["rejected"]
        assert f"Job {job_id}: the delivery was rejected by the verifier: " in caplog.text
        assert forging.run(once=True) == []  # the cheater is blocked from the job
        with platform.agent(honest, tmp_path / "honest") as agent:
            (rendered,) = agent.run(once=True)
    assert rendered.job_id == job_id and rendered.verification.state == "verified"
    assert chain.view(chain.registry, "get_job_worker", job_id) == honest.address
    assert attempt_states(platform, job_id) == ["rejected", "verified"]


def test_a_denoised_job_is_verified_on_its_noisy_pass_and_half_its_samples_rejected(
    platform: WorkerPlatform, denoised_scene: Path, tmp_path: Path
) -> None:
    """The agent delivers a denoised frame with the render before the denoiser; a cheater's
    half-sample render, denoised, passes for the job's own but its noisy pass does not."""
    job_id = platform.post_job(platform.upload(denoised_scene), **VERIFIABLE)
    cheater, honest = platform.activity.workers[3], platform.activity.workers[4]
    with platform.verifying(tmp_path / "verifier"):
        with platform.agent(cheater, tmp_path / "cheater") as forging:
            forging.runner = HalfSamplesForgingRunner()
            (forged,) = forging.run(once=True)
        with platform.agent(honest, tmp_path / "honest") as agent:
            (rendered,) = agent.run(once=True)
    assert forged.verification.state == "rejected" and forged.submitted_tx is None
    assert any(r.startswith("noisy pass: ") for r in forged.verification.report.reasons)
    assert rendered.verification.state == "verified", rendered.verification.report.reasons
    found = verification(platform, job_id)
    assert found.noisy_cid and found.noisy_cid != found.result_cid
    assert len(found.report.noisy_crops) == len(found.report.crops) == 12
    assert attempt_states(platform, job_id) == ["rejected", "verified"]


def verifying_blender(verifier: subprocess.Popen) -> list[psutil.Process]:
    """The Blender processes of a verifier process re-rendering crops (none yet: empty)."""
    try:
        children = psutil.Process(verifier.pid).children(recursive=True)
        return [c for c in children if any("verify-" in a for a in c.cmdline())]
    except psutil.Error:  # a child that ended meanwhile
        return []


def test_a_verifier_killed_mid_task_loses_it_to_another_after_the_lease(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)
    first, second = platform.verifiers[1], platform.verifiers[2]
    with platform.agent(platform.activity.workers[3], tmp_path / "worker") as agent:
        delivered = delivering(agent)
        killed = platform.worker_process(
            first, tmp_path / "killed", VERIFRAME_WORKER_ROLE="verifier"
        )
        try:
            blender = eventually(lambda: verifying_blender(killed), timeout=120, every=0.05)
        finally:
            killed.kill()
            killed.wait()
        psutil.wait_procs(blender, timeout=10)
        held = verification(platform, job_id)
        assert held.state == "claimed" and held.report is None
        assert held.verifier_address == normalize_address(first.address)
        with platform.verifier(second, tmp_path / "second") as verifier:
            (checked,) = verifier.run(max_tasks=1)  # once the lease has run out
        (outcome,) = delivered.result(timeout=120)
    assert checked.job_id == job_id and checked.verdict == "verified", checked.reasons
    done = verification(platform, job_id)
    assert done.verifier_address == normalize_address(second.address)
    assert done.windows == held.windows and done.seeds == held.seeds
    assert outcome.verification.state == "verified" and outcome.submitted_tx


def test_a_verifier_never_verifies_its_own_accounts_delivery(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    """An operator account that also renders (registered and verified as a worker)."""
    chain = platform.chain
    both, other = platform.verifiers[0], platform.verifiers[1]
    chain.send(both, chain.reg("register_worker", 0x2000))
    chain.send(chain.owner, chain.reg("verify_worker", both.address, True))
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)  # indexes the new worker too
    with platform.agent(both, tmp_path / "worker") as agent:
        delivered = delivering(agent)
        eventually(lambda: verification(platform, job_id), timeout=120)
        with platform.verifier(both, tmp_path / "own") as own:
            assert own.run(once=True) == []
        assert verification(platform, job_id).state == "open"
        with platform.verifier(other, tmp_path / "other") as verifier:
            (checked,) = verifier.run(max_tasks=1)
        (outcome,) = delivered.result(timeout=120)
    assert checked.job_id == job_id and checked.verdict == "verified", checked.reasons
    assert outcome.verification.verifier_address == normalize_address(other.address)


def test_an_account_that_is_not_a_verifier_verifies_nothing(
    platform: WorkerPlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "veriframe.verifier")
    with platform.verifier(platform.activity.workers[0], tmp_path) as verifier:
        assert verifier.run(once=True) == []
    assert "list it in the API's VERIFRAME_API_VERIFIER_ADDRESSES" in caplog.text


def test_a_verifier_stopped_mid_task_ends_cleanly_and_releases_it(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    """SIGTERM: Blender is cancelled, the process exits 0, and the task is released, not
    failed (a failure would count against the delivery): offered again at once."""
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)
    stopped, second = platform.verifiers[1], platform.verifiers[2]
    with platform.agent(platform.activity.workers[3], tmp_path / "worker") as agent:
        delivered = delivering(agent)
        process = platform.worker_process(
            stopped, tmp_path / "stopped", VERIFRAME_WORKER_ROLE="verifier"
        )
        try:
            blender = eventually(lambda: verifying_blender(process), timeout=120, every=0.05)
            process.terminate()
            assert process.wait(30) == 0
        finally:
            process.kill()
        _, still_running = psutil.wait_procs(blender, timeout=10)
        assert not still_running
        held = verification(platform, job_id)
        assert held.state == "open" and held.failures == 0 and held.verifier_address is None
        assert "released for another" in (tmp_path / "stopped" / "worker.log").read_text()
        with platform.verifier(second, tmp_path / "second") as verifier:
            (checked,) = verifier.run(max_tasks=1)
        (outcome,) = delivered.result(timeout=120)
    assert checked.verdict == "verified" and outcome.submitted_tx


def test_no_verdict_before_the_deadline_means_none(platform: WorkerPlatform) -> None:
    """What the agent then does: it submits nothing."""
    job_id = platform.post_job(platform.upload(b"never delivered"))
    started = time.monotonic()
    deadline = datetime.now(UTC) + timedelta(seconds=1.5)
    assert await_verdict(platform.api, job_id, 1, deadline, threading.Event()) is None
    assert 1 <= time.monotonic() - started < 5


def hub(platform: WorkerPlatform) -> Hub:
    """The API's websocket topics, to see who is subscribed."""
    return platform.api_server.server.config.app.state.feed.hub


def deliver_junk(platform: WorkerPlatform, worker: Account) -> int:
    """A job delivered by hand with bytes that are no frame (its verifier rejects it without
    rendering); the job's id."""
    job_id = platform.post_job(platform.upload())
    auth = bearer(sign_in(platform.api, worker))
    assert platform.api.post(f"/api/v1/jobs/{job_id}/assign", headers=auth).status_code == 200
    body = {"result_cid": platform.upload(f"no frame for job {job_id}".encode())}
    done = platform.api.post(f"/api/v1/jobs/{job_id}/complete", json=body, headers=auth)
    assert done.status_code == 200, done.text
    return job_id


def waiting_for_verdict(
    platform: WorkerPlatform, job_id: int, websocket: str, polling: Polling
) -> Future[Verification | None]:
    """The worker's verdict wait on attempt 1 of `job_id`, in a thread."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="verdict")
    deadline = datetime.now(UTC) + timedelta(minutes=5)
    args = (platform.api, job_id, 1, deadline, threading.Event())
    future = pool.submit(await_verdict, *args, websocket=websocket, polling=polling)
    pool.shutdown(wait=False)
    return future


def test_the_verdict_wait_is_woken_by_the_jobs_websocket_topic(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    job_id = deliver_junk(platform, platform.activity.workers[4])
    waiting = waiting_for_verdict(platform, job_id, platform.api_server.url, NEVER)
    eventually(lambda: hub(platform).has(f"job:{job_id}"), timeout=30)
    with platform.verifier(platform.verifiers[0], tmp_path, worker_websocket=False) as verifier:
        (checked,) = verifier.run(max_tasks=1)
    assert checked.job_id == job_id and checked.verdict == "rejected"
    verdict = waiting.result(timeout=60)  # its next poll is an hour away: the socket woke it
    assert verdict is not None and verdict.state == "rejected" and verdict.job_id == job_id


def test_with_the_websocket_down_polling_still_gets_the_verdict(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    job_id = deliver_junk(platform, platform.activity.workers[4])
    nothing_there = f"http://127.0.0.1:{free_port()}"
    waiting = waiting_for_verdict(platform, job_id, nothing_there, Polling())
    with platform.verifier(platform.verifiers[0], tmp_path, worker_websocket=False) as verifier:
        (checked,) = verifier.run(max_tasks=1)
    assert checked.job_id == job_id
    verdict = waiting.result(timeout=60)
    assert verdict is not None and verdict.state == "rejected" and verdict.job_id == job_id


def test_an_idle_verifier_is_woken_by_the_websocket_when_a_task_is_offered(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    """Its backstop poll is six hours away: only `verifications:available` can wake it."""
    with platform.verifier(platform.verifiers[0], tmp_path, worker_poll_s=3600) as verifier:
        pool = ThreadPoolExecutor(1, thread_name_prefix="verifier")
        verifying = pool.submit(verifier.run, max_tasks=1)
        pool.shutdown(wait=False)
        try:
            eventually(lambda: hub(platform).has("verifications:available"), timeout=30)
            job_id = deliver_junk(platform, platform.activity.workers[2])
            (checked,) = verifying.result(timeout=60)
        finally:
            verifier.stop()
    assert checked.job_id == job_id and checked.verdict == "rejected"

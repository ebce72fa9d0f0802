"""The worker agent against real parts: devchain, the API, the local IPFS node and Blender.
It claims, renders, uploads, completes, submits on chain and reports through Pipes; when
something fails it says why and gives the job back, and nothing is marked complete."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image

from render_executor.wakeup import jobs_available
from tests.support.platform import VERIFIABLE, WorkerPlatform, eventually, rendering
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.ipfs import IpfsClient
from veriframe_core.processes import free_port
from veriframe_core.settings import WorkerSettings


def test_a_job_is_claimed_rendered_delivered_and_submitted_on_chain(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    chain, api = platform.chain, platform.api
    job_id = platform.post_job(platform.upload(), **VERIFIABLE)
    worker = platform.activity.workers[0]
    with platform.agent(worker, tmp_path) as agent:
        (outcome,) = agent.run(once=True)
    assert outcome.completed and outcome.job_id == job_id, outcome.reason
    # the frame on IPFS is the job's size and not blank
    with IpfsClient(platform.kubo.url) as ipfs:
        image = Image.open(io.BytesIO(ipfs.cat(outcome.result_cid)))
    assert image.size == (320, 240)
    assert any(low != high for low, high in image.convert("RGB").getextrema())
    # completed through the API, verified by the platform's verifier, then (and only then)
    # submitted on chain by the worker
    assert outcome.verification.state == "verified"
    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["claim"]["state"] == "verified" and job["claim"]["result_cid"] == outcome.result_cid
    assert job["claim"]["result"]["device"] == "CPU"
    assert chain.view(chain.registry, "get_job_worker", job_id) == worker.address
    platform.ingest()
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "submitted"
    # everything reported through Pipes, in order
    methods = [m["method"] for m in platform.messages(job_id)]
    assert methods[0] == "opened" and methods[-1] == "closed"
    (materialized,) = [
        m for m in platform.messages(job_id) if m["method"] == "report_asset_materialization"
    ]
    assert materialized["params"]["metadata"]["result_cid"]["raw_value"] == outcome.result_cid
    assert any("submit_result for job" in line for line in platform.logged(job_id))
    assert not (tmp_path / "worker" / f"job-{job_id}-1").exists()  # scratch removed
    # the machine's capabilities are in the worker's profile, for matching jobs
    profile = api.get(f"/api/v1/workers/{normalize_address(worker.address)}").json()
    assert profile["capabilities"]["devices"] == ["CPU"]
    assert profile["capabilities"]["blender_version"] == "5.0.1"
    assert profile["capabilities"]["os"] == "linux"


def test_a_corrupt_file_is_failed_with_the_reason_and_reopened(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    api = platform.api
    job_id = platform.post_job(platform.upload(b"BLENDER-v500" + b"\0" * 64))
    with platform.agent(platform.activity.workers[1], tmp_path) as agent:
        (outcome,) = agent.run(once=True)
    assert not outcome.completed and "could not render the file" in outcome.reason
    attempts = api.get(f"/api/v1/jobs/{job_id}/attempts").json()["items"]
    assert attempts[0]["state"] == "failed" and "could not render" in attempts[0]["failure_reason"]
    assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "open"
    assert any("failed" in line for line in platform.logged(job_id))
    assert platform.messages(job_id)[-1]["method"] == "closed"


def test_ipfs_down_at_upload_is_retried_then_failed_and_nothing_is_completed(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    """The agent's node is down; it downloads through a gateway, cannot upload, waits the
    outage out as long as it is told to (a second here), then gives up and says so."""
    chain = platform.chain
    job_id = platform.post_job(platform.upload())
    dead = f"http://127.0.0.1:{free_port()}"
    with platform.agent(
        platform.activity.workers[2],
        tmp_path,
        worker_ipfs_api=dead,
        worker_ipfs_gateways=[f"{platform.kubo.url}/ipfs"],
        worker_retry_first_s=0.1,
        worker_outage_give_up_s=1,
    ) as agent:
        (outcome,) = agent.run(once=True)
    assert not outcome.completed
    assert "uploading frame.png failed" in outcome.reason and "tries" in outcome.reason
    job = platform.api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["status"] == "open" and job["claim"] is None
    assert chain.view(chain.registry, "get_job_worker", job_id) == 0


def test_an_archive_that_escapes_is_refused_with_the_reason(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../etc/evil.blend", b"BLENDER-v500")
    platform.post_job(platform.upload(archive))
    with platform.agent(platform.activity.workers[3], tmp_path) as agent:
        (outcome,) = agent.run(once=True)
    assert not outcome.completed and "'..' is not allowed" in outcome.reason
    assert not (tmp_path.parent / "etc").exists()


def test_a_scene_reading_a_workers_file_fails_with_the_path_and_delivers_nothing(
    platform: WorkerPlatform, outside_scenes: Path, tmp_path: Path
) -> None:
    api = platform.api
    job_id = platform.post_job(platform.upload(outside_scenes / "job" / "image.blend"))
    with platform.agent(platform.activity.workers[3], tmp_path) as agent:
        (outcome,) = agent.run(once=True)
    assert not outcome.completed and outcome.result_cid is None
    (attempt,) = api.get(f"/api/v1/jobs/{job_id}/attempts").json()["items"]
    assert attempt["state"] == "failed"
    assert attempt["failure_reason"].startswith("the scene refers to files outside the job's")
    assert str(outside_scenes / "outside" / "secret.png") in attempt["failure_reason"]


def test_a_worker_that_may_claim_nothing_claims_nothing(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    """The last worker is registered but not verified: the API refuses it every job."""
    with platform.agent(platform.activity.workers[-1], tmp_path) as agent:
        assert agent.run(once=True) == []


def test_the_seed_workers_variables_configure_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "BACKEND_API_URL": "http://api.example:8000",
        "WORKER_ADDRESS": "0x123",
        "WORKER_PRIVATE_KEY": "0xabc",
        "IPFS_API": "/ip4/127.0.0.1/tcp/5001",
        "IPFS_GATEWAY": "http://127.0.0.1:8080/ipfs",
        "BLENDER_PATH": "/opt/blender/blender",
        "POLL_INTERVAL": "7",
    }.items():
        monkeypatch.setenv(name, value)
    settings = WorkerSettings()
    assert settings.worker_api_url == "http://api.example:8000"
    assert normalize_address(settings.worker_address) == normalize_address(0x123)
    assert settings.worker_private_key.get_secret_value() == "0xabc"
    assert settings.worker_ipfs_api == "/ip4/127.0.0.1/tcp/5001"
    assert settings.worker_ipfs_gateways == ["http://127.0.0.1:8080/ipfs"]
    assert str(settings.blender_path) == "/opt/blender/blender" and settings.worker_poll_s == 7
    assert "0xabc" not in repr(settings)


def test_the_command_reads_the_seed_variables_and_says_why_it_took_nothing(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    chain = platform.chain
    worker = platform.activity.workers[-1]  # registered, not verified
    env = {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(tmp_path),
        "BACKEND_API_URL": platform.api_server.url,
        "WORKER_ADDRESS": hex(worker.address),
        "WORKER_PRIVATE_KEY": chain.private_key(worker),
        "IPFS_API": platform.kubo.url,
        "VERIFRAME_STARKNET_RPC_URL": chain.url,
        "VERIFRAME_JOB_REGISTRY_ADDRESS": hex(chain.registry.address),
    }
    command = [str(Path(sys.executable).parent / "veriframe-worker"), "--once"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "not verified" in result.stderr
    assert chain.private_key(worker) not in result.stderr + result.stdout
    without_key = {k: v for k, v in env.items() if k != "WORKER_PRIVATE_KEY"}
    refused = subprocess.run(command, env=without_key, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "no worker key" in refused.stderr


SLOW = {"resolution_x": 320, "resolution_y": 240, "samples": 200}  # a few seconds


def _claim_after(api: httpx.Client, job_id: int) -> dict:
    return api.get(f"/api/v1/jobs/{job_id}/attempts").json()["items"][0]


def test_sigterm_mid_render_releases_the_claim_and_the_job_reopens_at_once(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    api = platform.api
    job_id = platform.post_job(platform.upload(), **SLOW)
    agent = platform.worker_process(platform.activity.workers[4], tmp_path)
    try:
        blender = eventually(lambda: rendering(agent, job_id), timeout=90)
        agent.terminate()
        assert agent.wait(30) == 0
    finally:
        agent.kill()
    _, still_running = psutil.wait_procs(blender, timeout=10)
    assert blender and not still_running  # the render was cancelled
    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["status"] == "open" and job["claim"] is None  # not after the lease: now
    released = _claim_after(api, job_id)
    assert released["state"] == "expired"  # not a failed attempt of the worker's
    assert released["failure_reason"] == "released: the worker was stopped"
    assert any("released" in line for line in platform.logged(job_id))
    assert platform.messages(job_id)[-1]["method"] == "closed"


def test_an_agent_restarted_after_a_crash_releases_the_claim_it_left_and_renders_again(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    job_id = platform.post_job(platform.upload(), **SLOW)
    worker = platform.activity.workers[0]
    crashed = platform.worker_process(worker, tmp_path)
    try:
        eventually(lambda: rendering(crashed, job_id), timeout=90)
    finally:
        crashed.kill()
        crashed.wait()
    assert (tmp_path / "worker" / f"job-{job_id}-1").is_dir()  # what the crash left
    with platform.agent(worker, tmp_path) as agent:
        assert agent.release_left_over() == [job_id]
        released = _claim_after(platform.api, job_id)
        assert released["state"] == "expired" and "restarted" in released["failure_reason"]
        assert not (tmp_path / "worker" / f"job-{job_id}-1").exists()
        (outcome,) = agent.run(once=True)
    assert outcome.completed and outcome.job_id == job_id and outcome.attempt == 2


def test_an_idle_agent_is_woken_by_the_websocket_when_a_job_opens(
    platform: WorkerPlatform,
) -> None:
    """What the agent waits on between jobs: the `jobs:available` topic."""
    listener = jobs_available(platform.api_server.url).start()
    try:
        eventually(listener.connected.is_set, timeout=30)
        listener.wait(0.5)  # nothing has opened yet; clears whatever came with subscribing
        platform.post_job(platform.upload(b"any asset"))
        assert listener.wait(30)
    finally:
        listener.close()

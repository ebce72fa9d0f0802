"""A forged result submitted on chain around the API: detected by ingestion, verified as
forged by the real verifier, slashed and unverified from the operator's account (read back
from the contract), refused by the API and the contract afterwards, never paid by
settlement."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from render_executor.blender.runner import BlenderRunner, RenderJob
from render_executor.verification.verifier import verify_frame
from tests.support.api import bearer, error, sign_in, token_for
from tests.support.platform import TINY, WorkerPlatform
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.ipfs import IpfsClient
from veriframe_core.protocol import VerificationTask
from veriframe_core.settings import Settings
from veriframe_dagster.defs.sanctions.jobs import sanctions_job
from veriframe_dagster.defs.sanctions.sensor import build_sanctions_sensor
from veriframe_dagster.defs.settlement.jobs import settlement_job
from veriframe_dagster.resources import build_resources

SLASH = 50
PLATFORM_VERIFIES = False  # the test takes the verification itself, as a verifier would


@pytest.fixture
def resources(platform: WorkerPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The code location's resources on this platform, the operator being devchain's owner."""
    key = platform.chain.private_key(platform.chain.owner)
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", platform.warehouse_url)
    monkeypatch.setenv("VERIFRAME_OPERATOR_PRIVATE_KEY", key)
    return build_resources(
        Settings(
            data_dir=tmp_path,
            database_url=platform.warehouse_url,
            starknet_rpc_url=platform.chain.url,
            job_registry_address=hex(platform.chain.registry.address),
            operator_address=hex(platform.chain.owner.address),
            operator_private_key=key,
            sanction_slash_points=SLASH,
        )
    )


def run(job: dg.JobDefinition, resources: dict) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """One run of `job` in process; its result and its log lines."""
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            resources=resources, instance=instance, raise_on_error=False
        )
        return result, [e.message for e in instance.all_logs(result.run_id)]


def flat_frame() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (TINY["resolution_x"], TINY["resolution_y"]), (90, 90, 90)).save(out, "PNG")
    return out.getvalue()


def verify_as_the_verifier(platform: WorkerPlatform, job_id: int, scratch: Path) -> dict:
    """Take the job's verification as a verifier would, verify the CID it names with the
    real verifier (Blender), report the verdict; the verification the API answers."""
    api = platform.api
    auth = bearer(token_for(platform.warehouse, normalize_address(0xCE11), ("worker", "verifier")))
    while True:
        answer = api.post("/api/v1/verifications/claim-next", headers=auth)
        assert answer.status_code == 200, answer.text
        task = VerificationTask.model_validate(answer.json())
        if task.job_id == job_id:
            break
        api.post(
            f"/api/v1/verifications/{task.verification_id}/fail",
            json={"reason": "not this test's"},
            headers=auth,
        )
    frame = scratch / "delivered.png"
    with IpfsClient(platform.kubo.url) as ipfs:
        ipfs.download(task.result_cid, frame)
    settings = task.render_settings
    job = RenderJob(
        platform.demo_scene,
        frame=settings.frame,
        resolution=(settings.resolution_x, settings.resolution_y),
        samples=settings.samples,
        device="CPU",
    )
    verdict = verify_frame(BlenderRunner(), job, frame, task.windows, tuple(task.seeds), scratch)
    decided = api.post(
        f"/api/v1/verifications/{task.verification_id}/report",
        json=verdict.report().model_dump(mode="json"),
        headers=auth,
    )
    assert decided.status_code == 200, decided.text
    return decided.json()


def test_a_forged_result_submitted_around_the_api_costs_the_cheater(
    platform: WorkerPlatform, resources: dict, tmp_path: Path
) -> None:
    chain = platform.chain
    cheater = chain.accounts[10]  # an account of its own: the sanction is for good
    chain.send(cheater, chain.reg("register_worker", 0xC4EA7))
    chain.send(chain.owner, chain.reg("verify_worker", cheater.address, True))
    job_id = platform.post_job(platform.upload())
    forged = platform.upload(flat_frame())
    chain.send(cheater, chain.reg("submit_result", job_id, *cid_to_felts(forged)))
    platform.ingest()
    found = platform.api.get(f"/api/v1/jobs/{job_id}").json()["verification"]
    assert found["source"] == "chain" and found["result_cid"] == forged

    decided = verify_as_the_verifier(platform, job_id, tmp_path)
    assert decided["state"] == "rejected" and decided["report"]["reasons"]

    sensor = build_sanctions_sensor(
        *(
            build_resources(Settings(database_url=platform.warehouse_url))[k]
            for k in ("warehouse", "sanctions")
        )
    )
    due = sensor(dg.build_sensor_context(cursor=None))
    assert len(due.run_requests) == 1
    (verified, reputation, _, failed) = chain.view(
        chain.registry, "get_worker_status", cheater.address
    )
    assert verified
    result, logs = run(sanctions_job, resources)
    assert result.success, logs
    after = chain.view(chain.registry, "get_worker_status", cheater.address)
    assert after[0] is False  # unverified on chain
    assert after[1] < reputation and after[3] == failed + 1  # slashed, counted as a failure
    assert any("slash_worker_reputation" in line and str(job_id) in line for line in logs)
    again, logs = run(sanctions_job, resources)  # nothing twice
    assert (
        again.success and chain.view(chain.registry, "get_worker_status", cheater.address) == after
    )
    assert any("0 causes due" in line for line in logs)
    assert sensor(dg.build_sensor_context(cursor=None)).skip_reason

    platform.ingest()
    refused = platform.api.post(
        "/api/v1/jobs/claim-next", headers=bearer(sign_in(platform.api, cheater))
    )
    assert "not verified" in error(refused, 403)
    other = platform.post_job(platform.upload())
    with pytest.raises(Exception, match="not eligible"):
        chain.send(cheater, chain.reg("submit_result", other, *cid_to_felts(forged)))

    chain.rpc("devchain_increaseTime", {"seconds": 10**6 + 60})
    paid, logs = run(settlement_job, resources)
    assert paid.success
    assert not chain.view(chain.registry, "is_job_completed", job_id)
    assert any(f"job {job_id} held back: its result's verification is rejected" in m for m in logs)

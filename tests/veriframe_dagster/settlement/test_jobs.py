"""Settlement pays the worker once its job's deadline passes: `finalize_job` from the
operator's account, idempotent, each outcome in the run log."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.support.platform import WorkerPlatform
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.settings import Settings
from veriframe_dagster.defs.settlement.jobs import settlement_job
from veriframe_dagster.resources import build_resources

PLATFORM_VERIFIES = False  # the test decides the verification itself (`decide`)


def settle(
    platform: WorkerPlatform, tmp_path: Path, **operator
) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """One settlement run in process; its result and its log lines."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=platform.warehouse_url,
        starknet_rpc_url=platform.chain.url,
        job_registry_address=hex(platform.chain.registry.address),
        **operator,
    )
    with dg.instance_for_test() as instance:
        result = settlement_job.execute_in_process(
            resources=build_resources(settings), instance=instance, raise_on_error=False
        )
        return result, [entry.message for entry in instance.all_logs(result.run_id)]


def decide(platform: WorkerPlatform, job_id: int, verdict: str) -> None:
    """The job's verification decided, as a verifier's report would (the verifier agents
    have their own tests)."""
    with platform.warehouse.begin() as conn:
        conn.execute(
            sa.text("UPDATE verifications SET state = :verdict WHERE job_id = :job_id"),
            {"verdict": verdict, "job_id": job_id},
        )


def test_a_submitted_job_past_its_deadline_is_paid_once(
    platform: WorkerPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = platform.chain
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", platform.warehouse_url)
    operator_key = chain.private_key(chain.owner)
    monkeypatch.setenv("VERIFRAME_OPERATOR_PRIVATE_KEY", operator_key)
    operator = {"operator_address": hex(chain.owner.address), "operator_private_key": operator_key}
    job_id = platform.post_job(platform.upload())
    worker = platform.activity.workers[0]
    # on chain without a verified delivery (an honest agent waits for its verdict): the
    # platform verifies the on-chain result, and settlement waits for that verdict
    result = platform.upload(b"the worker's frame, decided by hand below")
    chain.send(worker, chain.reg("submit_result", job_id, *cid_to_felts(result)))
    platform.ingest()
    reward = chain.view(chain.registry, "get_job_reward", job_id)
    before = chain.view(chain.token, "balance_of", worker.address)

    early, _ = settle(platform, tmp_path, **operator)  # the deadline has not passed
    assert early.success and not chain.view(chain.registry, "is_job_completed", job_id)

    chain.rpc("devchain_increaseTime", {"seconds": 10**6 + 60})
    held, logs = settle(platform, tmp_path, **operator)  # due, but not verified yet
    assert held.success and not chain.view(chain.registry, "is_job_completed", job_id)
    assert any(f"job {job_id} held back: its result's verification is open" in m for m in logs)
    decide(platform, job_id, "verified")
    paid, logs = settle(platform, tmp_path, **operator)
    assert paid.success
    assert chain.view(chain.registry, "is_job_completed", job_id)
    assert chain.view(chain.token, "balance_of", worker.address) == before + reward
    assert any(f"finalized job {job_id} in transaction" in line for line in logs)

    again, logs = settle(platform, tmp_path, **operator)  # the warehouse lags behind
    assert again.success
    assert any(f"job {job_id} is already finalized" in line for line in logs)
    assert chain.view(chain.token, "balance_of", worker.address) == before + reward
    platform.ingest()
    assert platform.api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "finalized"


def test_settlement_without_an_operator_account_says_what_to_set(
    platform: WorkerPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", platform.warehouse_url)
    result, _ = settle(platform, tmp_path)
    assert not result.success
    failure = result.failure_data_for_node("finalize_due_jobs").error
    assert "VERIFRAME_OPERATOR_ADDRESS" in failure.message

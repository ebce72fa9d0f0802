"""End to end with Dagster's daemon as a real process: a job created on chain is indexed by
the chain sensor, rendered by a worker agent, recorded as its `render` partition by a run
the render sensor launched, submitted on chain and finally paid by the settlement job.
While Dagster is stopped the worker goes on; started again, Dagster records what it missed,
with the worker's logs."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from tests.support.dagster import (
    DagsterDaemon,
    launch,
    materializations,
    platform_environment,
    with_os_environ,
)
from tests.support.platform import VERIFIABLE, WorkerPlatform, eventually
from veriframe_core.ipfs import IpfsClient
from veriframe_core.warehouse.embedded import EmbeddedPostgres


@pytest.fixture
def dagster_env(
    platform: WorkerPlatform,
    embedded_pg: EmbeddedPostgres,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The environment `veriframe up` gives Dagster, on a fresh instance database; set in
    this process too, so that `DagsterInstance.get()` reads the same instance."""
    env = platform_environment(platform, embedded_pg, tmp_path, "dagster_end_to_end")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return with_os_environ(env)


def test_jobs_are_rendered_recorded_and_paid_with_dagster_up_or_down(
    platform: WorkerPlatform, tmp_path: Path, dagster_env: dict[str, str]
) -> None:
    chain, api = platform.chain, platform.api
    daemon = DagsterDaemon(dagster_env, tmp_path / "dagster-daemon.log").start()
    worker = platform.activity.workers[0]
    asset = platform.upload()
    try:
        first = platform.post_job(asset, indexed_by="dagster", **VERIFIABLE)
        second = platform.post_job(asset, indexed_by="dagster", **VERIFIABLE)
        with dg.DagsterInstance.get() as instance:
            with platform.agent(worker, tmp_path / "agent") as agent:
                (delivered,) = agent.run(max_jobs=1)  # the best paid first
                assert (delivered.job_id, delivered.completed) == (second, True)
                eventually(lambda: materializations(instance, str(second)), timeout=180)

                daemon.stop()  # Dagster is down: the worker renders all the same
                (late,) = agent.run(max_jobs=1)
                assert (late.job_id, late.completed) == (first, True), late.reason
            assert materializations(instance, str(first)) == []

            daemon.start()  # back: the run the sensor missed is launched and replays
            (record,) = eventually(lambda: materializations(instance, str(first)), timeout=180)
            metadata = record.asset_materialization.metadata
            assert metadata["result_cid"].value == late.result_cid
            assert metadata["worker"].value == f"0x{worker.address:064x}"
            logs = [entry.message for entry in instance.all_logs(record.run_id)]
            assert any("Rendered frame 1 at 320×240" in line for line in logs)
            assert any(f"submit_result for job {first}" in line for line in logs)
            check_key = dg.AssetCheckKey(dg.AssetKey("render"), "frame_rechecked")

            def checked() -> str | None:  # the check step runs right after the asset's
                latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                    [check_key]
                )
                status = latest[check_key].status.value if check_key in latest else "PLANNED"
                return None if status == "PLANNED" else status

            assert eventually(checked, timeout=60) == "SUCCEEDED"  # the frame re-checked
        with IpfsClient(platform.kubo.url) as ipfs:  # the PNG is the job's size and not blank
            image = Image.open(io.BytesIO(ipfs.cat(late.result_cid)))
        assert image.size == (320, 240)
        assert any(low != high for low, high in image.convert("RGB").getextrema())

        def statuses() -> set[str]:
            return {api.get(f"/api/v1/jobs/{job}").json()["status"] for job in (first, second)}

        eventually(lambda: statuses() == {"submitted"}, timeout=60)  # ResultSubmitted indexed
        rewards = sum(chain.view(chain.registry, "get_job_reward", j) for j in (first, second))
        before = chain.view(chain.token, "balance_of", worker.address)
        chain.rpc("devchain_increaseTime", {"seconds": 10**6 + 60})
        launch(dagster_env, "settlement_job")
        eventually(
            lambda: chain.view(chain.token, "balance_of", worker.address) == before + rewards,
            timeout=180,
        )
        eventually(lambda: statuses() == {"finalized"}, timeout=60)
    finally:
        daemon.stop()

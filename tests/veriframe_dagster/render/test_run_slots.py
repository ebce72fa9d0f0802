"""Recording never waits behind other renders, with Dagster's daemon and the repo's
dagster.yaml (at most two render runs at once): a worker that claims two jobs and goes
silent holds no run slot, so a third job delivered meanwhile is recorded at once. Before,
each claim started a run that waited for its delivery up to the job's deadline, and the
third job's run stayed queued behind them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.support.api import bearer, sign_in
from tests.support.dagster import (
    DagsterDaemon,
    materializations,
    platform_environment,
    with_os_environ,
)
from tests.support.platform import WorkerPlatform, eventually
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.defs.render.partitions import ATTEMPT_TAG


def test_a_delivery_is_recorded_while_a_silent_worker_holds_two_claims(
    platform: WorkerPlatform,
    embedded_pg: EmbeddedPostgres,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = platform_environment(platform, embedded_pg, tmp_path, "dagster_run_slots")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    daemon = DagsterDaemon(with_os_environ(env), tmp_path / "dagster-daemon.log").start()
    silent, honest = platform.activity.workers[0], platform.activity.workers[1]
    try:
        asset = platform.upload()
        claimed = [platform.post_job(asset, indexed_by="dagster") for _ in range(2)]
        auth = bearer(sign_in(platform.api, silent))
        for job_id in claimed:  # deadlines days away; the silent worker never delivers
            answer = platform.api.post(f"/api/v1/jobs/{job_id}/assign", headers=auth)
            assert answer.status_code == 200, answer.text
        delivered = platform.post_job(asset, indexed_by="dagster")
        with dg.DagsterInstance.get() as instance:
            with platform.agent(honest, tmp_path / "agent") as agent:
                (outcome,) = agent.run(max_jobs=1)
            assert (outcome.job_id, outcome.completed) == (delivered, True), outcome.reason
            (record,) = eventually(lambda: materializations(instance, str(delivered)), 180)

            def finished() -> dg.DagsterRun | None:
                run = instance.get_run_by_id(record.run_id)
                return run if run is not None and run.is_finished else None

            run = eventually(finished, timeout=60)
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags[ATTEMPT_TAG] == "1"
            for job_id in claimed:  # only claimed: no run, queued or started
                by_job = dg.RunsFilter(tags={"dagster/partition": str(job_id)})
                assert instance.get_runs(by_job) == []
    finally:
        daemon.stop()

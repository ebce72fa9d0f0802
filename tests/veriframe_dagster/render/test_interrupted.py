"""A render run interrupted before it recorded its delivery (its process stopped with the
daemon's group: `up` stopped or restarting it, a machine going down) is run again by
Dagster's run retries: the delivery is recorded once and its partition ends green. It stayed
red: the interrupted run failed, and the render sensor never requests an attempt twice."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from tests.support.dagster import (
    DagsterDaemon,
    materializations,
    platform_environment,
    with_os_environ,
)
from tests.support.platform import WorkerPlatform, eventually
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.defs.render.assets import RENDER_KEY
from veriframe_dagster.defs.render.partitions import ATTEMPT_TAG, RENDER_PARTITIONS
from veriframe_dagster.run_launcher import PID_TAG

BLOCKED = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND query LIKE '%FROM pipes_messages%'"
)


def partition_status(instance: dg.DagsterInstance, partition: str) -> str:
    """What Dagster's UI shows of a `render` partition: materialized, failed or neither."""
    cached = get_and_update_asset_status_cache_value(
        instance, RENDER_KEY, RENDER_PARTITIONS, instance
    )
    assert cached is not None
    if partition in cached.deserialize_failed_partition_subsets(RENDER_PARTITIONS):
        return "failed"
    if partition in cached.deserialize_materialized_partition_subsets(RENDER_PARTITIONS):
        return "materialized"
    return "missing"


def test_an_interrupted_render_run_is_run_again_and_its_partition_ends_green(
    platform: WorkerPlatform,
    embedded_pg: EmbeddedPostgres,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = platform.post_job(platform.upload())
    with platform.agent(platform.activity.workers[0], tmp_path / "worker") as agent:
        (outcome,) = agent.run(once=True)  # rendered, delivered and verified
    assert outcome.completed, outcome.reason
    partition = str(job_id)
    env = platform_environment(platform, embedded_pg, tmp_path, "dagster_run_interrupted")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lock = platform.warehouse.connect()
    # the run's replay of the attempt's messages waits for this lock, so it stays in flight
    lock.execute(sa.text("LOCK TABLE pipes_messages IN ACCESS EXCLUSIVE MODE"))
    daemon = DagsterDaemon(with_os_environ(env), tmp_path / "dagster-daemon.log").start()
    try:
        with dg.DagsterInstance.get() as instance:

            def runs() -> list[dg.DagsterRun]:
                found = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": partition}))
                return list(reversed(found))  # oldest first

            def executing() -> dg.DagsterRun | None:
                started = [r for r in runs() if r.status == dg.DagsterRunStatus.STARTED]
                return started[0] if started and PID_TAG in started[0].tags else None

            first = eventually(executing, timeout=120)

            def blocked() -> int:
                with platform.warehouse.connect() as conn:
                    return conn.execute(BLOCKED).scalar_one()

            eventually(blocked, timeout=60)
            os.kill(int(first.tags[PID_TAG]), signal.SIGTERM)  # as a stop of the group does
            failed = dg.DagsterRunStatus.FAILURE
            eventually(lambda: instance.get_run_by_id(first.run_id).status == failed, 60)
            assert partition_status(instance, partition) == "failed"  # red: the bug's state
            lock.rollback()

            def succeeded() -> list[dg.DagsterRun]:
                return [r for r in runs() if r.status == dg.DagsterRunStatus.SUCCESS]

            (again,) = eventually(succeeded, timeout=120)  # its checks passed too
            assert again.parent_run_id == first.run_id
            assert again.tags[ATTEMPT_TAG] == first.tags[ATTEMPT_TAG] == "1"
            assert len(materializations(instance, partition)) == 1
            assert partition_status(instance, partition) == "materialized"
    finally:
        lock.rollback()
        lock.close()
        daemon.stop()

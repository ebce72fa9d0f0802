"""Dagster's instance from the repo's dagster.yaml, with its storage on the embedded Postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from tests.support import tiny_jobs
from tests.support.platform import eventually
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_dagster.dagster_home import dagster_environment, prepare_dagster_home
from veriframe_dagster.run_launcher import PID_TAG, ForkingRunLauncher

DAGSTER_DB = "dagster_instance_test"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dg.asset
def frame_count() -> int:
    """A tiny asset, only here to give the instance a run and a materialization."""
    return 42


@pytest.fixture
def instance(
    embedded_pg: EmbeddedPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """An instance built from the repo's dagster.yaml, as `veriframe up` prepares it."""
    embedded_pg.ensure_database(DAGSTER_DB)
    url = embedded_pg.url(DAGSTER_DB)
    home = prepare_dagster_home(Settings(data_dir=tmp_path), url)
    for name, value in dagster_environment(home, url).items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        yield instance


def test_prepare_dagster_home_copies_the_repo_yaml(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://postgres@/dagster?host=/tmp"
    home = prepare_dagster_home(Settings(data_dir=tmp_path / "data"), url)
    assert home == (tmp_path / "data" / "dagster_home").resolve()
    repo_yaml = Path(__file__).resolve().parents[2] / "dagster.yaml"
    assert (home / "dagster.yaml").read_text() == repo_yaml.read_text()
    assert prepare_dagster_home(Settings(data_dir=tmp_path / "data"), url) == home
    with pytest.raises(ValueError, match="psycopg2"):
        prepare_dagster_home(Settings(data_dir=tmp_path), "postgresql://postgres@/dagster")


def test_storage_and_run_queue_come_from_dagster_yaml(instance: dg.DagsterInstance) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 4
    assert list(queue.tag_concurrency_limits) == [{"key": "veriframe/render", "limit": 2}]
    assert instance.run_monitoring_enabled


def test_materialization_is_stored_in_postgres(
    instance: dg.DagsterInstance, embedded_pg: EmbeddedPostgres
) -> None:
    result = dg.materialize([frame_count], instance=instance)
    assert result.success

    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.status == dg.DagsterRunStatus.SUCCESS
    event = instance.get_latest_materialization_event(dg.AssetKey("frame_count"))
    assert event is not None
    assert event.run_id == result.run_id

    engine = make_engine(embedded_pg.url(DAGSTER_DB))
    try:
        with engine.connect() as conn:
            status = conn.scalar(
                sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id}
            )
            materializations = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM event_logs WHERE run_id = :id"
                    " AND dagster_event_type = 'ASSET_MATERIALIZATION'"
                ),
                {"id": result.run_id},
            )
    finally:
        engine.dispose()
    assert status == "SUCCESS"
    assert materializations == 1


def _launch(instance: dg.DagsterInstance, job: dg.JobDefinition) -> dg.DagsterRun:
    """Create a run of `job` and hand it to the instance's launcher (what the daemon does
    once the queue lets the run go)."""
    run = instance.create_run_for_job(
        job, job_code_origin=dg.reconstructable(job).get_python_origin()
    )
    instance.launch_run(run.run_id, workspace=None)
    return run


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_runs_are_forked_from_the_warm_process_and_cancel_cleanly(
    instance: dg.DagsterInstance,
) -> None:
    assert isinstance(instance.run_launcher, ForkingRunLauncher)
    quick = _launch(instance, tiny_jobs.quick_job)
    eventually(lambda: _status(instance, quick.run_id) in FINISHED, timeout=120)
    assert _status(instance, quick.run_id) == dg.DagsterRunStatus.SUCCESS
    pid = int(instance.get_run_by_id(quick.run_id).tags[PID_TAG])
    assert pid != os.getpid()
    logs = [e.message for e in instance.all_logs(quick.run_id)]
    assert any(f"Forked the run's process (pid {pid})" in line for line in logs)

    sleepy = _launch(instance, tiny_jobs.sleepy_job)
    eventually(
        lambda: any(
            e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
            for e in instance.all_logs(sleepy.run_id)
        ),
        timeout=120,
    )
    assert instance.run_launcher.terminate(sleepy.run_id)
    eventually(lambda: _status(instance, sleepy.run_id) in FINISHED, timeout=60)
    assert _status(instance, sleepy.run_id) == dg.DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(sleepy.run_id)  # over: nothing to stop

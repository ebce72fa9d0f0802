"""The forking run launcher: one SIGTERM to the daemon's process group ends every run process
it forked within seconds, and the run is marked as ended, even a run blocked in a query
(psycopg2 used to wait inside libpq, where Python runs no signal handler)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import psycopg2.extensions
import pytest
import sqlalchemy as sa
from dagster._core.launcher import WorkerStatus
from PIL import Image

from tests.support.api import bearer, sign_in
from tests.support.dagster import DagsterDaemon, platform_environment, with_os_environ
from tests.support.platform import WorkerPlatform, eventually
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.run_launcher import PID_TAG, ForkingRunLauncher, wait_interruptibly


def deliver(platform: WorkerPlatform) -> int:
    """A job claimed and delivered through the API with a small PNG; its id."""
    job_id = platform.post_job(platform.upload(b"BLENDER-v500"), indexed_by="dagster")
    frame = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 200, 30)).save(frame, "PNG")
    body = {"result_cid": platform.upload(frame.getvalue()), "device": "CPU"}
    auth = bearer(sign_in(platform.api, platform.activity.workers[0]))
    assert platform.api.post(f"/api/v1/jobs/{job_id}/assign", headers=auth).status_code == 200
    done = platform.api.post(f"/api/v1/jobs/{job_id}/complete", json=body, headers=auth)
    assert done.status_code == 200, done.text
    return job_id


def test_one_sigterm_to_the_daemons_group_ends_a_run_blocked_in_a_query(
    platform: WorkerPlatform,
    embedded_pg: EmbeddedPostgres,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = platform_environment(platform, embedded_pg, tmp_path, "dagster_run_blocked")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    daemon = DagsterDaemon(with_os_environ(env), tmp_path / "dagster-daemon.log").start()
    processes: list[psutil.Process] = []
    lock = platform.warehouse.connect()
    try:
        job_id = deliver(platform)
        # the run's replay of the attempt's messages waits for this lock: blocked in a query
        lock.execute(sa.text("LOCK TABLE pipes_messages IN ACCESS EXCLUSIVE MODE"))
        with dg.DagsterInstance.get() as instance:

            def executing() -> dg.DagsterRun | None:
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": str(job_id)}))
                started = [r for r in runs if r.status == dg.DagsterRunStatus.STARTED]
                return started[0] if started and PID_TAG in started[0].tags else None

            run = eventually(executing, timeout=120)
            processes.append(psutil.Process(int(run.tags[PID_TAG])))
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%FROM pipes_messages%'"
            )

            def blocked() -> int:  # a transaction sees one snapshot of pg_stat_activity
                with platform.warehouse.connect() as conn:
                    return conn.execute(waiting).scalar_one()

            eventually(blocked, timeout=60)
            os.killpg(daemon.child.pid, signal.SIGTERM)
            daemon.child.proc.wait(60)
            _, alive = psutil.wait_procs(processes, timeout=15)
            assert alive == [], f"run processes still alive after SIGTERM: {alive}"
            ended = (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
            assert instance.get_run_by_id(run.run_id).status in ended
    finally:
        lock.rollback()
        lock.close()
        for process in processes:  # left by a failed assertion
            if process.is_running():
                process.kill()
        daemon.stop()


def test_a_query_waiting_on_a_lock_is_interrupted_and_cancelled_by_a_signal(
    platform: WorkerPlatform,
) -> None:
    class Interrupted(BaseException):
        pass

    def interrupt(_signum: int, _frame: object) -> None:
        raise Interrupted

    engine = platform.warehouse
    previous = signal.signal(signal.SIGALRM, interrupt)
    psycopg2.extensions.set_wait_callback(wait_interruptibly)
    try:
        with engine.connect() as lock, engine.connect() as blocked:
            lock.execute(sa.text("LOCK TABLE pipes_messages IN ACCESS EXCLUSIVE MODE"))
            blocked.execute(sa.text("SET lock_timeout = '10s'"))  # a regression fails, not hangs
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(Interrupted):
                blocked.execute(sa.text("SELECT count(*) FROM pipes_messages"))
            waiting = sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            )

            def cancelled() -> bool:  # on the server too (a transaction sees one snapshot)
                with engine.connect() as conn:
                    return conn.execute(waiting).scalar_one() == 0

            eventually(cancelled, timeout=5)
            lock.rollback()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        psycopg2.extensions.set_wait_callback(None)
        signal.signal(signal.SIGALRM, previous)


def test_run_monitoring_finds_a_run_whose_process_is_gone() -> None:
    """A run killed without ending (SIGKILL after the grace) is failed by the daemon's run
    monitoring, so the run retries record its attempt; it stayed STARTED for ever."""
    launcher = ForkingRunLauncher()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    run = dg.DagsterRun(job_name="render_job", run_id="r1", tags={PID_TAG: str(process.pid)})
    try:
        assert launcher.supports_check_run_worker_health
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        process.kill()
        time.sleep(0.5)  # a zombie until it is reaped: gone all the same
        health = launcher.check_run_worker_health(run)
    finally:
        process.kill()
        process.wait()
    assert health.status == WorkerStatus.FAILED and f"pid {process.pid}" in (health.msg or "")
    starting = dg.DagsterRun(job_name="render_job", run_id="r2")
    assert launcher.check_run_worker_health(starting).status == WorkerStatus.UNKNOWN

"""A run launcher that forks each run from a warm process instead of starting Python anew.

Dagster's `DefaultRunLauncher` asks the code server to *spawn* a process per run: a fresh
interpreter importing Dagster and the code location, about 3 s and 3 CPU-seconds on this
machine before the run does anything. A `render` run mostly waits and records (its Pipes
reader replays what the worker stored), so that start-up was most of what a job cost Dagster
and most of the delay between a render's end and its materialization.

`ForkingRunLauncher` keeps a `multiprocessing` forkserver that has imported Dagster and the
heavy libraries once (`preload_modules`, none of the project's own code, so a run always
executes the code as it is on disk); each run is a fork of it, which loads the code location
and executes the run as `dagster api execute_run` does, on pooled storage connections. The
forkserver is a child of the process that launches runs (the daemon, which dequeues them),
and so are the runs: one signal to the daemon's process group stops all of them. A run is
terminated with SIGTERM, which Dagster turns into a clean cancellation as it does for any
run worker. Its database queries wait in Python (`wait_interruptibly`), not inside libpq:
a run blocked in a query (a lock, a slow server) otherwise ignored SIGTERM until the query
returned, and outlived the daemon until SIGKILL (tests/veriframe_dagster/test_run_launcher.py).

A run whose process is gone without ending it (killed, or stopped with SIGKILL after the
grace) is found by the daemon's run monitoring (`check_run_worker_health`) and marked failed,
so that Dagster's run retries run it again (dagster.yaml); it stayed STARTED for ever.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import psycopg2.extensions
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClass, ConfigurableClassData
from dagster_shared.serdes import deserialize_value, serialize_value

from veriframe_core.processes import process_running

PID_TAG = "veriframe/run_pid"
"""The run process's pid, so any process of the deployment (the webserver too) can stop it."""

POOL_RECYCLE_S = 300
"""A run keeps one connection per Dagster storage, renewed at this age (seconds)."""

DEFAULT_PRELOAD = (
    "dagster",
    "dagster_postgres",
    "dagster_pipes",
    "sqlalchemy",
    "sqlalchemy.orm",
    "pydantic",
    "pydantic_settings",
)


class ForkingRunLauncher(RunLauncher, ConfigurableClass):
    """Runs forked from a warm forkserver (see the module's docstring)."""

    def __init__(
        self,
        preload_modules: Sequence[str] = DEFAULT_PRELOAD,
        inst_data: ConfigurableClassData | None = None,
    ):
        self._inst_data = inst_data
        self._preload = list(preload_modules)
        self._mp: Any = None  # the forkserver context, made at the first launch
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {
            "preload_modules": dg.Field(
                [str],
                is_required=False,
                default_value=list(DEFAULT_PRELOAD),
                description="modules the warm process imports once, for every run",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> ForkingRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if self._mp is None:
            self._mp = multiprocessing.get_context("forkserver")
            self._mp.set_forkserver_preload(self._preload)
        process = self._mp.Process(
            target=execute_run,
            args=(serialize_value(self._instance.get_ref()), run.run_id),
            name=f"dagster-run-{run.run_id}",
        )
        process.start()
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(process.pid)})
        self._instance.report_engine_event(
            f"Forked the run's process (pid {process.pid}) from the warm process.",
            run,
            cls=self.__class__,
        )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished or PID_TAG not in run.tags:
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGTERM)
        except ProcessLookupError:
            self._instance.report_engine_event(
                f"The run's process (pid {run.tags[PID_TAG]}) is already gone.",
                run,
                cls=self.__class__,
            )
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        """Whether the run's process still runs (the daemon forked it on this machine)."""
        pid = run.tags.get(PID_TAG)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run's process has no pid yet")
        if not process_running(int(pid)):
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"the run's process (pid {pid}) is gone"
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)


def execute_run(serialized_instance_ref: str, run_id: str) -> None:
    """The forked run process: what `dagster api execute_run` does, without a new interpreter."""
    # Dagster's own run-worker body (private, so the dagster pin in pyproject.toml matters)
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance.ref import InstanceRef
    from dagster._utils.interrupts import capture_interrupts, setup_interrupt_handlers

    setup_interrupt_handlers()  # SIGTERM cancels the run cleanly, as for any run worker
    psycopg2.extensions.set_wait_callback(wait_interruptibly)
    with capture_interrupts():
        instance_ref = deserialize_value(serialized_instance_ref, InstanceRef)
        with dg.DagsterInstance.from_ref(instance_ref) as instance:
            # what the webserver does: keep a connection per storage for the run's ~20 event
            # writes, which dagster-postgres otherwise opens anew each time (NullPool);
            # renewed at 5 minutes' age, so an idle timeout of 5 minutes or more (a server's,
            # a proxy's) never finds one closed
            instance.optimize_for_webserver(
                statement_timeout=0, pool_recycle=POOL_RECYCLE_S, max_overflow=4
            )
            _execute_run_command_body(
                run_id, instance, lambda _event: None, set_exit_code_on_failure=False
            )


def wait_interruptibly(conn: Any) -> None:
    """psycopg2's wait for a query, in Python's `select`, so that a signal's handler runs
    while it waits; when the handler raises (Dagster interrupting the run), the query is
    cancelled on the server and the interruption goes on. psycopg2 otherwise waits inside
    libpq, where Python runs no signal handler: a run blocked in a query (a lock, a slow
    server) ignored SIGTERM until the query returned."""
    while (state := conn.poll()) != psycopg2.extensions.POLL_OK:
        if state not in (psycopg2.extensions.POLL_READ, psycopg2.extensions.POLL_WRITE):
            raise conn.OperationalError(f"bad state from poll: {state}")
        reading = state == psycopg2.extensions.POLL_READ
        try:
            select.select([conn] if reading else [], [] if reading else [conn], [])
        except BaseException:
            conn.cancel()
            raise

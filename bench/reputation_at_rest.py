"""What the reputation automation costs at rest: CPU per evaluation of the activity_days
sensor and of the reputation automation conditions, and the share of a core they take at
their intervals, with nothing changing.

Starts an embedded Postgres for the warehouse (migrated, empty) and for the Dagster instance
(the repo's dagster.yaml, storage on Postgres), marks every daily partition of
`activity_days` and the tables materialized (runless events, as after a backfill), then
evaluates, `--rounds` times each:

- the activity_days sensor, as the daemon does (a fresh context per tick, with the
  resources the sensor asks for, if any);
- the automation conditions of the reputation tables (`evaluate_automation_conditions`, the
  evaluation the AutomationConditionSensor runs), with the cursor carried between rounds.

CPU is this process's (user + system, `time.process_time`) plus the Postgres server's
processes' (psutil), per evaluation. Run it against another tree to compare (it only needs
`build_definitions` and the sensor's name):

    PYTHONPATH=. .venv/bin/python bench/reputation_at_rest.py [--rounds 20]
        [--first-day 2026-01-01]   # the partitions' first day (default: the setting's)
        [--render-jobs 2000]       # render partitions (one per job) in the graph
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import psutil


def postgres_cpu(server_pid: int) -> float:
    """CPU seconds of the Postgres server and its children so far."""
    total = 0.0
    try:
        root = psutil.Process(server_pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--first-day")
    parser.add_argument("--render-jobs", type=int, default=2000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from veriframe_core.warehouse.embedded import EmbeddedPostgres
    from veriframe_core.warehouse.migrate import upgrade_warehouse

    scratch = Path(tempfile.mkdtemp(prefix="veriframe-bench-at-rest-"))
    server = EmbeddedPostgres(scratch / "postgres")
    server.start()
    try:
        server.ensure_database("warehouse")
        server.ensure_database("dagster")
        warehouse = server.url("warehouse")
        upgrade_warehouse(warehouse)
        os.environ["VERIFRAME_DATABASE_URL"] = warehouse
        if args.first_day:
            os.environ["VERIFRAME_REPUTATION_FIRST_DAY"] = args.first_day
        measure(args, scratch, server, warehouse)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def measure(args, scratch: Path, server, warehouse: str) -> None:
    import dagster as dg

    from veriframe_core.settings import Settings
    from veriframe_dagster.dagster_home import dagster_environment, prepare_dagster_home
    from veriframe_dagster.definitions import build_definitions

    settings = Settings(data_dir=scratch / "data", database_url=warehouse)
    home = prepare_dagster_home(settings, server.url("dagster"))
    os.environ.update(dagster_environment(home, server.url("dagster")))
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    days_key = dg.AssetKey(["reputation", "activity_days"])
    partitions = graph.get(days_key).partitions_def
    keys = partitions.get_partition_keys()
    tables = [k for k in graph.get_all_asset_keys() if k.path[0] == "analytics"]
    pg = next(
        (
            p
            for p in psutil.process_iter(["name", "cmdline"])
            if str(scratch) in " ".join(p.info["cmdline"] or [])
            and "postgres" in (p.info["name"] or "")
        ),
        None,
    )
    pg_root = pg.pid if pg is not None else None
    with dg.DagsterInstance.get() as instance:
        jobs = [str(n) for n in range(1, args.render_jobs + 1)]
        instance.add_dynamic_partitions("render_jobs", jobs)
        for job in jobs:  # the render asset's history: one partition per job
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=dg.AssetKey("render"), partition=job)
            )
        for key in [days_key, *tables]:
            partitioned = graph.get(key).partitions_def is not None
            for partition in keys if partitioned else [None]:
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(asset_key=key, partition=partition)
                )
        sensor = defs.resolve_sensor_def("activity_days_sensor")
        automation = defs.resolve_sensor_def("reputation_automation")
        resources = {k: v for k, v in defs.resources.items() if k in sensor.required_resource_keys}

        def days_tick(cursor):
            with dg.build_sensor_context(
                instance=instance, resources=resources, cursor=cursor
            ) as context:
                result = sensor(context)
            return result.cursor

        cursor = days_tick(None)
        days_s, days_pg = timed(args.rounds, lambda: days_tick(cursor), pg_root)

        state = {"cursor": None}

        def evaluate():
            result = dg.evaluate_automation_conditions(
                defs, instance, cursor=state["cursor"], asset_selection=automation.asset_selection
            )
            state["cursor"] = result.cursor
            return result

        evaluate()  # the first evaluation sees everything as new
        auto_s, auto_pg = timed(args.rounds, evaluate, pg_root)

    print(
        f"partitions: {len(keys)} days from {keys[0]}, {args.render_jobs} render jobs; "
        "sensor intervals: activity_days "
        f"{sensor.minimum_interval_seconds} s, "
        f"automation {automation.minimum_interval_seconds} s"
    )
    for name, cpu, pg_cpu, interval in (
        ("activity_days sensor", days_s, days_pg, sensor.minimum_interval_seconds),
        ("automation evaluation", auto_s, auto_pg, automation.minimum_interval_seconds),
    ):
        median, p90 = statistics.median(cpu), sorted(cpu)[int(0.9 * (len(cpu) - 1))]
        each = median + pg_cpu
        print(
            f"{name:<22} CPU per evaluation: median {median * 1000:.0f} ms (p90 "
            f"{p90 * 1000:.0f} ms) + Postgres {pg_cpu * 1000:.0f} ms; at a {interval} s interval: "
            f"{100 * each / interval:.2f}% of a core"
        )


def timed(rounds: int, call, pg_root: int | None) -> tuple[list[float], float]:
    """Process CPU seconds of each call, and the Postgres CPU per call (mean)."""
    pg_before = postgres_cpu(pg_root) if pg_root else 0.0
    cpu = []
    for _ in range(rounds):
        started = time.process_time()
        call()
        cpu.append(time.process_time() - started)
    pg_after = postgres_cpu(pg_root) if pg_root else 0.0
    return cpu, (pg_after - pg_before) / rounds


if __name__ == "__main__":
    main()

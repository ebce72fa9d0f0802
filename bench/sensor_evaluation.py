"""What one sensor evaluation costs, as the code server runs it: the chain, render and
activity_days sensors, A/B interleaved between two checkouts.

Starts an embedded Postgres (the warehouse, migrated, and Dagster's storage with the repo's
dagster.yaml) and devchain, then alternates child processes between the checkouts (each
with its tree first on PYTHONPATH): a child builds the definitions from the environment's
settings and evaluates each sensor `--evaluations` times the way `dagster api grpc` does
(`dagster._grpc.impl.get_external_sensor_execution`: a fresh context per tick, given the
instance's reference and the top-level resources the sensor requires, then `evaluate_tick`),
the cursor carried between ticks. The reference matters: a context makes its instance (the
Postgres storages) when something uses it, and building resources does (Dagster issue
14345), so a sensor with resources pays for an instance on every tick. The follows are off
(`*_follow_s=0`), so a tick is one pass over a quiet chain and warehouse: its cost at rest.
Wall and CPU (`time.process_time`) per evaluation, median and p95 over all rounds of a
checkout.

    PYTHONPATH=. .venv/bin/python bench/sensor_evaluation.py --base /work/wt-base \\
        [--rounds 4] [--evaluations 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

SENSORS = ("chain_sensor", "render_sensor", "activity_days_sensor")
HERE = Path(__file__).resolve()


def child(evaluations: int) -> None:
    """Evaluate every sensor of the definitions on PYTHONPATH; print the timings as JSON."""
    warnings.simplefilter("ignore")
    import dagster as dg
    from dagster._core.execution.resources_init import get_transitive_required_resource_keys

    from veriframe_core.settings import get_settings
    from veriframe_dagster.definitions import build_definitions

    repo = build_definitions(get_settings()).get_repository_def()
    top = repo.get_top_level_resources()
    timings: dict[str, dict[str, list[float]]] = {}
    with dg.DagsterInstance.get() as instance:
        ref = instance.get_ref()
        for name in SENSORS:
            sensor = repo.get_sensor_def(name)
            keys = get_transitive_required_resource_keys(sensor.required_resource_keys, top)

            def tick(cursor: str | None, sensor=sensor, keys=keys) -> str | None:
                resources = {k: v for k, v in top.items() if k in keys}
                with dg.build_sensor_context(
                    instance_ref=ref,  # as the code server: the instance made when used
                    cursor=cursor,
                    resources=resources,
                    repository_def=repo,
                    sensor_name=sensor.name,
                ) as context:
                    return sensor.evaluate_tick(context).cursor

            cursor = tick(tick(None))  # catch up, then one warm tick
            wall, cpu = [], []
            for _ in range(evaluations):
                started, started_cpu = time.perf_counter(), time.process_time()
                cursor = tick(cursor)
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            timings[name] = {"wall": wall, "cpu": cpu, "resources": sorted(keys)}
    print(json.dumps(timings))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q / 100 * len(ordered) + 0.5) - 1)]


def run_child(tree: Path, env: dict[str, str], evaluations: int) -> dict:
    result = subprocess.run(
        [sys.executable, str(HERE), "--child", "--evaluations", str(evaluations)],
        env={**env, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child in {tree} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", type=Path, help="the checkout to compare with (A)")
    parser.add_argument("--new", type=Path, default=HERE.parent.parent, help="(B): this one")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--evaluations", type=int, default=50)
    args = parser.parse_args()
    if args.child:
        child(args.evaluations)
        return
    warnings.simplefilter("ignore")
    from devchain.process import DevchainProcess, free_port
    from veriframe_core.warehouse.embedded import EmbeddedPostgres
    from veriframe_core.warehouse.migrate import upgrade_warehouse
    from veriframe_dagster.dagster_home import dagster_environment

    trees = {"base": args.base, "new": args.new} if args.base else {"new": args.new}
    scratch = Path(tempfile.mkdtemp(prefix="veriframe-bench-sensors-"))
    server = EmbeddedPostgres(scratch / "postgres")
    node = DevchainProcess(scratch / "devchain", free_port())
    try:
        server.start()
        for database in ("warehouse", "dagster"):
            server.ensure_database(database)
        upgrade_warehouse(server.url("warehouse"))
        chain = node.start()
        home = scratch / "dagster_home"
        home.mkdir()
        shutil.copyfile(HERE.parent.parent / "dagster.yaml", home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
        env.update(dagster_environment(home, server.url("dagster")))
        env.update(
            {
                "VERIFRAME_DATA_DIR": str(scratch / "data"),
                "VERIFRAME_DATABASE_URL": server.url("warehouse"),
                "VERIFRAME_STARKNET_RPC_URL": chain["rpc_url"],
                "VERIFRAME_JOB_REGISTRY_ADDRESS": chain["job_registry_address"],
                "VERIFRAME_CHAIN_SENSOR_FOLLOW_S": "0",
                "VERIFRAME_RENDER_SENSOR_FOLLOW_S": "0",
            }
        )
        results: dict[str, dict[str, dict[str, list[float]]]] = {t: {} for t in trees}
        for round_ in range(args.rounds):
            for label, tree in trees.items():
                timings = run_child(tree, env, args.evaluations)
                for name, values in timings.items():
                    slot = results[label].setdefault(name, {"wall": [], "cpu": []})
                    slot["wall"] += values["wall"]
                    slot["cpu"] += values["cpu"]
                    slot["resources"] = values["resources"]
                print(f"round {round_ + 1}: {label} done", file=sys.stderr)
        report(results, args)
    finally:
        node.stop()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def report(results: dict, args: argparse.Namespace) -> None:
    print(
        f"{args.rounds} rounds x {args.evaluations} evaluations per sensor and checkout "
        "(ms per evaluation; resources the sensor requires)"
    )
    print(f"{'sensor':<22}{'checkout':<10}{'wall p50':>9}{'p95':>7}{'CPU p50':>9}{'p95':>7}")
    for name in SENSORS:
        for label, sensors in results.items():
            slot = sensors[name]
            wall, cpu = slot["wall"], slot["cpu"]
            print(
                f"{name:<22}{label:<10}{1000 * percentile(wall, 50):>9.1f}"
                f"{1000 * percentile(wall, 95):>7.1f}{1000 * percentile(cpu, 50):>9.1f}"
                f"{1000 * percentile(cpu, 95):>7.1f}  {', '.join(slot['resources']) or '-'}"
            )


if __name__ == "__main__":
    main()

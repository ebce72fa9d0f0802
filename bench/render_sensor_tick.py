"""The render sensor's tick with 100,000 `render` partitions: catching up, then steady.

Dagster advises at most 100,000 partitions per asset (issue "Render on GPU nodes"). This
runs the real daemon (`dagster-daemon run`, Postgres storage, the repo's dagster.yaml) over a
warehouse holding `--jobs` open jobs, written directly with SQL (devchain could not create
them in reasonable time, and the sensor reads only the warehouse). The daemon's render
sensor adds their partitions, at most 10,000 per tick; once all exist, `--rounds` rounds
each add 10 jobs and one delivery (so each tick also requests a run), and the ticks of that
steady phase are read from Dagster's `job_ticks`. The same steady phase runs first at
`--small` partitions, so both sizes are measured by the same daemon.

    .venv/bin/python bench/render_sensor_tick.py [--jobs 100000] [--small 1000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from harness import dagster_env, percentile, sensor_ticks, start_daemon, tree_cpu_seconds

from devchain.process import DevchainProcess
from veriframe_core.processes import free_port, wait_until
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.migrate import upgrade_warehouse

SENSOR = "render_sensor"
WORKER = "0x" + "7" * 64
INSERT_JOBS = sa.text(
    """
    INSERT INTO jobs (job_id, creator_address, asset_cid_part1, asset_cid_part2, asset_cid,
        reward_amount, deadline, min_reputation, status, created_at, created_block,
        created_tx, updated_block, updated_tx)
    SELECT n, '0x' || repeat('1', 64), 1, 2, 'QmBench', 1000 + n, now() + interval '30 days',
        400, 'open', now(), 1, '0x' || lpad(to_hex(n), 64, '0'), 1,
        '0x' || lpad(to_hex(n), 64, '0')
    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n
    """
)
DELIVERY = sa.text(  # a claim alone requests no run: the sensor follows ended attempts
    """
    INSERT INTO job_attempts (job_id, created_tx, attempt, worker_address, state, claimed_at,
        lease_expires_at, progress, ended_at, result_cid, recordable_seq)
    SELECT job_id, created_tx, 1, :worker, 'completed', now(), now() + interval '1 day', 1,
        now(), 'QmBenchResult', next_recordable_seq()
    FROM jobs WHERE job_id = :job
    """
)


def partitions(dagster_url: str) -> int:
    """The `render` partitions Dagster holds (0 before the daemon created its tables)."""
    engine = sa.create_engine(dagster_url)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("dynamic_partitions"):
            return 0
        count = conn.execute(
            sa.text(
                "SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'render_jobs'"
            )
        ).scalar_one()
    engine.dispose()
    return count


def steady(engine: sa.Engine, next_job: int, rounds: int, dagster_url: str) -> tuple[int, dict]:
    """`rounds` rounds of 10 new jobs and one delivery, 3 s apart; the ticks' figures."""
    since = time.time()
    for _ in range(rounds):
        with engine.begin() as conn:
            conn.execute(INSERT_JOBS, {"first": next_job, "last": next_job + 9})
            conn.execute(DELIVERY, {"worker": WORKER, "job": next_job})
        next_job += 10
        time.sleep(3)
    ticks = sensor_ticks(dagster_url, SENSOR, since)
    durations = [t["end_timestamp"] - t["timestamp"] for t in ticks]
    with_runs = [t["end_timestamp"] - t["timestamp"] for t in ticks if t.get("run_ids")]
    return next_job, {
        "ticks": len(ticks),
        "p50": statistics.median(durations),
        "p95": percentile(durations, 95),
        "max": max(durations),
        "with_runs": len(with_runs),
        "with_runs_p50": statistics.median(with_runs) if with_runs else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="vf-render-sensor-"))
    pg = EmbeddedPostgres(data_dir / "postgres")
    pg.start()
    node = DevchainProcess(data_dir / "devchain", free_port())  # for the chain sensor
    daemon = None
    try:
        for name in ("veriframe", "dagster"):
            pg.ensure_database(name)
        urls = {"warehouse": pg.url("veriframe"), "dagster": pg.url("dagster")}
        upgrade_warehouse(urls["warehouse"])
        node.start()
        engine = sa.create_engine(urls["warehouse"])
        with engine.begin() as conn:
            conn.execute(INSERT_JOBS, {"first": 1, "last": args.small})
        env = dagster_env(
            data_dir,
            urls["dagster"],
            database_url=urls["warehouse"],
            devchain_state_dir=node.state_dir,
        )
        daemon = start_daemon(env, data_dir / "dagster-daemon.log")
        wait_until(
            lambda: partitions(urls["dagster"]) >= args.small,
            "the small set",
            [daemon],
            timeout=300,
        )
        next_job, small = steady(engine, args.small + 1, args.rounds, urls["dagster"])

        with engine.begin() as conn:
            conn.execute(INSERT_JOBS, {"first": next_job, "last": args.jobs})
        since, cpu_before = time.time(), tree_cpu_seconds(daemon.pid)
        wait_until(
            lambda: partitions(urls["dagster"]) >= args.jobs,
            "all partitions",
            [daemon],
            timeout=1800,
        )
        catch_up_s = time.time() - since
        catch_up_cpu = tree_cpu_seconds(daemon.pid) - cpu_before
        cpu_before, wall_before = tree_cpu_seconds(daemon.pid), time.monotonic()
        _, big = steady(engine, args.jobs + 1, args.rounds, urls["dagster"])
        steady_cpu = (tree_cpu_seconds(daemon.pid) - cpu_before) / (time.monotonic() - wall_before)
        total = partitions(urls["dagster"])
    finally:
        if daemon is not None:
            daemon.stop()
        node.stop()
        pg.stop()

    print(f"render partitions at the end: {total:,}")
    for label, figures in (
        (f"{args.small:,} partitions", small),
        (f"{args.jobs:,} partitions", big),
    ):
        print(
            f"steady tick with {label} (10 new jobs + 1 delivery per 3 s, "
            f"{figures['ticks']} ticks): "
            f"p50 {figures['p50']:.2f} s, p95 {figures['p95']:.2f} s, max {figures['max']:.2f} s; "
            f"{figures['with_runs']} ticks requested runs, p50 {figures['with_runs_p50']:.2f} s"
        )
    print(
        f"catch-up from {args.small:,} to {args.jobs:,} partitions (ticks of up to 10,000, "
        f"which Dagster records as one skipped tick): {catch_up_s:.1f} s, daemon CPU "
        f"{catch_up_cpu:.1f} s"
    )
    print(f"daemon, code server and runs, steady at {args.jobs:,}: {steady_cpu:.0%} of a core")
    print(f"logs in {data_dir}")


if __name__ == "__main__":
    main()

"""Chain ingestion backfill: ≥ 200,000 JobRegistry events from block 0 to head into Postgres.

Starts devchain (many accounts), loads a realistic marketplace history into it
(`tests/support/marketplace.py`: real signed multicall transactions sent in blocks with
`devchain_addBlocks`), creates a fresh warehouse on an
embedded Postgres, and runs the ingestion exactly as `veriframe index --once` does: one
`ChainIngestor.tick(until_caught_up=True)`. Prints the load figures, events/s end to end,
where the time went (`TickReport.seconds`: rpc, decode, db), rows per table, and checks the
tables against what was loaded. Every server is stopped at the end.

    .venv/bin/python bench/chain_backfill.py [--events 200000] [--accounts 100]
        [--batch-events 5000] [--profile out.prof]

`--profile` runs the tick under cProfile in this process (the devchain and Postgres
processes are not profiled; their time shows up as `rpc` and `db`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from devchain.process import DevchainProcess  # noqa: E402
from tests.support.marketplace import LoadPlan, Rpc, load_history, over_http  # noqa: E402
from veriframe_core.chain.ingest import ChainIngestor, IngestTarget, TickReport  # noqa: E402
from veriframe_core.processes import free_port  # noqa: E402
from veriframe_core.warehouse.embedded import EmbeddedPostgres  # noqa: E402
from veriframe_core.warehouse.engine import make_engine  # noqa: E402
from veriframe_core.warehouse.migrate import upgrade_warehouse  # noqa: E402

TABLES = ("contract_events", "workers", "jobs", "reputation_history", "chain_blocks")
TARGET_EVENTS_PER_S = 10_000


def registry_events_before(rpc: Rpc, registry: str, block: int) -> int:
    """JobRegistry events already on the chain before the load (genesis: OwnershipTransferred)."""
    if block < 0:
        return 0
    flt = {"from_block": {"block_number": 0}, "to_block": {"block_number": block}}
    flt |= {"address": registry, "chunk_size": 1000}
    return len(rpc("starknet_getEvents", {"filter": flt})["events"])


def cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User + system CPU of a process (and of its live children: Postgres backends)."""
    processes = [psutil.Process(pid)]
    if with_children:
        processes += processes[0].children(recursive=True)
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def ingest(
    engine: sa.Engine,
    target: IngestTarget,
    batch_events: int,
    profile: Path | None,
    pids: dict[str, tuple[int, bool]],
):
    """One tick to head, as `veriframe index --once` runs it; optionally under cProfile.

    Also returns the CPU seconds each process spent during the tick (`pids`: name →
    (pid, count children)).
    """
    ingestor = ChainIngestor(engine, target, batch_events=batch_events)
    with engine.connect():  # the pooled connection's backend exists before the first sample
        pass
    profiler = cProfile.Profile() if profile else None
    cpu_before = {name: cpu_seconds(*p) for name, p in pids.items()}
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = ingestor.tick(budget_s=3600, until_caught_up=True)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    cpu = {name: cpu_seconds(*p) - cpu_before[name] for name, p in pids.items()}
    if profiler and profile:
        profiler.dump_stats(profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        print(out.getvalue())
    return report, wall, cpu


def print_report(
    load: dict, report: TickReport, wall: float, cpu: dict[str, float], counts: dict[str, int]
) -> None:
    rate = report.events / wall if wall else 0.0
    print("\n== load (tests/support/marketplace.py through devchain_addBlocks) ==")
    print(
        f"registry events {load['registry_events']:,} (+ {load['token_events']:,} ERC-20) in "
        f"{load['transactions']:,} transactions ({load['calls']:,} calls, "
        f"{load['reverted']} deliberate reverts), {load['blocks']:,} blocks, "
        f"{load['seconds']:.1f} s = {load['events_per_s']:,} registry events/s "
        f"({load['signers']} signer processes)"
    )
    print("events:", ", ".join(f"{k} {v:,}" for k, v in load["events"].items()))
    print("ratings by band:", load["ratings_by_band"])
    print("\n== backfill (ChainIngestor.tick, block 0 → head) ==")
    print(f"events ingested   {report.events:,} in {report.batches} batches")
    print(f"wall              {wall:.1f} s")
    verdict = "meets" if rate >= TARGET_EVENTS_PER_S else "BELOW"
    print(
        f"events/s          {rate:,.0f} end to end ({verdict} the {TARGET_EVENTS_PER_S:,} target)"
    )
    accounted = sum(report.seconds.values())
    for part in ("rpc", "decode", "db"):
        seconds = report.seconds.get(part, 0.0)
        print(f"  {part:<7} {seconds:7.1f} s  {100 * seconds / wall:5.1f} %")
    if accounted <= wall:
        other = wall - accounted
        print(f"  {'other':<7} {other:7.1f} s  {100 * other / wall:5.1f} %  (reorg checks, cursor)")
    else:  # an ingestor that overlaps fetching and writing counts both in full
        print(f"  (parts overlap: they add up to {accounted:.1f} s)")
    print("CPU during the tick (2 cores = 2 s per wall second):")
    for name, seconds in cpu.items():
        print(f"  {name:<24} {seconds:6.1f} s  ({100 * seconds / wall:3.0f} % of one core)")
    print("rows (tick report):", dict(report.rows))
    print("rows (tables):     ", counts)


def check(load: dict, before: int, report: TickReport, counts: dict[str, int], conn) -> None:
    """The warehouse holds exactly what was loaded."""
    events = load["events"]
    history = sum(events.get(n, 0) for n in ("ReputationUpdated", "ReputationSlashed"))
    history += events.get("WorkerVerified", 0)
    expected = {
        "contract_events": load["registry_events"] + before,
        "jobs": events.get("JobCreated", 0),
        "workers": events.get("WorkerRegistered", 0),
        "reputation_history": history,
    }
    problems = [
        f"{t}: {counts[t]:,} rows, loaded {n:,}" for t, n in expected.items() if counts[t] != n
    ]
    if report.events != expected["contract_events"]:
        problems.append(f"tick ingested {report.events:,}, loaded {expected['contract_events']:,}")
    if not report.caught_up or report.last_block != report.head:
        problems.append(f"cursor at {report.last_block}, head {report.head}")
    statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM jobs GROUP BY 1")).all())
    print("jobs by status:    ", statuses)
    finalized = statuses.get("finalized", 0)
    if finalized != events.get("JobFinalized", 0):
        problems.append(
            f"finalized jobs {finalized:,}, JobFinalized {events.get('JobFinalized', 0):,}"
        )
    submitted = conn.execute(
        sa.text("SELECT count(*) FROM jobs WHERE worker_address IS NOT NULL")
    ).scalar_one()
    if submitted != events.get("ResultSubmitted", 0):
        problems.append(
            f"jobs with a worker {submitted:,}, ResultSubmitted {events['ResultSubmitted']:,}"
        )
    missing_cids = conn.execute(
        sa.text(
            "SELECT count(*) FROM jobs WHERE asset_cid IS NULL "
            "OR (worker_address IS NOT NULL AND result_cid IS NULL)"
        )
    ).scalar_one()
    if missing_cids:
        problems.append(f"{missing_cids:,} jobs without their asset or result CID")
    if problems:
        raise SystemExit("backfill check FAILED:\n  " + "\n  ".join(problems))
    print("check: the warehouse holds every loaded event, job, worker and history row")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="JobRegistry events to load")
    parser.add_argument("--accounts", type=int, default=100, help="devchain dev accounts")
    parser.add_argument("--seed", type=int, default=1, help="the load's seed")
    parser.add_argument("--batch-events", type=int, default=20_000, help="ingestion batch size")
    parser.add_argument("--profile", type=Path, help="cProfile the tick; stats written here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--chain-dir",
        type=Path,
        help="keep the loaded devchain here and reuse it on the next run (iterate on ingestion "
        "without loading again)",
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="veriframe-backfill-"))
    chain_dir = args.chain_dir.resolve() if args.chain_dir else work / "devchain"
    node = DevchainProcess(chain_dir, free_port(), accounts=args.accounts)
    postgres = EmbeddedPostgres(work / "postgres")
    engine: sa.Engine | None = None
    try:
        started = time.perf_counter()
        info = node.start()
        print(f"devchain up in {time.perf_counter() - started:.1f} s ({args.accounts} accounts)")
        url, registry = info["rpc_url"], info["job_registry_address"]
        saved = chain_dir / "bulk_load.json"
        if saved.exists():  # --chain-dir from an earlier run
            load, before = json.loads(saved.read_text())
            print(f"reusing the chain in {chain_dir} (loaded earlier)")
        else:
            rpc = over_http(url)
            before = registry_events_before(rpc, registry, rpc("starknet_blockNumber", {}))
            load = load_history(rpc, LoadPlan(events=args.events, seed=args.seed))
            saved.write_text(json.dumps([load, before]))
        print(f"load: {load['registry_events']:,} registry events in {load['seconds']:.1f} s")

        started = time.perf_counter()
        postgres.start()
        postgres.ensure_database("backfill")
        db_url = postgres.url("backfill")
        upgrade_warehouse(db_url)
        engine = make_engine(db_url)
        print(f"fresh warehouse in {time.perf_counter() - started:.1f} s")

        target = IngestTarget(url, int(registry, 16), 0)
        pids = {
            "indexer (this process)": (psutil.Process().pid, False),
            "devchain": (node.child.pid, False),
            "postgres (all processes)": (postgres.pid, True),
        }
        report, wall, cpu = ingest(engine, target, args.batch_events, args.profile, pids)
        with engine.connect() as conn:
            counts = {
                t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES
            }
            print_report(load, report, wall, cpu, counts)
            check(load, before, report, counts, conn)
    finally:
        if engine is not None:
            engine.dispose()
        postgres.stop()
        node.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

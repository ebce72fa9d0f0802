"""Reputation tables at scale: one daily partition, the scorecard, and a 90-day backfill.

Bulk-loads a synthetic but rule-abiding warehouse straight into Postgres with COPY (no chain:
10,000 workers, 1,000,000 JobRegistry events over 90 days, the folded `workers`, `jobs` and
`reputation_history` rows they imply, the render attempts, and their verdicts and
sanctions), then launches runs of the
reputation assets as the automation does (through the instance's run launcher, checks
included): the 90-day backfill, five runs of today's partition, two of the scorecard. It
prints, per asset, the seconds of the computation (the asset's own `seconds` metadata) and
of the whole run. The embedded Postgres it starts is stopped at the end.

    .venv/bin/python bench/reputation.py [--workers 10000] [--events 1000000] [--days 90]
        [--database-url URL]   # an existing, empty Postgres database instead
        [--load-only]          # stop after loading (inspect the tables with EXPLAIN)
        [--reuse]              # the database holds today's --load-only load: measure only
        [--figures day,scorecard]  # which runs (default: backfill,day,scorecard)

Targets (issue 13): a day ≤ 2 s, the scorecard ≤ 10 s, the 90-day backfill ≤ 3 min.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import io
import json
import os
import platform
import random
import shutil
import tempfile
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import psutil
import sqlalchemy as sa

from veriframe_core.chain import rules
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.migrate import upgrade_warehouse

TARGETS_S = {"day": 2.0, "scorecard": 10.0, "backfill": 180.0}
BLOCK_S = 6
REGISTRY = "0x" + "7" * 64
OWNER = "0x" + "1" * 64
NULL = r"\N"
SCORES = [(55, (90, 100)), (25, (75, 89)), (8, (60, 74)), (5, (40, 59)), (7, (1, 39))]
DEVICES = ["OPTIX", "CUDA", "HIP", "CPU", "METAL"]


def address(n: int, kind: int) -> str:
    return f"0x{kind:02x}{n:062x}"


def tx_hash(n: int) -> str:
    return f"0x{n:064x}"


class Warehouse:
    """Rows of a marketplace history, folded by the contract's rules as they are generated."""

    def __init__(self, workers: int, events: int, days: int, seed: int = 13):
        self.rng = random.Random(seed)
        self.n_workers, self.target_events, self.days = workers, events, days
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.t0 = today - dt.timedelta(days=days - 1)
        self.end = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        self.events = io.StringIO()
        self.history = io.StringIO()
        self.jobs = io.StringIO()
        self.attempts = io.StringIO()
        self.event_id = 0
        self.tx = 0
        self.counts: Counter = Counter()
        self.workers: dict[str, dict] = {}
        self.actions: list[tuple] = []

    # ---------------------------------------------------------------- rows
    def block(self, moment: dt.datetime) -> int:
        return int((moment - self.t0).total_seconds()) // BLOCK_S

    def event(
        self, name: str, moment: dt.datetime, job: int | None, worker: str | None, decoded: dict
    ) -> tuple[int, str, int]:
        """A contract_events row; its (block, block hash, transaction index)."""
        self.event_id += 1
        self.tx += 1
        block = self.block(moment)
        block_hash = tx_hash(10**12 + block)
        keys = json.dumps([hex(zlib.crc32(name.encode())), *([hex(job)] if job else [])])
        self.events.write(
            "\t".join(
                [
                    REGISTRY,
                    name,
                    str(block),
                    block_hash,
                    moment.isoformat(),
                    tx_hash(self.tx),
                    str(self.tx),
                    "0",
                    NULL if job is None else str(job),
                    worker or NULL,
                    keys,
                    "[]",
                    json.dumps(decoded),
                    "{}",
                ]
            )
            + "\n"
        )
        self.counts[name] += 1
        return block, block_hash, self.tx

    def change(
        self,
        worker: dict,
        moment: dt.datetime,
        new: int,
        reason: str,
        where: tuple,
        job: int | None = None,
        score: int | None = None,
    ) -> None:
        block, block_hash, tx = where
        old = worker["reputation"]
        worker["reputation"] = new
        self.history.write(
            "\t".join(
                [
                    block_hash,
                    str(tx),
                    "0",
                    worker["address"],
                    NULL if job is None else str(job),
                    str(old),
                    str(new),
                    str(new - old),
                    reason,
                    NULL if score is None else str(score),
                    OWNER,
                    str(block),
                    tx_hash(tx),
                    moment.isoformat(),
                ]
            )
            + "\n"
        )

    # ---------------------------------------------------------------- the history
    def generate(self) -> None:
        rng = self.rng
        span = (self.end - self.t0).total_seconds()
        registrations = []
        for n in range(self.n_workers):
            at = self.t0 + dt.timedelta(
                seconds=rng.random() * span * (0.05 if n < 0.7 * self.n_workers else 0.9)
            )
            registrations.append((at, n))
        registrations.sort()
        per_job = 3.7
        fixed = self.n_workers * 1.8
        n_jobs = int((self.target_events - fixed) / per_job)
        job_times = sorted(
            self.t0 + dt.timedelta(seconds=rng.random() * span) for _ in range(n_jobs)
        )
        slash_times = sorted(
            self.t0 + dt.timedelta(seconds=rng.random() * span) for _ in range(self.n_workers)
        )
        # a heap of what happens when (0 registration, 1 job, 2 slash, 3 rating, 4
        # verification): a rating is applied when it happens, not when its job is generated,
        # so every worker's history folds in chain order as the contract folds it
        self.actions = [(at, 0, n, None) for at, n in registrations]
        self.actions += [(at, 1, j, None) for j, at in enumerate(job_times, start=1)]
        self.actions += [(at, 2, k, None) for k, at in enumerate(slash_times)]
        heapq.heapify(self.actions)
        verified: list[str] = []
        while self.actions:
            at, kind, n, payload = heapq.heappop(self.actions)
            if kind == 0:
                self.register(at, n, verified)
            elif kind == 1 and verified:
                self.job(at, n, verified)
            elif kind == 2 and verified:
                worker = self.workers[rng.choice(verified)]
                amount = rng.choice([5, 10, 25, 50])
                where = self.event(
                    "ReputationSlashed",
                    at,
                    None,
                    worker["address"],
                    {"worker": worker["address"], "slash_amount": amount},
                )
                worker["failed"] += 1
                self.change(
                    worker,
                    at,
                    rules.reputation_after_slash(worker["reputation"], amount),
                    "slash",
                    where,
                )
            elif kind == 3:
                self.apply_rating(at, n, *payload)
            elif kind == 4:
                self.verify(at, *payload)

    def register(self, at: dt.datetime, n: int, verified: list[str]) -> None:
        worker = {
            "address": address(n, 0x0A),
            "registered_at": at,
            "reputation": rules.START_REPUTATION,
            "completed": 0,
            "failed": 0,
            "earnings": 0,
            "verified": False,
            "quality": self.rng.choice(["good", "good", "fair", "poor"]),
        }
        self.workers[worker["address"]] = worker
        self.event(
            "WorkerRegistered",
            at,
            None,
            worker["address"],
            {"worker": worker["address"], "registration_time": int(at.timestamp())},
        )
        if self.rng.random() < 0.85:  # verified half an hour later
            later = at + dt.timedelta(minutes=30)
            heapq.heappush(self.actions, (later, 4, n, (worker, verified)))

    def verify(self, at: dt.datetime, worker: dict, verified: list[str]) -> None:
        where = self.event(
            "WorkerVerified",
            at,
            None,
            worker["address"],
            {"worker": worker["address"], "verified": True},
        )
        worker["verified"] = True
        worker["verified_at"] = at
        new = rules.reputation_after_verification(worker["reputation"], True)
        self.change(worker, at, new, "verified", where)
        verified.append(worker["address"])

    def job(self, at: dt.datetime, job_id: int, verified: list[str]) -> None:
        rng = self.rng
        reward = rng.choice([10**18 * rng.randint(1, 50), 2**64 + rng.randint(0, 2**20), 3 * 2**70])
        deadline = at + dt.timedelta(seconds=rng.choice([1800, 3600, 7200]))
        created = self.event(
            "JobCreated", at, job_id, None, {"job_id": job_id, "reward_amount": reward}
        )
        worker = self.workers[rng.choice(verified)]
        row = {
            "status": "open",
            "worker": NULL,
            "submitted": None,
            "finalized": None,
            "score": NULL,
        }
        attempt = 0
        claim = at + dt.timedelta(seconds=rng.expovariate(1 / 40))
        if rng.random() < 0.1:
            attempt += 1
            self.attempt(
                job_id,
                created[2],
                attempt,
                worker["address"],
                "failed",
                claim,
                claim + dt.timedelta(seconds=30),
                None,
            )
            claim += dt.timedelta(seconds=60)
        if rng.random() < 0.05:
            attempt += 1
            self.attempt(
                job_id,
                created[2],
                attempt,
                worker["address"],
                "expired",
                claim,
                claim + dt.timedelta(seconds=600),
                None,
            )
        else:
            render = rng.lognormvariate(3.5, 0.6)
            done = claim + dt.timedelta(seconds=render)
            device = DEVICES[int(worker["address"], 16) % len(DEVICES)]
            result = {
                "device": device,
                "render_time_s": round(render, 3),
                "width": 1920,
                "height": 1080,
            }
            attempt += 1
            self.attempt(
                job_id, created[2], attempt, worker["address"], "completed", claim, done, result
            )
            submitted = done + dt.timedelta(seconds=5)
            if submitted < self.end:
                self.event(
                    "ResultSubmitted",
                    submitted,
                    job_id,
                    worker["address"],
                    {"job_id": job_id, "worker": worker["address"]},
                )
                row.update(status="submitted", worker=worker["address"], submitted=submitted)
                finalized = max(deadline, submitted) + dt.timedelta(seconds=60)
                if finalized < self.end and rng.random() < 0.97:
                    self.event(
                        "JobFinalized",
                        finalized,
                        job_id,
                        worker["address"],
                        {"job_id": job_id, "worker": worker["address"], "reward_amount": reward},
                    )
                    worker["earnings"] += reward
                    row.update(status="finalized", finalized=finalized)
                    self.rate(worker, job_id, finalized, row)
        if row["status"] == "open" and deadline <= self.end:
            row["status"] = "expired"
        self.jobs.write(
            "\t".join(
                [
                    str(job_id),
                    address(job_id % 50, 0x0C),
                    "1",
                    "0",
                    NULL,
                    str(reward),
                    deadline.isoformat(),
                    "400",
                    row["status"],
                    row["worker"],
                    NULL,
                    NULL,
                    NULL,
                    str(row["score"]),
                    at.isoformat(),
                    row["submitted"].isoformat() if row["submitted"] else NULL,
                    row["finalized"].isoformat() if row["finalized"] else NULL,
                    str(created[0]),
                    tx_hash(created[2]),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    str(created[0]),
                    tx_hash(created[2]),
                ]
            )
            + "\n"
        )

    def rate(self, worker: dict, job_id: int, at: dt.datetime, row: dict) -> None:
        """The job's score now (its row is written now); the rating applied at `at`."""
        weights = {
            "good": [55, 30, 8, 5, 2],
            "fair": [25, 30, 20, 15, 10],
            "poor": [5, 10, 15, 25, 45],
        }
        low, high = self.rng.choices([b for _, b in SCORES], weights[worker["quality"]])[0]
        row["score"] = self.rng.randint(low, high)
        heapq.heappush(self.actions, (at, 3, job_id, (worker, row["score"])))

    def apply_rating(self, at: dt.datetime, job_id: int, worker: dict, score: int) -> None:
        outcome = rules.rating_outcome(worker["reputation"], score)
        if outcome is None:
            return
        new, counter = outcome
        where = self.event(
            "ReputationUpdated",
            at,
            job_id,
            worker["address"],
            {"job_id": job_id, "worker": worker["address"], "quality_score": score},
        )
        worker["completed" if counter == "jobs_completed" else "failed"] += 1
        self.change(worker, at, new, "rating", where, job_id, score)

    def attempt(
        self,
        job_id: int,
        created_tx: int,
        n: int,
        worker: str,
        state: str,
        claimed: dt.datetime,
        ended: dt.datetime,
        result: dict | None,
    ) -> None:
        lease = ended if state == "expired" else claimed + dt.timedelta(seconds=600)
        self.attempts.write(
            "\t".join(
                [
                    str(job_id),
                    tx_hash(created_tx),
                    str(n),
                    worker,
                    state,
                    claimed.isoformat(),
                    lease.isoformat(),
                    ended.isoformat(),
                    json.dumps(result) if result else NULL,
                    "1" if state == "completed" else "0",
                ]
            )
            + "\n"
        )

    def worker_rows(self) -> Iterable[str]:
        for w in self.workers.values():
            yield (
                "\t".join(
                    [
                        w["address"],
                        "t",
                        "1",
                        w["registered_at"].isoformat(),
                        "t" if w["verified"] else "f",
                        w["verified_at"].isoformat() if w.get("verified_at") else NULL,
                        OWNER if w["verified"] else NULL,
                        str(w["reputation"]),
                        str(w["completed"]),
                        str(w["failed"]),
                        str(w["earnings"]),
                    ]
                )
                + "\n"
            )


COLUMNS = {
    "contract_events": "contract_address, event_name, block_number, block_hash, block_timestamp, "
    "transaction_hash, transaction_index, event_index, job_id, worker_address, keys, data, "
    "decoded, "
    "context",
    "reputation_history": "block_hash, transaction_index, event_index, worker_address, job_id, "
    "old_reputation, new_reputation, change_amount, reason, quality_score, changed_by, "
    "block_number, transaction_hash, changed_at",
    "jobs": "job_id, creator_address, asset_cid_part1, asset_cid_part2, asset_cid, reward_amount, "
    "deadline, min_reputation, status, worker_address, result_cid_part1, result_cid_part2, "
    "result_cid, quality_score, created_at, submitted_at, finalized_at, created_block, created_tx, "
    "submitted_block, submitted_tx, finalized_block, finalized_tx, updated_block, updated_tx",
    "job_attempts": "job_id, created_tx, attempt, worker_address, state, claimed_at, "
    "lease_expires_at, ended_at, result, progress",
    "workers": "address, registered, info_cid, registered_at, verified, verified_at, verified_by, "
    "reputation, jobs_completed, jobs_failed, total_earnings",
}


VERDICTS = [
    """INSERT INTO verifications (job_id, attempt_id, attempt, worker_address, result_cid, source,
                                  state, windows, seeds, created_at, finished_at)
       SELECT job_id, id, attempt, worker_address, 'Qm', 'delivery',
              CASE WHEN id % 50 = 0 THEN 'rejected' ELSE 'verified' END, '[]', '[]',
              ended_at, ended_at + (5 + id % 20) * interval '1 second'
       FROM job_attempts WHERE state = 'completed'""",
    """UPDATE job_attempts a SET state = v.state FROM verifications v WHERE v.attempt_id = a.id""",
    """INSERT INTO sanctions (worker_address, verification_id, job_id, cause, action, outcome,
                              created_at)
       SELECT worker_address, id, job_id, 'rejected deliveries', 'verify_worker', 'sent',
              finished_at + interval '30 seconds'
       FROM verifications WHERE state = 'rejected'""",
]
"""Every delivery verified 5-24 s after it, one in 50 rejected and its worker sanctioned."""


def copy(engine: sa.Engine, table: str, text: str) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({COLUMNS[table]}) FROM STDIN", io.StringIO(text))
        raw.commit()
    finally:
        raw.close()


def load(engine: sa.Engine, w: Warehouse) -> dict[str, float]:
    seconds = {}
    for table, text in (
        ("contract_events", w.events.getvalue()),
        ("workers", "".join(w.worker_rows())),
        ("reputation_history", w.history.getvalue()),
        ("jobs", w.jobs.getvalue()),
        ("job_attempts", w.attempts.getvalue()),
    ):
        started = time.perf_counter()
        copy(engine, table, text)
        seconds[table] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in VERDICTS:
            conn.execute(sa.text(statement))
    seconds["verifications, sanctions"] = round(time.perf_counter() - started, 1)
    last_block = w.block(w.end)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO chain_blocks SELECT n, '0x' || lpad(to_hex(n), 64, '0'), "
                "'0x' || lpad(to_hex(n - 1), 64, '0'), "
                "CAST(:t0 AS timestamptz) + n * interval '6 seconds' "
                "FROM generate_series(CAST(:last AS bigint) - 500, :last) AS n"
            ),
            {"t0": w.t0, "last": last_block},
        )
        conn.execute(
            sa.text(
                "INSERT INTO chain_cursor (contract_address, block_number, block_hash) "
                "VALUES (:c, :n, :h)"
            ),
            {"c": REGISTRY, "n": last_block, "h": "0x" + format(last_block, "064x")},
        )
    # what autovacuum has done to a warehouse filled over 90 days: statistics, visibility map
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    seconds["vacuum"] = round(time.perf_counter() - started, 1)
    return seconds


FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def launch(defs, instance, keys, tags=None) -> tuple[dict[str, float], float, float, int]:
    """One run of `keys` with their checks, launched as the automation's runs are: created on
    the instance (Dagster's storage on Postgres, the repo's dagster.yaml) and handed to its run
    launcher (a fork of the warm forkserver loading the code location); the time from the
    launch to the run's end, as the run's own events have it. Returns (each asset's compute
    seconds, its checks' seconds, the run's wall seconds, failed checks)."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    origin = (
        ReconstructableRepository.for_module(
            "veriframe_dagster.definitions", "defs", working_directory=str(REPO)
        )
        .get_reconstructable_job(job.name)
        .get_python_origin()
    )
    subset = job.get_subset(asset_selection=set(keys))
    run = instance.create_run_for_job(
        subset, asset_selection=frozenset(keys), tags=tags or {}, job_code_origin=origin
    )
    started = time.perf_counter()
    instance.launch_run(run.run_id, workspace=None)
    while instance.get_run_by_id(run.run_id).status.value not in FINISHED:
        time.sleep(0.05)
    took = time.perf_counter() - started
    status = instance.get_run_by_id(run.run_id).status.value
    assert status == "SUCCESS", f"run {run.run_id} ended {status}"
    computed: dict[str, float] = {}
    checks_s = 0.0
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        name = materialization.asset_key.path[-1]
        computed[name] = max(computed.get(name, 0.0), materialization.metadata["seconds"].value)
        checks_s = max(checks_s, materialization.metadata["checks_seconds"].value)
    failed = sum(
        1
        for entry in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
        if not entry.dagster_event.event_specific_data.passed
    )
    return computed, checks_s, took, failed


REPO = Path(__file__).resolve().parent.parent


def dagster_database(server, url: str | None) -> str:
    """Dagster's storage: a database of the embedded server, unless given."""
    if url is not None:
        return url
    if server is None:
        raise SystemExit("with --database-url, give --dagster-database-url too")
    server.ensure_database("dagster")
    return server.url("dagster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url")
    parser.add_argument(
        "--dagster-database-url", help="Dagster's storage (default: the embedded server's)"
    )
    parser.add_argument(
        "--load-only", action="store_true", help="stop after loading (to inspect the database)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="--database-url already holds a load of these sizes made today: measure only",
    )
    parser.add_argument(
        "--figures", default="backfill,day,scorecard", help="the runs to measure, comma-separated"
    )
    args = parser.parse_args()
    if args.reuse and args.database_url is None:
        parser.error("--reuse needs --database-url (a database loaded with --load-only)")
    wanted = set(args.figures.split(","))
    if unknown := wanted - set(TARGETS_S):
        parser.error(f"--figures: unknown {sorted(unknown)}; choose from {sorted(TARGETS_S)}")
    warnings.simplefilter("ignore")
    scratch = Path(tempfile.mkdtemp(prefix="veriframe-bench-reputation-"))
    server = None
    try:
        url = args.database_url
        if url is None:
            server = EmbeddedPostgres(scratch / "postgres")
            server.start()
            server.ensure_database("warehouse")
            url = server.url("warehouse")
        upgrade_warehouse(url)
        engine = make_engine(url)
        started = time.perf_counter()
        w = Warehouse(args.workers, args.events, args.days)
        if not args.reuse:
            w.generate()
        generated = time.perf_counter() - started
        copied = {} if args.reuse else load(engine, w)
        with engine.connect() as conn:
            sizes = {
                t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in [*COLUMNS, "verifications", "sanctions"]
            }
        print(
            f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM; "
            f"Postgres {'embedded' if server else url}"
        )
        if not args.reuse:
            print(f"generated in {generated:.1f} s, COPY seconds {copied}")
        print(f"rows: {sizes}" + (f"; events by name: {dict(w.counts)}" if w.counts else ""))
        if args.load_only:
            return

        import dagster as dg

        from veriframe_core.settings import Settings
        from veriframe_dagster.dagster_home import dagster_environment, prepare_dagster_home
        from veriframe_dagster.definitions import build_definitions
        from veriframe_dagster.defs.reputation.assets import (
            NETWORK_DAYS_KEY,
            SCORECARD_KEY,
            WORKER_DAYS_KEY,
        )

        first = w.t0.date().isoformat()
        last = (w.t0.date() + dt.timedelta(days=args.days - 1)).isoformat()
        os.environ["VERIFRAME_DATABASE_URL"] = url
        os.environ["VERIFRAME_DATA_DIR"] = str(scratch / "data")
        os.environ["VERIFRAME_REPUTATION_FIRST_DAY"] = first
        settings = Settings()
        dagster_url = dagster_database(server, args.dagster_database_url)
        home = prepare_dagster_home(settings, dagster_url)
        os.environ.update(dagster_environment(home, dagster_url))
        defs = build_definitions(settings)
        daily = [WORKER_DAYS_KEY, NETWORK_DAYS_KEY]
        figures = {}
        with dg.DagsterInstance.get() as instance:
            if "backfill" in wanted:
                figures["backfill"] = launch(
                    defs,
                    instance,
                    daily,
                    tags={
                        "dagster/asset_partition_range_start": first,
                        "dagster/asset_partition_range_end": last,
                    },
                )
            for n in range(1, 6) if "day" in wanted else ():
                figures[f"day ({n})"] = launch(
                    defs, instance, daily, tags={"dagster/partition": last}
                )
            for n in (1, 2) if "scorecard" in wanted else ():
                figures[f"scorecard ({n})"] = launch(defs, instance, [SCORECARD_KEY])
        header = f"{'figure':<14} {'asset':<24} {'compute s':>9} {'checks s':>8} {'run s':>7}"
        print(f"\n{header} {'target s':>8} {'failed':>6}")
        for name, (computed, checks_s, run_s, failed) in figures.items():
            target = TARGETS_S[name.split(" ")[0]]
            for asset, seconds in computed.items():
                line = f"{name:<14} {asset:<24} {seconds:>9.2f} {checks_s:>8.2f} {run_s:>7.2f}"
                print(f"{line} {target:>8.0f} {failed:>6}")
        print(
            "\n(compute s: the table's statement, its `seconds` metadata; checks s: all the "
            "step's checks, on its connection after the writes; run s: the run launched on the "
            "Postgres instance through its run launcher, launch to end, as automation runs it; "
            "failed: failed checks)"
        )
        engine.dispose()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
